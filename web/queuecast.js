// queuecast.js: the browser/Node client of queuecastd (protocol: docs/protocol.md).
// No dependencies. Keeps each subscribed topic's state, resumes after
// reconnects from the last seq, detects gaps and resubscribes.
//
//   import { QueuecastClient } from '/queuecast.js';
//   const client = new QueuecastClient('ws://localhost:8080/ws');
//   const queue = client.subscribe('queue:default', { mode: 'delta' });
//   queue.addEventListener('update', () => render(queue.state));
//   client.addEventListener('status', (e) => showConnection(e.detail.state));
//
// `token` (a string, or a function called on every connect) goes in the first
// message, {"type":"hello"}, never in the URL.
//
// `transport`: 'auto' (the default) uses the WebSocket and, once one could
// not open at all, Server-Sent Events (sse_socket.js: same messages, same
// resume, through any proxy that passes plain HTTP); 'websocket' or 'sse'
// to insist on one.

import { SseSocket } from './sse_socket.js';

const PHASE_ORDER = ['running', 'ready', 'queued', 'blocked', 'failed', 'completed', 'cancelled'];
const WORKFLOW_ORDER = ['failed', 'running', 'paused', 'pending', 'completed', 'cancelled'];

const rank = (order, status) => {
  const i = order.indexOf(status);
  return i < 0 ? order.length : i;
};

/** The order dashboards show phases in (same as queuecast.snapshot()). */
export function comparePhases(a, b) {
  return rank(PHASE_ORDER, a.status) - rank(PHASE_ORDER, b.status) ||
    b.priority - a.priority || a.position - b.position || a.id - b.id;
}

/** Failed first, then running, paused, pending, completed, cancelled; newest first. */
export function compareWorkflows(a, b) {
  return rank(WORKFLOW_ORDER, a.status) - rank(WORKFLOW_ORDER, b.status) ||
    (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0) || b.id - a.id;
}

/** Applies delta ops to a topic's state document; returns the new document. */
export function applyOps(topic, state, ops) {
  const isWorkflows = topic === 'workflows';
  const listKey = isWorkflows ? 'workflows' : 'phases';
  const items = new Map((state[listKey] || []).map((item) => [item.id, item]));
  const next = { ...state };
  for (const op of ops) {
    if (op.op === 'upsert') {
      const item = op.phase || op.workflow;
      items.set(item.id, item);
    } else if (op.op === 'remove') {
      items.delete(op.id);
    } else if (op.op === 'paused') {
      next.paused = op.value;
    } else if (op.op === 'workflow') {
      next.workflow = op.workflow;
    }
  }
  next[listKey] = [...items.values()].sort(isWorkflows ? compareWorkflows : comparePhases);
  if (!topic.startsWith('workflow:')) next.total = next[listKey].length;
  return next;
}

/** One topic's subscription: `state` is its document, `seq` its position. */
export class Subscription extends EventTarget {
  constructor(client, topic, mode) {
    super();
    this.client = client;
    this.topic = topic;
    this.mode = mode;
    this.state = null;
    this.seq = null;
  }
  unsubscribe() {
    this.client.unsubscribe(this.topic);
  }
}

/**
 * States: 'connecting' (first connection), 'live', 'reconnecting' (lost, will
 * retry), 'paused' (pauseWhenHidden, while the page is hidden), 'stale'
 * (connected, but the daemon lost its database),
 * 'unauthorized' (closed with 1008; waits for setToken()), 'closed'.
 */
