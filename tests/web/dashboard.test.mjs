// The dashboard in headless Debian Chromium (playwright-core, never a
// downloaded browser): a change made in SQL appears, the dashboard recovers
// after the daemon is killed and restarted, and a screenshot is kept.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const artifacts = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

test('dashboard shows SQL changes live and recovers from a daemon restart', async () => {
  const db = 'queuecast_web_dashboard';
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('default')");
  sql(db, "SELECT queuecast.create_workflow('default', 'release 1.0', ARRAY['build', 'test'])");
  const token = 'dashboard-test-token';  // auth on, as in production
  const daemon = new Daemon(db, await freePort(), { token });
  await daemon.start();
  let browser;
  try {
    browser = await chromium.launch(launchOptions);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    await page.waitForSelector('text=build', { timeout: 10000 });

    sql(db, "SELECT queuecast.enqueue('default', 'made in SQL')");
    await page.waitForSelector('text=made in SQL', { timeout: 5000 });
    sql(db, "SELECT queuecast.pause('default')");
    await page.waitForSelector('#paused:not([hidden])', { timeout: 5000 });

    daemon.kill();
    await page.waitForSelector('.connection[data-state=reconnecting], .connection[data-state=offline]', { timeout: 10000 });
    sql(db, "SELECT queuecast.resume('default')");
    sql(db, "SELECT queuecast.enqueue('default', 'while the daemon was down')");
    await daemon.start();
    await page.waitForSelector('.connection[data-state=live]', { timeout: 15000 });
    await page.waitForSelector('text=while the daemon was down', { timeout: 10000 });
    await page.waitForSelector('#paused[hidden]', { state: 'attached', timeout: 5000 });
    const seq = await page.textContent('#seq');
    assert.match(seq, /^seq \d+$/);
    await page.screenshot({ path: join(artifacts, 'dashboard.png') });
  } finally {
    await browser?.close();
    await daemon.stop();
  }
});
