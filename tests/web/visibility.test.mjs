// pauseWhenHidden in Chromium: the dashboard (which sets it) closes its
// connection when the page is hidden, the daemon sees the client go, and
// when the page is visible again the client resumes from its seq and shows
// what committed meanwhile, without a gap. Headless Chromium keeps every page
// visible, so the page's visibility is what this test sets (document.hidden
// and the visibilitychange event, as a browser does when a tab goes to the
// background); the connection, the daemon and the resume are real.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const db = 'queuecast_web_visibility';

test('a hidden dashboard lets go of its connection and resumes without a gap when shown', async () => {
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
  const browser = await chromium.launch(launchOptions);
  try {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      window.__hidden = false;
      Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__hidden, configurable: true });
      Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible'), configurable: true });
    });
    const setHidden = (hidden) => page.evaluate((h) => { window.__hidden = h; document.dispatchEvent(new Event('visibilitychange')); }, hidden);
    await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    await page.waitForSelector('text=before hiding');
    await page.evaluate(() => {
      window.__gaps = 0;
      window.__resumed = [];
      window.queuecast.client.addEventListener('gap', () => { window.__gaps += 1; });
      window.queuecast.queue.addEventListener('subscribed', (e) => window.__resumed.push(e.detail.resumed));
    });
    const connected = await openConnections();
    assert.ok(connected >= 1);

    await setHidden(true);
    await page.waitForSelector('.connection[data-state=paused]', { timeout: 5000 });
    await waitFor(async () => (await openConnections()) === connected - 1, { what: 'the daemon sees the hidden page go' });
    for (let i = 0; i < 3; i++) sql(db, `SELECT queuecast.enqueue('default', 'while hidden ${i}')`);
    await page.waitForTimeout(500);
    assert.equal(await page.locator('text=while hidden 0').count(), 0, 'nothing arrives while hidden');

    await setHidden(false);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    await page.waitForSelector('text=while hidden 2', { timeout: 5000 });
    assert.deepEqual(await page.evaluate(() => window.__resumed), [true], 'resumed from its seq');
    assert.equal(await page.evaluate(() => window.__gaps), 0);
    assert.equal(await page.evaluate(() => window.queuecast.queue.seq), Number(sql(db, 'SELECT queuecast.current_seq()')));
  } finally {
    await browser.close();
    await daemon.stop();
  }
});
