// web/queuecast.js against the real daemon (node --experimental-websocket).
import test from 'node:test';
import assert from 'node:assert/strict';
import { QueuecastClient, applyOps, comparePhases } from '../../web/queuecast.js';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';

const db = 'queuecast_web_client';
createDatabase(db);
sql(db, "SELECT queuecast.create_queue('jobs')");
const port = await freePort();
// Auth on, as in production: every client sends the token in its hello.
const TOKEN = 'client-test-token';
const daemon = new Daemon(db, port, { token: TOKEN });
await daemon.start();
process.on('exit', () => daemon.kill()); // never leave a daemon behind
const url = `ws://127.0.0.1:${port}/ws`;
const snapshot = () => { const s = JSON.parse(sql(db, "SELECT queuecast.snapshot('jobs')")); delete s.seq; return s; };

test.after(async () => { await daemon.stop(); });

test('snapshot mode keeps the state SQL has', async () => {
  const client = new QueuecastClient(url, { token: TOKEN });
  const queue = client.subscribe('queue:jobs');
  sql(db, "SELECT queuecast.enqueue('jobs', 'one')");
  await waitFor(() => queue.state?.total === 1, { what: 'one phase' });
  assert.deepEqual(queue.state, snapshot());
  client.close();
  assert.equal(client.state, 'closed');
});

test('delta mode applies ops, keeps the order and detects nothing missing', async () => {
  const client = new QueuecastClient(url, { token: TOKEN });
  const queue = client.subscribe('queue:jobs', { mode: 'delta' });
  let gaps = 0;
  client.addEventListener('gap', () => gaps++);
  await waitFor(() => queue.state, { what: 'first snapshot' });
  sql(db, "SELECT queuecast.enqueue('jobs', 'urgent', '{}', 9)");
  sql(db, "SELECT queuecast.claim('jobs', 'w')");
  sql(db, "SELECT queuecast.pause('jobs')");
  await waitFor(() => queue.state.paused, { what: 'paused' });
  assert.deepEqual(queue.state, snapshot());
  assert.equal(gaps, 0);
  sql(db, "SELECT queuecast.resume('jobs')");
  client.close();
});

test('reconnects with resume after the daemon restarts', async () => {
  const client = new QueuecastClient(url, { token: TOKEN, initialDelayMs: 100, maxDelayMs: 400, connectTimeoutMs: 1000 });
  const queue = client.subscribe('queue:jobs', { mode: 'delta' });
  const states = [];
  client.addEventListener('status', (e) => states.push(e.detail.state));
  await waitFor(() => client.state === 'live' && queue.state, { what: 'live' });
  daemon.kill();
  await waitFor(() => client.state === 'reconnecting', { what: 'reconnecting' });
  sql(db, "SELECT queuecast.enqueue('jobs', 'while away')");
  await daemon.start();
  await waitFor(() => queue.state.phases.some((p) => p.title === 'while away'), { what: 'change made while away' });
  assert.deepEqual(queue.state, snapshot());
  assert.ok(states.includes('reconnecting') && states.at(-1) === 'live', states.join(','));
  client.close();
});

test('applyOps and comparePhases follow the documented order', () => {
  const state = { phases: [], total: 0, paused: false };
  const next = applyOps('queue:x', state, [
    { op: 'upsert', phase: { id: 2, status: 'queued', priority: 0, position: 2 } },
    { op: 'upsert', phase: { id: 1, status: 'running', priority: 0, position: 1 } },
    { op: 'upsert', phase: { id: 3, status: 'queued', priority: 5, position: 3 } },
    { op: 'paused', value: true },
  ]);
  assert.deepEqual(next.phases.map((p) => p.id), [1, 3, 2]);
  assert.equal(next.total, 3);
  assert.equal(next.paused, true);
  assert.deepEqual(applyOps('queue:x', next, [{ op: 'remove', id: 3 }]).phases.map((p) => p.id), [1, 2]);
  assert.ok(comparePhases({ status: 'failed' }, { status: 'completed' }) < 0);
});

test('with --token: the token in hello is accepted, a wrong one ends in unauthorized until setToken', async () => {
  const guarded = new Daemon(db, await freePort(), { token: 'SECRET' });
  await guarded.start();
  try {
    const guardedUrl = `ws://127.0.0.1:${guarded.port}/ws`;
    const good = new QueuecastClient(guardedUrl, { token: 'SECRET' });
    const queue = good.subscribe('queue:jobs');
    await waitFor(() => queue.state, { what: 'a snapshot with the right token' });
    assert.deepEqual(queue.state, snapshot());
    good.close();

    const bad = new QueuecastClient(guardedUrl, { token: 'WRONG', initialDelayMs: 50 });
    const refused = bad.subscribe('queue:jobs');
    const reasons = [];
    bad.addEventListener('unauthorized', (e) => reasons.push(e.detail));
    await waitFor(() => bad.state === 'unauthorized', { what: 'unauthorized' });
    assert.equal(reasons[0].code, 1008);
    assert.equal(refused.state, null);
    bad.setToken('SECRET');
    await waitFor(() => refused.state, { what: 'a snapshot after setToken' });
    assert.equal(bad.state, 'live');
    bad.close();
  } finally {
    await guarded.stop();
  }
});
