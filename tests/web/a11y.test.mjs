// Accessible and readable, in headless Debian Chromium: axe-core (WCAG 2 A
// and AA rules, colour contrast among them) finds nothing on the dashboard,
// its detail view and its charts, in the light and the dark theme; the page
// works from the keyboard alone (Tab to a phase, Enter opens its detail,
// Escape closes it and focus returns); a lost connection shows a banner that
// says the data may be out of date, and it goes away when live again.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const db = 'queuecast_web_a11y';
const token = 'a11y-test-token';
let daemon;
let browser;

test.before(async () => {
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('default')");
  sql(db, "SELECT queuecast.create_workflow('default', 'release 2.0', ARRAY['build', 'test', 'ship'])");
  sql(db, "SELECT queuecast.enqueue('default', 'job ' || g) FROM generate_series(1, 6) g");
  sql(db, "SELECT queuecast.complete(id) FROM queuecast.claim('default', 'w1')");
  sql(db, "SELECT queuecast.fail(id, 'broken') FROM queuecast.claim('default', 'w2')");
  sql(db, "SELECT queuecast.claim('default', 'w3')");
  sql(db, "SELECT queuecast.pause('default')");
  daemon = new Daemon(db, await freePort(), { token, args: ['--actions-database', `dbname=${db}`] });
  await daemon.start();
  browser = await chromium.launch(launchOptions);
});

test.after(async () => {
  await browser?.close();
  await daemon?.stop();
});

async function open(colorScheme) {
  // axe is injected as a script: only this test's context may bypass the CSP.
  const context = await browser.newContext({ bypassCSP: true, colorScheme, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
  await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
  await page.waitForSelector('#chart-depth polyline', { timeout: 10000 });
  await page.waitForSelector('button.act', { timeout: 10000 }); // an operator's view: every control there
  await page.addScriptTag({ content: axeSource });
  return { context, page };
}

async function violations(page) {
  const result = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return result.violations.map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

for (const scheme of ['dark', 'light']) {
  test(`axe finds no WCAG A/AA violation in the ${scheme} theme, detail view included`, async () => {
    const { context, page } = await open(scheme);
    try {
      assert.deepEqual(await violations(page), []);
      await page.locator('button[data-action=detail]').first().click();
      await page.waitForSelector('#detail[open]');
      assert.deepEqual(await violations(page), [], 'the detail view');
      // The check can fail: white on the light pills is below AA.
      await page.addStyleTag({ content: '.status { color: #fff !important; background: #9ca3af !important; }' });
      assert.ok((await violations(page)).some((v) => v.startsWith('color-contrast')), 'axe saw low contrast');
    } finally {
      await context.close();
    }
  });
}

test('the dashboard works from the keyboard alone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    await page.waitForSelector('button[data-action=detail]');
    let focused = '';
    for (let i = 0; i < 60 && focused !== 'detail'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.dataset?.action ?? '');
    }
    assert.equal(focused, 'detail', 'Tab reaches a phase');
    const id = await page.evaluate(() => document.activeElement.dataset.id);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail[open]');
    assert.match(await page.textContent('#detail-title'), new RegExp(`^Phase ${id}:`));
    await page.keyboard.press('Escape');
    await page.waitForSelector('#detail:not([open])', { state: 'attached' });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset?.id), id, 'focus is back on the phase');
  } finally {
    await context.close();
  }
});

test('a lost connection says the data may be out of date, until it is live again', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${daemon.port}/#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    assert.equal(await page.isVisible('#banner'), false);
    daemon.kill();
    await page.waitForSelector('#banner:not([hidden])', { timeout: 10000 });
    assert.match(await page.textContent('#banner'), /out of date/);
    assert.equal(await page.getAttribute('#banner', 'role'), 'alert');
    await daemon.start();
    await page.waitForSelector('.connection[data-state=live]', { timeout: 20000 });
    assert.equal(await page.isVisible('#banner'), false);
  } finally {
    await context.close();
  }
});
