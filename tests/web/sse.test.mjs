// The transport that passes every proxy, in headless Debian Chromium: behind
// a proxy that refuses WebSocket upgrades (as some corporate proxies do) the
// dashboard falls back to Server-Sent Events, shows live changes, and after
// the daemon is killed and restarted resumes from its last seq without a gap.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql, waitFor } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

const db = 'queuecast_web_sse';

/** A plain HTTP proxy to `port` that streams responses and refuses every upgrade. */
function upgradeRefusingProxy(port) {
  const upstreams = new Set();
  const proxy = createServer((req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); });
    req.pipe(upstream);
  });
  proxy.on('upgrade', (req, socket) => {
    proxy.refused = (proxy.refused ?? 0) + 1;
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
  });
  return proxy;
}

test('behind a proxy that refuses WebSockets the dashboard falls back to SSE and resumes without a gap', async () => {
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('default')");
  const token = 'sse-test-token';
  const daemon = new Daemon(db, await freePort(), { token });
  await daemon.start();
  const proxy = upgradeRefusingProxy(daemon.port);
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch(launchOptions);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${proxy.address().port}/#token=${token}`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 15000 });
    assert.equal(await page.evaluate(() => window.queuecast.client.transport), 'sse');
    assert.ok(proxy.refused >= 1, 'the WebSocket was tried first');
    await page.evaluate(() => {
      window.__gaps = 0;
      window.__resumed = [];
      window.queuecast.client.addEventListener('gap', () => { window.__gaps += 1; });
      window.queuecast.queue.addEventListener('subscribed', (e) => window.__resumed.push(e.detail.resumed));
    });

    sql(db, "SELECT queuecast.enqueue('default', 'over sse')");
    await page.waitForSelector('text=over sse', { timeout: 5000 });

    daemon.kill();
    await page.waitForSelector('.connection[data-state=reconnecting]', { timeout: 10000 });
    for (let i = 0; i < 5; i++) sql(db, `SELECT queuecast.enqueue('default', 'while down ${i}')`);
    await daemon.start();
    await page.waitForSelector('.connection[data-state=live]', { timeout: 20000 });
    await page.waitForSelector('text=while down 4', { timeout: 10000 });
    const resumed = await page.evaluate(() => window.__resumed);
    assert.ok(resumed.includes(true), `the stream resumed from its seq (subscribed: ${JSON.stringify(resumed)})`);
    assert.equal(await page.evaluate(() => window.__gaps), 0, 'no gap');
    const shown = await page.evaluate(() => window.queuecast.queue.state.phases.map((p) => p.title).sort());
    const expected = sql(db, "SELECT title FROM queuecast.phases WHERE queue = 'default' ORDER BY title").split('\n');
    assert.deepEqual(shown, expected.sort());
    assert.equal(await page.evaluate(() => window.queuecast.queue.seq), Number(sql(db, 'SELECT queuecast.current_seq()')));
  } finally {
    await browser.close();
    proxy.close();
    proxy.closeAllConnections?.();
    await daemon.stop();
  }
});
