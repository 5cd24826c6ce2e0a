// Debian's Chromium driven over the DevTools protocol directly, without
// playwright-core, for what Playwright hides: it keeps every page it drives
// visible and focused (focus emulation), so a tab put in the background
// never becomes document.hidden there. Launched this way, Chromium (headless
// or not) hides a tab when another tab of its window is activated, as for a
// user switching tabs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchOptions } from './browser.mjs';

export async function launchRawChromium() {
  const profile = mkdtempSync(join(tmpdir(), 'queuecast-chromium-'));
  const proc = spawn(launchOptions.executablePath,
    [...launchOptions.args, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'],
    // Its own process group, so that close() ends its helper processes too.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const killGroup = () => {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.on('exit', killGroup);
  const endpoint = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start: ${seen.slice(-400)}`)), 30000);
    proc.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = /DevTools listening on (ws:\S+)/.exec(seen);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => reject(new Error(`Chromium exited (${code}): ${seen.slice(-400)}`)));
  });
  const ws = new WebSocket(endpoint);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('DevTools socket failed')); });
  let lastId = 0;
  const pending = new Map();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (!m.id || !pending.has(m.id)) return;
    const { resolve, reject } = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) reject(new Error(`${m.error.message} (${m.error.code})`)); else resolve(m.result);
  };
  const send = (method, params = {}, sessionId = undefined) => new Promise((resolve, reject) => {
    const id = ++lastId;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, sessionId }));
  });

  /** A new tab of the same window, at url. */
  async function newTab(url) {
    const { targetId } = await send('Target.createTarget', { url, newWindow: false });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    return {
      targetId,
      activate: () => send('Target.activateTarget', { targetId }),
      /** The value of a JavaScript expression in the page (awaited). */
      async evaluate(expression) {
        const { result, exceptionDetails } = await send('Runtime.evaluate',
          { expression, awaitPromise: true, returnByValue: true }, sessionId);
        if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
        return result.value;
      },
    };
  }

  /** Ends Chromium and its helpers, and removes the profile. Never throws:
   * it runs in a test's finally, before the daemon is stopped. */
  async function close() {
    ws.close();
    const exited = new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', resolve)));
    killGroup();
    await exited;
    process.off('exit', killGroup);
    // A helper of the group may still be writing to the profile while
    // the kernel reaps it (seen in CI: ENOTEMPTY): retry, then leave it.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      console.error(`raw_chromium: left the profile ${profile}: ${e.message}`);
    }
  }
  return { newTab, close };
}
