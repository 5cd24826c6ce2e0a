// The dashboard's targets measured in Debian Chromium (bench/browser_dashboard.sh
// starts the cluster, the daemon and the writer; this drives the browser).
// Prints one JSON object:
//   bundle_gzip_bytes   what a first visit downloads, gzipped (page, styles, scripts)
//   frame_p95_ms        requestAnimationFrame intervals during the load, p95 (and idle_frame_p95_ms before it)
//   long_tasks          main-thread tasks over 50 ms during the load
//   heap_mb_at_1000, heap_mb_end   JS heap after a forced GC, at 1 000 events and at the end
//   ui_latency_ms       commit -> the title visible in the page: p50, p95, max
// Usage: node browser_dashboard.mjs URL TOKEN SECONDS (run from tests/web: its node_modules)
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

const require = createRequire(`${process.cwd()}/`);
const { chromium } = require('playwright-core');
const [url, token, seconds] = process.argv.slice(2);

const quantile = (values, q) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

// page.waitForFunction evaluates a string, which the page's CSP forbids:
// poll with evaluate instead.
async function waitUntil(page, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(check))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${check}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
  const bytes = {};
  page.on('response', async (r) => {
    if (r.url().startsWith(url) && !r.url().includes('/api/')) {
      try { bytes[new URL(r.url()).pathname] = gzipSync(await r.body()).length; } catch { /* a redirect */ }
    }
  });
  await page.goto(`${url}/?queue=bench#token=${token}`);
  await page.waitForSelector('.connection[data-state=live]', { timeout: 15000 });
  await waitUntil(page, () => document.querySelectorAll('#phases tr[data-id]').length >= 500, 15000);
  result.rows = await page.locator('#phases tr[data-id]').count();
  result.bundle_files = bytes;
  result.bundle_gzip_bytes = Object.values(bytes).reduce((a, b) => a + b, 0);
  const cdp = await page.context().newCDPSession(page);
  const heapMb = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize / 1048576;
  };
  // Instruments: frame intervals, long tasks, and when each marked title shows.
  await page.evaluate(() => {
    window.__bench = { frames: [], longTasks: 0, seen: new Map(), events: 0, recording: false };
    let last = performance.now();
    const tick = (t) => { if (window.__bench.recording) window.__bench.frames.push(t - last); last = t; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    new PerformanceObserver((list) => { if (window.__bench.recording) window.__bench.longTasks += list.getEntries().length; })
      .observe({ type: 'longtask', buffered: false });
    window.queuecast.queue.addEventListener('update', () => { window.__bench.events += 1; });
    // Titles "u <commit epoch ms>": note when each first appears in the page.
    // Only the nodes each mutation added are looked at: the observer must not
    // cost the page more than the page itself.
    new MutationObserver((records) => {
      const now = performance.timeOrigin + performance.now();
      for (const record of records) {
        for (const node of record.addedNodes) {
          if (node.nodeType !== 1) continue;
          for (const b of node.matches('button.link') ? [node] : node.querySelectorAll('button.link')) {
            const m = /^u (\d+)$/.exec(b.textContent);
            if (m && !window.__bench.seen.has(m[1])) window.__bench.seen.set(m[1], now - Number(m[1]));
          }
        }
      }
    }).observe(document.getElementById('phases'), { childList: true, subtree: true });
  });
  // Idle frames first: the same page with nothing arriving.
  await page.evaluate(() => { window.__bench.recording = true; });
  await page.waitForTimeout(3000);
  const idle = await page.evaluate(() => { const f = window.__bench.frames; window.__bench.frames = []; return f; });
  result.idle_frame_p95_ms = quantile(idle, 0.95);
  // The writer starts when this line is printed (browser_dashboard.sh waits for it).
  console.error('READY');
  await waitUntil(page, () => window.__bench.events >= 1000, 120000);
  result.heap_mb_at_1000 = await heapMb();
  await page.waitForTimeout(Number(seconds) * 1000 - 20000 > 0 ? Number(seconds) * 1000 - 20000 : 1000);
  await page.waitForTimeout(3000);
  const run = await page.evaluate(() => ({ frames: window.__bench.frames, longTasks: window.__bench.longTasks,
    events: window.__bench.events, latencies: [...window.__bench.seen.values()] }));
  result.heap_mb_end = await heapMb();
  result.events = run.events;
  result.frame_p95_ms = quantile(run.frames, 0.95);
  result.frame_p50_ms = quantile(run.frames, 0.5);
  result.frame_p99_ms = quantile(run.frames, 0.99);
  result.frames = run.frames.length;
  result.long_tasks = run.longTasks;
  result.ui_latency_ms = { count: run.latencies.length, p50: quantile(run.latencies, 0.5),
    p95: quantile(run.latencies, 0.95), max: quantile(run.latencies, 1) };
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
