// Takes a screenshot of the dashboard with a fixed data set, for comparing
// the look before and after a change (docs/dashboard.png is the reference).
// Usage (inside tests/harness/with_cluster.sh): node screenshot.mjs OUT.png
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const out = process.argv[2] || new URL('./artifacts/screenshot.png', import.meta.url).pathname;
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
const daemon = new Daemon(db, await freePort());
await daemon.start();
const browser = await chromium.launch(launchOptions);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`http://127.0.0.1:${daemon.port}/`);
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('text=release 587');
  await page.waitForTimeout(300);
  await page.screenshot({ path: out, fullPage: true });
  console.log(out);
} finally {
  await browser.close();
  await daemon.stop();
}
