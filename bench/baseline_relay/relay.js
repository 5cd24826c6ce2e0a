// The hand-written relay queuecastd is compared with (issue 11): what a team
// writes today with `pg` and `ws`. A PL/pgSQL trigger (trigger.sql) NOTIFYs
// channel queue_changed with the queue's name; on each notification the relay
// re-reads that queue's snapshot (SELECT queuecast.snapshot(q)), keeps it in
// memory and sends it to every client of the queue. A client picks its queue
// with ?queue=NAME and gets the current snapshot on connect.
//
// Deliberately naive, like the relays it stands for: no conflation, no
// back-pressure (ws buffers in user space whatever the socket does not take).
//
// Usage: node relay.js PORT MAX_SECONDS   (database from PGHOST, PGPORT,
// PGUSER, PGDATABASE). Prints "ready" when listening; exits on SIGTERM or
// after MAX_SECONDS.
'use strict';
const { Client } = require('pg');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const maxSeconds = Number(process.argv[3] || 600);

async function main() {
  const db = new Client();
  await db.connect();
  const snapshots = new Map(); // queue -> JSON text
  const clients = new Map();   // queue -> Set of sockets

  async function load(queue) {
    const r = await db.query('SELECT queuecast.snapshot($1)::text AS s', [queue]);
    snapshots.set(queue, r.rows[0].s);
    return r.rows[0].s;
  }

  db.on('notification', async (n) => {
    const queue = n.payload;
    const set = clients.get(queue);
    if (!set || set.size === 0) return;
    const text = await load(queue);
    for (const ws of set) ws.send(text);
  });
  await db.query('LISTEN queue_changed');

  const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096, perMessageDeflate: false });
  wss.on('connection', async (ws, req) => {
    const queue = new URL(req.url, 'http://localhost').searchParams.get('queue') || 'default';
    if (!clients.has(queue)) clients.set(queue, new Set());
    clients.get(queue).add(ws);
    ws.on('close', () => clients.get(queue).delete(ws));
    ws.on('error', () => {});
    ws.send(snapshots.get(queue) ?? (await load(queue)));
  });
  wss.on('listening', () => console.log('ready'));

  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setTimeout(stop, maxSeconds * 1000).unref();
}

main().catch((e) => {
  console.error('relay:', e.message);
  process.exit(1);
});
