// The dashboard against hostile queue data, with a token, under a strict
// Content-Security-Policy; headless Debian Chromium against the real
// queuecastd started with --token.
//
// Any role that can write to the queue chooses titles, workers and errors;
// the dashboard must show them as text and never turn them into elements.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const artifacts = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

const TOKEN = 'SECRET-t0ken';
// The policy queuecastd is to send with the dashboard.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " +
  "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const HOSTILE = {
  workflow: '<img src=x onerror="window.__xss=1">',
  title: '"><script>window.__xss=2</script>',
  worker: '<img src=x onerror=window.__xss=3>',
  error: '</td></tr><svg onload="window.__xss=4"></svg>',
  job: "<iframe src=\"javascript:top.__xss=5\"></iframe>'",
  live: '<img src=x onerror="window.__xss=6">changed live',
};
const literal = (text) => `$lit$${text}$lit$`; // dollar quoting: the payloads hold both quote kinds

const db = 'queuecast_web_safety';
createDatabase(db);
sql(db, "SELECT queuecast.create_queue('default')");
sql(db, `SELECT queuecast.create_workflow('default', ${literal(HOSTILE.workflow)}, ARRAY[${literal(HOSTILE.title)}, 'second'])`);
const jobId = sql(db, `SELECT queuecast.enqueue('default', ${literal(HOSTILE.job)})`);
const claimed = sql(db, `SELECT id FROM queuecast.claim('default', ${literal(HOSTILE.worker)})`);
sql(db, `SELECT queuecast.fail(${claimed}, ${literal(HOSTILE.error)})`);

const daemon = new Daemon(db, await freePort(), { token: TOKEN });
await daemon.start();
process.on('exit', () => daemon.kill());
// A page fulfilled by page.route() counts as 'public' to Chromium's Local
// Network Access checks, which then block its WebSocket to 127.0.0.1: an
// artefact of the interception, unrelated to the policy under test.
const browser = await chromium.launch({ ...launchOptions,
  args: [...launchOptions.args, '--disable-features=LocalNetworkAccessChecks'] });
test.after(async () => {
  await browser.close();
  await daemon.stop();
});

// Before any page script: record every element of a kind data must never
// become (the page's own dashboard.js aside), and every CSP violation.
function watchPage() {
  window.__created = [];
  window.__violations = [];
  const dangerous = /^(img|script|svg|iframe|object|embed|a|form|input|style|link|meta|base)$/i;
  // The page's own markup: the sign-in form and the filter bar (index.html),
  // and the charts' SVG (charts.js draws it from numbers; titles are text).
  const own = (e) => e.id === 'signin' || e.id === 'signin-token' || e.closest?.('#signin') || e.closest?.('#filters') ||
    (e.namespaceURI === 'http://www.w3.org/2000/svg' && e.closest?.('#charts')) ||
    (e.tagName === 'SCRIPT' && e.src === `${location.origin}/dashboard.js`) ||
    (e.tagName === 'LINK' && e.href === `${location.origin}/dashboard.css`) || e.tagName === 'META';
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        for (const e of [node, ...node.querySelectorAll('*')]) {
          if (dangerous.test(e.tagName) && !own(e)) window.__created.push(e.tagName);
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
}

async function newPage({ csp = false } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(watchPage);
  const console = [];
  page.on('console', (m) => console.push(m.text()));
  page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
  if (csp) {
    await page.route(`http://127.0.0.1:${daemon.port}/`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
    });
  }
  return { page, console };
}

async function assertNothingFromData(page) {
  // A round trip through the daemon first, so a failed <img src=x> would
  // have fired its onerror by now.
  await page.evaluate(() => fetch('/healthz'));
  const { xss, created } = await page.evaluate(() => ({ xss: window.__xss, created: window.__created }));
  assert.equal(xss, undefined, 'script from queue data ran');
  assert.deepEqual(created, [], 'elements were made from queue data');
  assert.equal(await page.locator('#phases img, #phases script, #phases svg, #phases iframe, #workflows *:not(li, span)').count(), 0);
}

const bodyText = (page) => page.evaluate(() => document.body.innerText);

test('hostile titles, workers and errors are shown as literal text, also after a live update', async () => {
  const { page } = await newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/#token=${TOKEN}`);
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('#workflows li .status');
  await waitFor(async () => (await bodyText(page)).includes(HOSTILE.error), { what: 'the error shown' });
  const text = await bodyText(page);
  for (const [field, value] of Object.entries(HOSTILE)) {
    if (field !== 'live') assert.ok(text.includes(value), `${field} not shown literally: ${value}`);
  }
  await assertNothingFromData(page);

  sql(db, `UPDATE queuecast.phases SET title = ${literal(HOSTILE.live)} WHERE id = ${jobId}`);
  await waitFor(async () => (await bodyText(page)).includes(HOSTILE.live), { what: 'the live change shown' });
  await assertNothingFromData(page);
  await page.screenshot({ path: join(artifacts, 'dashboard-hostile.png'), fullPage: true });
  await page.close();
});

