// The charts in headless Debian Chromium against SQL: completed and failed
// per minute add up to what the phases table says finished in the last hour,
// the depth line ends at the current depth, and a new completion shows up.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const artifacts = new URL('./artifacts/', import.meta.url).pathname;
const db = 'queuecast_web_charts';

test('the charts match SQL aggregates and follow new commits', async () => {
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('work')");
  sql(db, "SELECT queuecast.enqueue('work', 'job ' || g) FROM generate_series(1, 40) g");
  // 18 finish: every third fails.
  for (let i = 0; i < 18; i++) {
    sql(db, `SELECT CASE WHEN id % 3 = 0 THEN queuecast.fail(id, 'no')::text ELSE queuecast.complete(id)::text END
               FROM queuecast.claim('work', 'w${i % 2}')`);
  }
  sql(db, "SELECT queuecast.claim('work', 'busy')"); // one stays running
  const token = 'charts-test-token';
  const daemon = new Daemon(db, await freePort(), { token });
  await daemon.start();
  const browser = await chromium.launch(launchOptions);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${daemon.port}/?queue=work#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    const sums = () => page.evaluate(() => ({
      completed: [...document.querySelectorAll('#chart-throughput rect[data-completed]')].reduce((n, r) => n + Number(r.dataset.completed), 0),
      failed: [...document.querySelectorAll('#chart-throughput rect[data-failed]')].reduce((n, r) => n + Number(r.dataset.failed), 0),
      depths: document.querySelector('#chart-depth polyline')?.dataset.depths ?? '',
      shownDepth: document.getElementById('stat-depth').textContent,
    }));
    const expected = () => ({
      completed: Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'work' AND status = 'completed' AND finished_at > now() - interval '1 hour'")),
      failed: Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'work' AND status = 'failed' AND finished_at > now() - interval '1 hour'")),
      depth: Number(sql(db, "SELECT count(*) FROM queuecast.phases WHERE queue = 'work' AND status IN ('queued', 'ready')")),
    });
    await waitFor(async () => (await sums()).depths !== '', { what: 'the charts drawn' });
    let want = expected();
    let got = await sums();
    assert.equal(got.completed, want.completed);
    assert.equal(got.failed, want.failed);
    assert.equal(Number(got.depths.split(',').at(-1)), want.depth);
    assert.equal(Number(got.shownDepth), want.depth);
    await page.screenshot({ path: join(artifacts, 'charts.png') });

    // Live: two more complete; the charts follow within their refresh interval.
    for (let i = 0; i < 2; i++) sql(db, "SELECT queuecast.complete(id) FROM queuecast.claim('work', 'late')");
    want = expected();
    await waitFor(async () => (await sums()).completed === want.completed, { timeoutMs: 15000, what: 'the charts updated' });
    got = await sums();
    assert.equal(Number(got.depths.split(',').at(-1)), want.depth);
  } finally {
    await browser.close();
    await daemon.stop();
  }
});
