// Chromium offers permessage-deflate on every WebSocket: the daemon
// negotiates it (the handshake's answer, seen through the DevTools
// protocol), compresses what it sends (the daemon's counter), and the
// dashboard, reading through the browser's inflate, shows the queue and a
// change made afterwards.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Daemon, createDatabase, freePort, sql } from './daemon.mjs';
import { launchOptions } from './browser.mjs';

async function metric(port, name) {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : -1;
}

test('Chromium negotiates permessage-deflate and the dashboard reads compressed frames', async () => {
  const db = 'queuecast_web_deflate';
  createDatabase(db);
  sql(db, "SELECT queuecast.create_queue('default')");
  // A snapshot of a few KB: above the size the daemon compresses from.
  sql(db, "SELECT queuecast.enqueue('default', 'phase ' || i || ' ' || md5(i::text)) FROM generate_series(1, 20) AS i");
  const daemon = new Daemon(db, await freePort());
  await daemon.start();
  let browser;
  try {
    browser = await chromium.launch(launchOptions);
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const answers = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', ({ response }) => {
      const name = Object.keys(response.headers).find((h) => h.toLowerCase() === 'sec-websocket-extensions');
      answers.push(name ? response.headers[name] : null);
    });
    await page.goto(`http://127.0.0.1:${daemon.port}/`);
    await page.waitForSelector('.connection[data-state=live]', { timeout: 10000 });
    await page.waitForSelector('text=phase 20', { timeout: 10000 });
    sql(db, "SELECT queuecast.enqueue('default', 'after the compressed snapshot')");
    await page.waitForSelector('text=after the compressed snapshot', { timeout: 5000 });

    assert.ok(answers.length >= 1, 'no WebSocket handshake seen');
    assert.match(answers[0] ?? '', /^permessage-deflate; server_no_context_takeover$/);
    assert.ok(await metric(daemon.port, 'queuecast_deflate_connections_total') >= 1);
    assert.ok(await metric(daemon.port, 'queuecast_deflate_compressions_total') >= 1,
      'nothing was sent compressed');
  } finally {
    await browser?.close();
    await daemon.stop();
  }
});
