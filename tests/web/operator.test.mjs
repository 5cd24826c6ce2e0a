// The operator's dashboard in headless Debian Chromium against the real
// queuecastd, whose actions run as a real non-superuser role granted
// queuecast_operator: an operator retries a failed phase and every open
// dashboard shows it within a second; a viewer sees no controls, and neither
// its token nor a page of a foreign origin can make the daemon act; the
// detail view shows the timeline SQL shows.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const artifacts = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

const db = 'queuecast_web_operator';
const secret = 'operator-test-secret-of-at-least-32-bytes';
const actionsRole = 'qc_web_actions';

const b64url = (data) => Buffer.from(data).toString('base64url');
function jwt(claims) {
  const body = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }))}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const operatorToken = jwt({ sub: 'op-web', role: 'operator', topics: ['*'] });
const viewerToken = jwt({ sub: 'viewer-web', role: 'viewer', topics: ['*'] });

/** A failed phase of queue `ops`; its id. */
function failedPhase(title, maxAttempts = 3) {
  const id = sql(db, `SELECT queuecast.enqueue('ops', '${title}', p_max_attempts => ${maxAttempts})`);
  sql(db, `UPDATE queuecast.phases SET priority = (SELECT max(priority) + 1 FROM queuecast.phases) WHERE id = ${id}`);
  sql(db, "SELECT queuecast.claim('ops', 'web-worker')");
  sql(db, `SELECT queuecast.fail(${id}, 'it broke')`);
  return id;
}

let daemon;
let browser;

test.before(async () => {
  createDatabase(db);
  sql(db, `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${actionsRole}') THEN CREATE ROLE ${actionsRole} LOGIN; END IF; END $$`);
  sql(db, `GRANT queuecast_operator TO ${actionsRole}`);
  sql(db, "SELECT queuecast.create_queue('ops')");
  const secretFile = join(tmpdir(), `queuecast-web-secret-${process.pid}`);
  writeFileSync(secretFile, secret);
  // The static token is for the helper's readiness probe (behind the gate).
  daemon = new Daemon(db, await freePort(), {
    token: 'operator-test-static-token',
    args: ['--jwt-secret-file', secretFile, '--actions-database', `dbname=${db} user=${actionsRole}`],
  });
  await daemon.start();
  browser = await chromium.launch(launchOptions);
});

test.after(async () => {
  await browser?.close();
  await daemon?.stop();
});

async function dashboard(token) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`http://127.0.0.1:${daemon.port}/?queue=ops#token=${token}`);
  await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
  return page;
}

const rowStatus = (page, id) => page.locator(`tr[data-id="${id}"] .status`).first().textContent({ timeout: 5000 });

test('an operator retries a failed phase and every open dashboard shows it within a second', async () => {
  const id = failedPhase('retry me from the page');
  const operatorPage = await dashboard(operatorToken);
  const viewerPage = await dashboard(viewerToken);
  for (const page of [operatorPage, viewerPage]) {
    await waitFor(async () => (await rowStatus(page, id)) === 'failed', { what: 'the failed phase shown' });
  }
  const retry = operatorPage.locator(`tr[data-id="${id}"] button[data-action=retry]`);
  await retry.waitFor({ timeout: 5000 });
  const clicked = Date.now();
  await retry.click();
  // (waitForSelector, not waitForFunction: the page's CSP forbids eval)
  const shown = await Promise.all([operatorPage, viewerPage].map((page) =>
    page.waitForSelector(`tr[data-id="${id}"] .status.s-queued`, { timeout: 5000 }).then(() => Date.now() - clicked)));
  assert.ok(Math.max(...shown) < 1000, `dashboards showed the retry after ${shown.join(' and ')} ms`);
  assert.equal(sql(db, `SELECT status FROM queuecast.phases WHERE id = ${id}`), 'queued');
  assert.equal(sql(db, `SELECT application_name FROM queuecast.changes WHERE entity = 'phase' AND key = '${id}' ORDER BY seq DESC LIMIT 1`),
    'queuecastd operator op-web');
  await operatorPage.screenshot({ path: join(artifacts, 'operator.png') });
  await operatorPage.close();
  await viewerPage.close();
});

