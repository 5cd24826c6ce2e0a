// Filtering a 500-phase queue in headless Debian Chromium: the status chips
// count what SQL counts, a status, a worker and a title text narrow the rows
// to what SQL finds, and a live update of one phase redraws that row only.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const db = 'queuecast_web_filter';

test('a filter narrows 500 phases to what SQL finds, and an update redraws one row', async () => {
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('big')");
  sql(db, `INSERT INTO queuecast.phases (queue, title, status, worker, attempts)
           SELECT 'big', CASE WHEN g % 7 = 0 THEN 'report ' ELSE 'invoice ' END || g,
                  (ARRAY['queued','running','failed','completed','cancelled'])[1 + g % 5],
                  CASE WHEN g % 5 IN (1, 2, 3) THEN 'worker-' || (g % 4) END, CASE WHEN g % 5 = 0 THEN 0 ELSE 1 END
             FROM generate_series(1, 500) g`);
  const token = 'filter-test-token';
  const daemon = new Daemon(db, await freePort(), { token });
  await daemon.start();
  const browser = await chromium.launch(launchOptions);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${daemon.port}/?queue=big#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    const rowCount = () => page.locator('#phases tr[data-id]').count();
    await waitFor(async () => (await rowCount()) === 500, { what: '500 rows' });

    const chips = Object.fromEntries(await page.$$eval('#status-counts button', (bs) => bs.map((b) => [b.dataset.status, Number(b.querySelector('b').textContent)])));
    for (const line of sql(db, "SELECT status || ' ' || count(*) FROM queuecast.phases WHERE queue = 'big' GROUP BY status").split('\n')) {
      const [status, n] = line.split(' ');
      assert.equal(chips[status], Number(n), `count of ${status}`);
    }

    await page.click('#status-counts button[data-status=failed]');
    assert.equal(await rowCount(), Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'big' AND status = 'failed'")));
    await page.fill('#filter-worker', 'WORKER-3');
    const failedOf3 = Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'big' AND status = 'failed' AND worker ILIKE '%worker-3%'"));
    await waitFor(async () => (await rowCount()) === failedOf3, { what: 'failed phases of worker-3' });
    await page.click('#status-counts button[data-status=failed]'); // off again
    await page.fill('#filter-worker', '');
    await page.fill('#filter-text', 'report');
    const reports = Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'big' AND title ILIKE '%report%'"));
    await waitFor(async () => (await rowCount()) === reports, { what: 'the report phases' });
    assert.match(await page.textContent('#shown'), new RegExp(`^${reports} of 500 shown$`));

    // One live update: the changed row is new, every other row is the same element.
    await page.evaluate(() => { for (const r of document.querySelectorAll('#phases tr[data-id]')) r.__kept = true; });
    const id = sql(db, "SELECT min(id) FROM queuecast.phases WHERE queue = 'big' AND title LIKE 'report%' AND status = 'queued'");
    sql(db, `UPDATE queuecast.phases SET title = 'report renamed' WHERE id = ${id}`);
    await page.waitForSelector('text=report renamed', { timeout: 5000 });
    const kept = await page.$$eval('#phases tr[data-id]', (rs) => rs.filter((r) => r.__kept).length);
    assert.equal(kept, reports - 1, 'only the changed row was redrawn');
  } finally {
    await browser.close();
    await daemon.stop();
  }
});