test('fields the schema constrains (status, ids, numbers) are text too, whatever arrives', async () => {
  // The extension's CHECKs keep statuses and numbers sane, but a superuser can
  // drop them and the dashboard must not depend on it: feed the renderer such
  // a document directly.
  const { page } = await newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/#token=${TOKEN}`);
  await page.waitForSelector('#workflows li .status');
  await page.waitForSelector('#phases tr[data-id]');
  const status = '<img src=x onerror="window.__xss=7">';
  await page.evaluate((s) => {
    const { queue, workflows } = window.queuecast;
    const [p, ...rest] = queue.state.phases;
    queue.state = { ...queue.state, phases: [{ ...p, status: s, id: `"><img src=x onerror=window.__xss=8>`,
      phase_number: '<img src=x onerror=window.__xss=9>', position: '<b>1</b>', priority: '<i>2</i>',
      attempts: '<u>3</u>', max_attempts: '<s>4</s>', workflow_id: '<img src=x onerror=window.__xss=10>' }, ...rest] };
    const [w, ...others] = workflows.state.workflows;
    workflows.state = { ...workflows.state, workflows: [{ ...w, status: s, id: '<img src=x onerror=window.__xss=11>' }, ...others] };
    workflows.dispatchEvent(new CustomEvent('update')); // renders both lists
  }, status);
  // The dashboard draws updates at most every 200 ms: wait for this one.
  for (let i = 0; i < 40 && !(await bodyText(page)).includes('<u>3</u>/<s>4</s>'); i++) await page.waitForTimeout(50);
  await assertNothingFromData(page);
  const text = await bodyText(page);
  for (const value of [status, '<b>1</b>', '<i>2</i>', '<u>3</u>/<s>4</s>', '#<img src=x onerror=window.__xss=11>']) {
    assert.ok(text.includes(value), `not shown literally: ${value}`);
  }
  // Unknown statuses get the one neutral class, never a class from data.
  const classes = await page.$$eval('.status', (nodes) => [...new Set(nodes.map((n) => n.className))]);
  for (const c of classes) assert.match(c, /^status s-(queued|ready|running|completed|failed|blocked|cancelled|pending|paused|unknown)$/);
  assert.ok(classes.includes('status s-unknown'));
  await page.close();
});

test('a token in the fragment connects and is removed from the address bar; nothing is stored', async () => {
  const { page } = await newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/?queue=default#token=${TOKEN}`);
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('#phases tr[data-id]');
  const { href, stored, cookie } = await page.evaluate(() => ({
    href: location.href, stored: localStorage.length + sessionStorage.length, cookie: document.cookie,
  }));
  assert.equal(href, `http://127.0.0.1:${daemon.port}/?queue=default`);
  assert.equal(stored, 0);
  assert.equal(cookie, '');
  assert.equal(await page.isHidden('#signin'), true);
  // The history entry itself was rewritten: going back to it finds no token.
  await page.goto(`http://127.0.0.1:${daemon.port}/healthz`);
  await page.goBack();
  assert.equal(page.url(), `http://127.0.0.1:${daemon.port}/?queue=default`);
  await page.waitForSelector('#signin:not([hidden])'); // so the page asks again
  await page.close();
});

test('a wrong token shows the sign-in form; the right one connects and shows live data', async () => {
  const { page } = await newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/#token=WRONG`);
  await page.waitForSelector('#signin:not([hidden])');
  assert.match(await page.textContent('#signin-reason'), /not accepted/);
  await page.waitForSelector('.connection[data-state=unauthorized]');
  assert.equal(await page.locator('#phases tr').count(), 0);
  await page.fill('#signin-token', TOKEN);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('#signin', { state: 'hidden' });
  await page.waitForSelector('#phases tr[data-id]');
  sql(db, "SELECT queuecast.enqueue('default', 'after signing in')");
  await page.waitForSelector('text=after signing in');
  assert.equal(await page.inputValue('#signin-token'), '', 'the token was left in the form');
  await page.close();
});

test('without a token the sign-in form asks for one', async () => {
  const { page } = await newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/`);
  await page.waitForSelector('#signin:not([hidden])');
  assert.match(await page.textContent('#signin-reason'), /requires a token/);
  await page.close();
});

test('under the strict CSP the page signs in, renders and updates with no violation', async () => {
  const { page, console } = await newPage({ csp: true });
  const response = await page.goto(`http://127.0.0.1:${daemon.port}/#token=WRONG`);
  assert.equal(response.headers()['content-security-policy'], CSP);
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#signin-token', TOKEN);
  await page.press('#signin-token', 'Enter');
  await page.waitForSelector('.connection[data-state=live]');
  await page.waitForSelector('#workflows li .status');
  sql(db, "SELECT queuecast.enqueue('default', 'under CSP')");
  await page.waitForSelector('text=under CSP');
  await page.waitForSelector('#phases .status.s-failed'); // the stylesheet applies: a colour from the CSS
  const failedColour = await page.$eval('#phases .status.s-failed', (e) => getComputedStyle(e).backgroundColor);
  // --failed of the dark or the light theme (the browser's colour scheme picks one).
  assert.ok(['rgb(239, 68, 68)', 'rgb(185, 28, 28)'].includes(failedColour), failedColour);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(console.filter((m) => /Content.Security.Policy|pageerror/i.test(m)), []);
  // The control: the policy is in force and a violation would have been seen.
  await page.addScriptTag({ content: 'window.__inline = 1' }).catch(() => {});
  await waitFor(() => page.evaluate(() => window.__violations.length > 0), { what: 'the control violation' });
  assert.equal(await page.evaluate(() => window.__inline), undefined);
  await page.close();
});
