// A WebSocket-shaped transport over Server-Sent Events, for networks where a
// WebSocket cannot open (a proxy that refuses upgrades, say): the client
// keeps speaking the protocol of docs/protocol.md and this turns it into one
// GET /sse stream per subscribed topic, read with fetch() so that the token
// goes in the Authorization header (EventSource cannot set headers, and a
// token never goes in a URL). Resumes send Last-Event-ID = the client's seq.
//
// What it answers itself: `welcome` when it opens, `pong` to pings while a
// stream has shown signs of life (the daemon sends a comment every 15 s),
// `unsubscribed`. Anything that ends a stream but an unsubscribe closes the
// whole socket, as a dropped WebSocket would, and the client reconnects and
// resumes every topic.

const ALIVE_MS = 40000; // three missed heartbeats of the daemon

export class SseSocket {
  constructor(url) {
    this.url = url; // http(s)://host/sse
    this.readyState = 0;
    this.token = null;
    this.streams = new Map(); // topic -> { controller, lastId }
    this.lastByteAt = Date.now();
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.();
      this.emit({ type: 'welcome', protocol: 1, transport: 'sse' });
    });
  }

  emit(message) {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(message) });
  }

  send(text) {
    if (this.readyState !== 1) return;
    const message = JSON.parse(text);
    switch (message.type) {
      case 'hello':
        this.token = message.token ?? null;
        break;
      case 'auth': // a new token: every stream starts again from where it is
        this.token = message.token ?? null;
        for (const [topic, entry] of this.streams) this.open(topic, entry.mode, entry.lastId);
        break;
      case 'subscribe':
        this.open(message.topic, message.mode ?? 'snapshot', message.since);
        break;
      case 'unsubscribe':
        this.stop(message.topic);
        this.emit({ type: 'unsubscribed', topic: message.topic });
        break;
      case 'ping':
        if (Date.now() - this.lastByteAt < ALIVE_MS) this.emit({ type: 'pong', id: message.id });
        break;
      default:
        break;
    }
  }

  close(code = 1000, reason = '') {
    this.end(code, reason);
  }

  stop(topic) {
    const entry = this.streams.get(topic);
    if (!entry) return;
    this.streams.delete(topic);
    entry.controller.abort();
  }

  end(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    for (const topic of [...this.streams.keys()]) this.stop(topic);
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  async open(topic, mode, since) {
    this.stop(topic);
    const controller = new AbortController();
    const entry = { controller, mode, lastId: since ?? null };
    this.streams.set(topic, entry);
    const headers = { Accept: 'text/event-stream' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (entry.lastId !== null) headers['Last-Event-ID'] = String(entry.lastId);
    const target = `${this.url}?topic=${encodeURIComponent(topic)}&mode=${mode === 'delta' ? 'delta' : 'snapshot'}`;
    let response;
    try {
      response = await fetch(target, { headers, signal: controller.signal, cache: 'no-store' });
    } catch {
      if (!controller.signal.aborted) this.end(1006, 'event stream could not open');
      return;
    }
    if (response.status === 401) return this.end(1008, 'authentication failed');
    if (response.status === 403) {
      this.streams.delete(topic);
      return this.emit({ type: 'error', code: 'forbidden', topic, message: `your token does not grant '${topic}'` });
    }
    if (!response.ok || !response.body) return this.end(1011, `event stream answered HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.lastByteAt = Date.now();
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (this.onEvent(entry, block) === false) return;
        }
      }
    } catch {
      // aborted, or the connection broke: decided below
    }
    if (!controller.signal.aborted) this.end(1006, 'event stream ended');
  }

  // One event; false when it ended the socket.
  onEvent(entry, block) {
    let data = '';
    let kind = 'message';
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data += data ? `\n${value}` : value;
      else if (field === 'id') entry.lastId = value;
      else if (field === 'event') kind = value;
    }
    if (!data) return true;
    if (kind === 'close') {
      let closed = {};
      try {
        closed = JSON.parse(data);
      } catch {
        // a close all the same
      }
      this.end(Number(closed.code) || 1006, String(closed.reason ?? 'event stream closed'));
      return false;
    }
    this.onmessage?.({ data });
    return true;
  }
}