export class QueuecastClient extends EventTarget {
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = {
      initialDelayMs: 1000,
      maxDelayMs: 30000,
      jitter: 0.1,
      heartbeatMs: 30000,
      connectTimeoutMs: 10000,
      pauseWhenHidden: false,
      token: null,
      WebSocket: globalThis.WebSocket,
      transport: 'auto',
      sseUrl: null, // default: the WebSocket URL's origin with /sse
      ...options,
    };
    this.transport = this.options.transport === 'sse' ? 'sse' : 'websocket';
    this.failedWebSockets = 0; // WebSockets that closed without ever opening
    this.token = typeof this.options.token === 'function' ? null : this.options.token;
    this.tokenGiven = false; // from setToken(): the next connect uses it without calling the function
    this.authenticated = false; // this connection got past the token check
    this.connecting = false;
    this.subscriptions = new Map();
    this.state = 'connecting';
    this.attempt = 0;
    this.ws = null;
    this.timers = { reconnect: null, heartbeat: null, connect: null };
    this.lastMessageAt = 0;
    this.pingSentAt = 0;
    this.latencyMs = null;
    this.closedByUser = false;
    this.hidden = false;
    if (this.options.pauseWhenHidden && typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', () => this.onVisibility(document.hidden));
    }
    this.connect();
  }

  /** Subscribes to a topic ('queue:<name>', 'workflows', 'workflow:<id>'). */
  subscribe(topic, { mode = 'snapshot' } = {}) {
    let sub = this.subscriptions.get(topic);
    if (!sub) {
      sub = new Subscription(this, topic, mode);
      this.subscriptions.set(topic, sub);
    }
    this.sendSubscribe(sub);
    return sub;
  }

  unsubscribe(topic) {
    if (this.subscriptions.delete(topic)) this.send({ type: 'unsubscribe', topic });
  }

  /** Sent in-band on an open connection (refresh), else used by the next one; reconnects after 1008. */
  setToken(token) {
    this.token = token;
    if (this.ws && this.ws.readyState === 1) return this.send({ type: 'auth', token });
    this.tokenGiven = true;
    if (this.state === 'unauthorized') {
      this.attempt = 0;
      this.connect();
    }
  }

  close() {
    this.closedByUser = true;
    this.clearTimers();
    if (this.ws) this.ws.close(1000, 'client closed');
    this.setState('closed');
  }

  // --- connection -----------------------------------------------------------

  async connect() {
    if (this.closedByUser || this.hidden || this.ws || this.connecting) return;
    this.connecting = true;
    try {
      const source = this.options.token;
      if (typeof source === 'function' && !this.tokenGiven) this.token = (await source()) || null;
    } catch (error) {
      this.dispatchEvent(new CustomEvent('error', { detail: { code: 'token', message: String(error) } }));
      this.connecting = false;
      return this.onClose({ code: 4003, reason: 'no token' });
    }
    this.connecting = false;
    this.tokenGiven = false;
    if (this.closedByUser || this.hidden) return;
    if (this.options.transport === 'auto' && this.failedWebSockets > 0) this.transport = 'sse';
    const ws = this.transport === 'sse' ? new SseSocket(this.sseUrl())
      : new this.options.WebSocket(this.url, ['queuecast.v1']);
    this.ws = ws;
    let opened = false;
    this.authenticated = false;
    // A handshake that neither opens nor fails (a half-dead network or peer)
    // must not leave us waiting forever: give up on it and retry.
    this.timers.connect = setTimeout(() => {
      if (ws.readyState !== 0) return;
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close();
      if (this.transport === 'websocket') this.failedWebSockets += 1;
      this.onClose({ code: 4008, reason: 'connect timeout' });
    }, this.options.connectTimeoutMs);
    ws.onopen = () => {
      opened = true;
      clearTimeout(this.timers.connect);
      this.lastMessageAt = Date.now();
      this.startHeartbeat();
      // First: with --token the daemon closes a connection that sends anything else.
      if (this.token) this.send({ type: 'hello', token: this.token });
      for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    };
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onclose = (event) => {
      if (!opened && this.transport === 'websocket') this.failedWebSockets += 1;
      this.onClose(event);
    };
    ws.onerror = () => {}; // onclose follows and decides
  }

  sseUrl() {
    if (this.options.sseUrl) return this.options.sseUrl;
    const url = new URL(this.url);
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    url.pathname = '/sse';
    url.search = '';
    return url.toString();
  }

  onClose(event) {
    this.clearTimers();
    this.ws = null;
    if (this.closedByUser) return;
    const detail = { code: event.code, reason: event.reason };
    this.dispatchEvent(new CustomEvent('disconnect', { detail }));
    // 1008: token refused; retry only if a function may give a fresh one (expired mid-session).
    if (event.code === 1008 && !(this.authenticated && typeof this.options.token === 'function')) {
      this.setState('unauthorized');
      this.dispatchEvent(new CustomEvent('unauthorized', { detail }));
      return;
    }
    if (this.hidden) {
      this.setState('paused'); // pauseWhenHidden: resumes from its seq when visible again
      return;
    }
    this.setState('reconnecting');
    // 1 s doubling to 30 s, with +-10 % jitter so clients do not retry in step.
    const base = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** this.attempt);
    const delay = base * (1 + this.options.jitter * (2 * Math.random() - 1));
    this.attempt += 1;
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  onVisibility(hidden) {
    this.hidden = hidden;
    if (hidden && this.ws) {
      this.ws.close(1000, 'page hidden');
    } else if (!hidden && !this.ws && !this.closedByUser) {
      clearTimeout(this.timers.reconnect);
      this.connect();
    }
  }

  startHeartbeat() {
    const every = this.options.heartbeatMs;
    this.timers.heartbeat = setInterval(() => {
      if (Date.now() - this.lastMessageAt > 2 * every && this.ws) {
        this.ws.close(4000, 'heartbeat lost'); // reconnects
        return;
      }
      this.pingSentAt = Date.now();
      this.send({ type: 'ping', id: this.pingSentAt });
    }, every);
  }

  clearTimers() {
    clearTimeout(this.timers.connect);
    clearTimeout(this.timers.reconnect);
    clearInterval(this.timers.heartbeat);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: { state } }));
  }

  send(message) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(message));
  }

  sendSubscribe(sub, { fresh = false } = {}) {
    const message = { type: 'subscribe', topic: sub.topic, mode: sub.mode };
    if (!fresh && sub.seq !== null) message.since = sub.seq;
    this.send(message);
  }

  // --- messages -------------------------------------------------------------

  onMessage(text) {
    this.lastMessageAt = Date.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const sub = message.topic ? this.subscriptions.get(message.topic) : null;
    if (['subscribed', 'snapshot', 'delta', 'pong'].includes(message.type)) this.authenticated = true;
    switch (message.type) {
      case 'welcome':
        this.attempt = 0;
        this.setState('live');
        break;
      case 'status':
        this.setState(message.state === 'stale' ? 'stale' : 'live');
        break;
      case 'subscribed':
        if (sub && message.resumed) sub.seq = message.seq;
        if (sub) sub.dispatchEvent(new CustomEvent('subscribed', { detail: message }));
        break;
      case 'snapshot':
        if (sub) this.onSnapshot(sub, message);
        break;
      case 'delta':
        if (sub) this.onDelta(sub, message);
        break;
      case 'pong':
        this.latencyMs = Date.now() - this.pingSentAt;
        break;
      case 'error':
        this.dispatchEvent(new CustomEvent('error', { detail: message }));
        break;
      default:
        break;
    }
  }

  onSnapshot(sub, message) {
    const fresh = message.prev_seq === undefined;
    if (!fresh && sub.mode === 'delta' && message.prev_seq !== sub.seq) return this.resync(sub);
    if (!fresh && sub.seq !== null && message.seq <= sub.seq) return; // old news
    sub.state = message.data;
    sub.seq = message.seq;
    sub.dispatchEvent(new CustomEvent('update', { detail: { seq: sub.seq, snapshot: true } }));
  }

  onDelta(sub, message) {
    if (sub.state === null || message.prev_seq !== sub.seq) return this.resync(sub); // a gap
    sub.state = applyOps(sub.topic, sub.state, message.ops);
    sub.seq = message.seq;
    sub.dispatchEvent(new CustomEvent('update', { detail: { seq: sub.seq, ops: message.ops } }));
  }

  // A gap: ask again from our last seq; the daemon resumes or starts us over.
  resync(sub) {
    this.dispatchEvent(new CustomEvent('gap', { detail: { topic: sub.topic, seq: sub.seq } }));
    this.sendSubscribe(sub, { fresh: sub.state === null });
  }
}
