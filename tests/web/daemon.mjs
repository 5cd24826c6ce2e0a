// Test helpers: start the real queuecastd on a free port against the
// harness's PostgreSQL, run SQL with psql, wait for conditions.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const root = new URL('../../', import.meta.url).pathname;
export const binary = process.env.QUEUECASTD || `${root}build/queuecastd`;

export function sql(database, statement) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', statement],
    { encoding: 'utf8' }).trim();
}

export function createDatabase(name) {
  sql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  sql('postgres', `CREATE DATABASE ${name}`);
  sql(name, 'CREATE EXTENSION queuecast');
}

export async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(check, { timeoutMs = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// Every daemon a test file started, killed when the file's process ends,
// however it ends: an orphaned daemon would outlive the test run and keep
// the database busy.
const running = new Set();
function killRunning() {
  for (const child of running) child.kill('SIGKILL');
}
process.on('exit', killRunning);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killRunning();
    process.exit(130);
  });
}

export class Daemon {
  constructor(database, port, { token = null, args = [] } = {}) {
    this.database = database;
    this.port = port;
    this.token = token; // --token: the static token /ws then requires in its hello
    this.args = args; // more flags (--jwt-secret-file, --actions-database, ...)
  }
  async start() {
    this.process?.kill('SIGKILL');
    // stderr through this process, not inherited: node's test runner waits
    // for the end of every pipe its test file held, so a daemon left with
    // the runner's pipe would keep the whole run waiting.
    const child = spawn(binary, ['--database', `dbname=${this.database}`, '--listen', `127.0.0.1:${this.port}`,
      '--log-level', 'warn', ...(this.token ? ['--token', this.token] : []), ...this.args],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.pipe(process.stderr);
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.process = child;
    await waitFor(async () => {
      try {
        // With a token, /readyz is behind the gate like every data route.
        const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
        return (await fetch(`http://127.0.0.1:${this.port}/readyz`, { headers })).ok;
      } catch {
        return false;
      }
    }, { what: 'queuecastd ready' });
  }
  kill() {
    this.process?.kill('SIGKILL');
  }
  async stop() {
    if (!this.process || this.process.exitCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    await exited;
  }
}