test('a viewer sees no controls, and neither its token nor a foreign page can make the daemon act', async () => {
  const id = failedPhase('not for viewers');
  const page = await dashboard(viewerToken);
  await waitFor(async () => (await rowStatus(page, id)) === 'failed', { what: 'the phase shown to the viewer' });
  assert.equal(await page.locator('#queue-toggle').isVisible(), false);
  assert.equal(await page.locator('#retry-failed').isVisible(), false);
  assert.equal(await page.locator('button.act').count(), 0, 'no action buttons for a viewer');
  // The viewer's own token, sent by hand from the dashboard's origin.
  const own = await page.evaluate(async ([port, token]) => (await fetch(`http://127.0.0.1:${port}/api/v1/queues/ops/pause`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}',
  })).status, [daemon.port, viewerToken]);
  assert.equal(own, 403);

  // A page of another origin (127.0.0.2) that holds a stolen operator token
  // and tries both ways a page can post: fetch (needs a CORS preflight the
  // daemon never grants) and a self-submitting form (no preflight).
  const evil = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><body><iframe name=sink></iframe><form id=f target=sink method=POST enctype=text/plain action="http://127.0.0.1:${daemon.port}/api/v1/queues/ops/pause"><input name='{"a":"' value='"}'></form>
<script>
fetch('http://127.0.0.1:${daemon.port}/api/v1/queues/ops/pause', { method: 'POST',
  headers: { Authorization: 'Bearer ${operatorToken}', 'Content-Type': 'application/json' }, body: '{}' })
  .then((r) => { document.title = 'fetch:' + r.status; }, () => { document.title = 'fetch:blocked'; })
  .finally(() => setTimeout(() => document.getElementById('f').submit(), 50));
</script></body>`);
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.2', resolve));
  const attacker = await browser.newPage();
  const formAnswers = [];
  attacker.on('response', (r) => { if (r.url().includes('/api/v1/')) formAnswers.push(r.status()); });
  try {
    await attacker.goto(`http://127.0.0.2:${evil.address().port}/`);
    await waitFor(async () => (await attacker.title()).startsWith('fetch:'), { what: "the foreign page's fetch" });
    assert.equal(await attacker.title(), 'fetch:blocked');
    await waitFor(() => formAnswers.length > 0, { what: 'the form post answered' });
    assert.ok(formAnswers.every((s) => s === 403 || s === 415), `form posts answered ${formAnswers}`);
  } finally {
    await attacker.close();
    evil.close();
  }
  assert.equal(sql(db, "SELECT paused FROM queuecast.queues WHERE name = 'ops'"), 'f', 'the queue was not paused');
  assert.equal(sql(db, `SELECT status FROM queuecast.phases WHERE id = ${id}`), 'failed');
  await page.close();
});

test('the detail view shows the timeline SQL shows, and the operator pauses the queue from the page', async () => {
  const id = failedPhase('look at me closely');
  sql(db, `SELECT queuecast.retry(${id})`);
  sql(db, `UPDATE queuecast.phases SET priority = (SELECT max(priority) + 1 FROM queuecast.phases) WHERE id = ${id}`);
  sql(db, "SELECT queuecast.claim('ops', 'second-worker')");
  sql(db, `SELECT queuecast.complete(${id})`);
  const page = await dashboard(operatorToken);
  await waitFor(async () => (await rowStatus(page, id)) === 'completed', { what: 'the completed phase shown' });
  await page.locator(`tr[data-id="${id}"] button[data-action=detail]`).click();
  await page.waitForSelector('#detail[open]', { timeout: 5000 });
  const shown = await page.$$eval('#detail-timeline tr[data-seq]', (rows) => rows.map((r) => `${r.dataset.seq} ${r.querySelector('.status').textContent}`));
  const expected = sql(db, `SELECT seq || ' ' || status FROM queuecast.phase_timeline(${id}) ORDER BY seq`).split('\n');
  assert.deepEqual(shown, expected);
  assert.match(await page.textContent('#detail-timeline tr[data-seq]:last-child'), /second-worker/);
  await page.screenshot({ path: join(artifacts, 'detail.png') });
  await page.keyboard.press('Escape');

  await page.locator('#queue-toggle').click();
  await page.waitForSelector('#paused:not([hidden])', { timeout: 2000 });
  assert.equal(sql(db, "SELECT paused FROM queuecast.queues WHERE name = 'ops'"), 't');
  await page.locator('#queue-toggle').click();
  await page.waitForSelector('#paused[hidden]', { state: 'attached', timeout: 2000 });
  await page.close();
});
