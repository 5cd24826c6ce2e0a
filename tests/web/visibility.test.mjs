// pauseWhenHidden in Chromium: the dashboard (which sets it) closes its
// connection when its tab goes to the background, the daemon sees the client
// go, and when the tab is in front again the client resumes from its seq and
// shows what committed meanwhile, without a gap. The tab is really hidden:
// another tab of the same window is activated, and Chromium itself sets
// document.hidden and fires visibilitychange (driven over the DevTools
// protocol, raw_chromium.mjs: Playwright keeps every page it drives visible).
import test from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchRawChromium } from './raw_chromium.mjs';

const db = 'queuecast_web_visibility';

test('a dashboard in a background tab lets go of its connection and resumes without a gap in front', async () => {
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('default')");
  sql(db, "SELECT queuecast.enqueue('default', 'before hiding')");
  const token = 'visibility-test-token';
  const daemon = new Daemon(db, await freePort(), { token });
  await daemon.start();
  const openConnections = async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${daemon.port}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).text();
    return Number(/\nqueuecast_connections_open (\d+)/.exec(metrics)[1]);
  };
  const browser = await launchRawChromium();
  try {
    const page = await browser.newTab(`http://127.0.0.1:${daemon.port}/#token=${token}`);
    await page.activate();
    const connection = () => page.evaluate("document.querySelector('.connection')?.dataset.state ?? ''");
    const shows = (title) => page.evaluate(`[...document.querySelectorAll('#phases button.link')].some((b) => b.textContent === ${JSON.stringify(title)})`);
    await waitFor(async () => (await connection()) === 'live', { what: 'the dashboard goes live' });
    await waitFor(() => shows('before hiding'), { what: 'the first phase' });
    assert.equal(await page.evaluate('document.visibilityState'), 'visible');
    await page.evaluate(`(() => {
      window.__gaps = 0; window.__resumed = []; window.__visibility = [];
      document.addEventListener('visibilitychange', () => window.__visibility.push(document.visibilityState));
      window.queuecast.client.addEventListener('gap', () => { window.__gaps += 1; });
      window.queuecast.queue.addEventListener('subscribed', (e) => window.__resumed.push(e.detail.resumed));
    })()`);
    const connected = await openConnections();
    assert.ok(connected >= 1);

    const other = await browser.newTab('about:blank');
    await other.activate();
    await waitFor(async () => (await page.evaluate('document.visibilityState')) === 'hidden', { what: 'Chromium hides the background tab' });
    await waitFor(async () => (await connection()) === 'paused', { what: 'the client pauses' });
    await waitFor(async () => (await openConnections()) === connected - 1, { what: 'the daemon sees the hidden page go' });
    for (let i = 0; i < 3; i++) sql(db, `SELECT queuecast.enqueue('default', 'while hidden ${i}')`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await shows('while hidden 0'), false, 'nothing arrives while hidden');

    await page.activate();
    await waitFor(async () => (await connection()) === 'live', { what: 'live again in front' });
    await waitFor(() => shows('while hidden 2'), { what: 'what committed while hidden' });
    assert.deepEqual(await page.evaluate('window.__visibility'), ['hidden', 'visible'], 'the browser hid and showed the tab');
    assert.deepEqual(await page.evaluate('window.__resumed'), [true], 'resumed from its seq');
    assert.equal(await page.evaluate('window.__gaps'), 0);
    assert.equal(await page.evaluate('window.queuecast.queue.seq'), Number(sql(db, 'SELECT queuecast.current_seq()')));
  } finally {
    try {
      await browser.close();
    } finally {
      await daemon.stop();
    }
  }
});
