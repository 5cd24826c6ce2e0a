// Takes a screenshot of the dashboard with a fixed data set, for comparing
// the look before and after a change (docs/dashboard.png is the reference).
// With a second path, also the detail view of the failed phase, as an
// operator sees it (docs/detail.png).
// Usage (inside tests/harness/with_cluster.sh): node screenshot.mjs OUT.png [DETAIL.png]
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const out = process.argv[2] || new URL('./artifacts/screenshot.png', import.meta.url).pathname;
const detailOut = process.argv[3];
const db = 'queuecast_web_screenshot';
createDatabase(db);
sql(db, "SELECT queuecast.create_queue('default')");
for (const [title, phases] of [['release 437', ['index', 'index', 'notify']], ['release 858', ['lint', 'verify', 'index']],
  ['release 707', ['lint', 'verify']], ['release 587', ['deploy', 'deploy', 'verify']]]) {
  sql(db, `SELECT queuecast.create_workflow('default', '${title}', ARRAY['${phases.join("','")}'])`);
}
sql(db, "SELECT queuecast.enqueue('default', 'job migrate #26929', '{}', 1)");
sql(db, "SELECT queuecast.enqueue('default', 'job package #540')");
for (let i = 0; i < 6; i++) {
  const id = sql(db, `SELECT id FROM queuecast.claim('default', 'worker-${1 + (i % 3)}')`);
  if (i < 4) sql(db, `SELECT queuecast.complete(${id})`);
}
const failed = sql(db, "SELECT id FROM queuecast.claim('default', 'worker-4')");
sql(db, `SELECT queuecast.fail(${failed}, 'exit status 2: disk full')`);
// An operator's view: a token, and actions (run here as the harness's role).
const token = 'screenshot-token';
const daemon = new Daemon(db, await freePort(), { token, args: ['--actions-database', `dbname=${db}`] });
await daemon.start();
const browser = await chromium.launch(launchOptions);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('text=release 587');
  await page.waitForTimeout(300);
  await page.screenshot({ path: out, fullPage: true });
  console.log(out);
  if (detailOut) {
    await page.locator(`tr[data-id="${failed}"] button[data-action=detail]`).click();
    await page.waitForSelector('#detail[open]');
    await page.waitForTimeout(200);
    await page.screenshot({ path: detailOut });
    console.log(detailOut);
  }
} finally {
  await browser.close();
  await daemon.stop();
}
