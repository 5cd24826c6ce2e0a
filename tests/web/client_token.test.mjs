// The client's token handling against a scripted fake WebSocket: what goes on
// the wire (hello first, auth in-band, never a token in the URL or the
// subprotocols), when a token function is called, and what 1008 does.
import test from 'node:test';
import assert from 'node:assert/strict';
import { QueuecastClient } from '../../web/queuecast.js';
import { waitFor } from './daemon.mjs';

class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, readyState: 0, sent: [] });
    FakeSocket.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code = 1000, reason = '') { this.serverClose(code, reason); }
  // the daemon's side
  accept() {
    this.readyState = 1;
    this.onopen?.();
    this.deliver({ type: 'welcome', protocol: 1, server: 'fake', seq: 1 });
  }
  deliver(message) { this.onmessage?.({ data: JSON.stringify(message) }); }
  serverClose(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const fast = { WebSocket: FakeSocket, initialDelayMs: 1, maxDelayMs: 5, jitter: 0 };
const nextSocket = async (after) => waitFor(() => FakeSocket.all.length > after && FakeSocket.all.at(-1),
  { timeoutMs: 2000, what: `connection ${after + 1}` });

test('hello with the token is the first message; the URL and subprotocols never carry it', async () => {
  const before = FakeSocket.all.length;
  const client = new QueuecastClient('ws://daemon/ws', { ...fast, token: 's3cret' });
  client.subscribe('queue:jobs');
  const ws = await nextSocket(before);
  ws.accept();
  assert.deepEqual(ws.sent[0], { type: 'hello', token: 's3cret' });
  assert.equal(ws.sent[1].type, 'subscribe');
  assert.ok(!`${ws.url} ${ws.protocols}`.includes('s3cret'), `token leaked into ${ws.url} ${ws.protocols}`);
  client.close();
});

test('without a token no hello is sent', async () => {
  const before = FakeSocket.all.length;
  const client = new QueuecastClient('ws://daemon/ws', fast);
  client.subscribe('queue:jobs');
  const ws = await nextSocket(before);
  ws.accept();
  assert.deepEqual(ws.sent.map((m) => m.type), ['subscribe']);
  client.close();
});

test('a token function is called again on every reconnect', async () => {
  const before = FakeSocket.all.length;
  let calls = 0;
  const client = new QueuecastClient('ws://daemon/ws', { ...fast, token: async () => `t${++calls}` });
  const first = await nextSocket(before);
  first.accept();
  assert.deepEqual(first.sent[0], { type: 'hello', token: 't1' });
  first.serverClose(1001, 'going away');
  const second = await nextSocket(before + 1);
  second.accept();
  assert.deepEqual(second.sent[0], { type: 'hello', token: 't2' });
  assert.equal(calls, 2);
  client.close();
});

test('setToken sends {"type":"auth"} on the open connection without reconnecting', async () => {
  const before = FakeSocket.all.length;
  const client = new QueuecastClient('ws://daemon/ws', { ...fast, token: 'old' });
  const ws = await nextSocket(before);
  ws.accept();
  client.setToken('fresh');
  assert.deepEqual(ws.sent.at(-1), { type: 'auth', token: 'fresh' });
  assert.equal(FakeSocket.all.length, before + 1);
  assert.equal(client.state, 'live');
  client.close();
});

test('1008 stops retrying (state unauthorized) until setToken, which connects with the new token', async () => {
  const before = FakeSocket.all.length;
  const client = new QueuecastClient('ws://daemon/ws', { ...fast, token: 'wrong' });
  const events = [];
  client.addEventListener('unauthorized', (e) => events.push(e.detail));
  const ws = await nextSocket(before);
  ws.accept();
  ws.serverClose(1008, 'authentication failed');
  assert.equal(client.state, 'unauthorized');
  assert.deepEqual(events, [{ code: 1008, reason: 'authentication failed' }]);
  await new Promise((resolve) => setTimeout(resolve, 100)); // 20 backoff periods
  assert.equal(FakeSocket.all.length, before + 1, 'a refused token was retried');
  client.setToken('right');
  const again = await nextSocket(before + 1);
  again.accept();
  assert.deepEqual(again.sent[0], { type: 'hello', token: 'right' });
  assert.equal(client.state, 'live');
  client.close();
});

test('1008 after the daemon had accepted a token function reconnects with a fresh token', async () => {
  const before = FakeSocket.all.length;
  let calls = 0;
  const client = new QueuecastClient('ws://daemon/ws', { ...fast, token: () => `t${++calls}` });
  client.subscribe('queue:jobs');
  const ws = await nextSocket(before);
  ws.accept();
  ws.deliver({ type: 'subscribed', topic: 'queue:jobs', mode: 'snapshot', seq: 1, resumed: false });
  ws.serverClose(1008, 'token expired');
  assert.equal(client.state, 'reconnecting');
  const again = await nextSocket(before + 1);
  again.accept();
  assert.deepEqual(again.sent[0], { type: 'hello', token: 't2' });
  client.close();
});
