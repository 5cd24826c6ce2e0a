// The queue's last hour, drawn from GET /api/v1/queues/<q>/stats (the
// daemon aggregates queuecast.changes): completed and failed per minute,
// depth (queued + ready) at the end of each minute, and wait and run time
// percentiles. Plain SVG made with createElementNS; numbers become text
// only, and every bar and point keeps its number in a data attribute (the
// browser test compares them with SQL).

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function ms(value) {
  if (value === null || value === undefined) return '–';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(1)} s`;
  return `${(value / 60000).toFixed(1)} min`;
}

const WIDTH = 300;
const HEIGHT = 70;

/** Bars of completed (below) and failed (on top) per minute. */
function throughputChart(buckets) {
  const max = Math.max(1, ...buckets.map((b) => b.completed + b.failed));
  const width = WIDTH / Math.max(1, buckets.length);
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  const total = buckets.reduce((n, b) => n + b.completed, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  chart.setAttribute('aria-label', `${total} completed and ${failed} failed in the window, per minute`);
  buckets.forEach((b, i) => {
    const done = (b.completed / max) * HEIGHT;
    const bad = (b.failed / max) * HEIGHT;
    const bar = svg('rect', { x: i * width, y: HEIGHT - done, width: Math.max(1, width - 1), height: done, class: 'bar-completed' });
    bar.dataset.completed = String(b.completed);
    const top = svg('rect', { x: i * width, y: HEIGHT - done - bad, width: Math.max(1, width - 1), height: bad, class: 'bar-failed' });
    top.dataset.failed = String(b.failed);
    const tip = svg('title');
    tip.textContent = `${new Date(b.t).toLocaleTimeString()}: ${b.completed} completed, ${b.failed} failed`;
    bar.append(tip);
    chart.append(bar, top);
  });
  return chart;
}

/** Depth at the end of each minute, as a line. */
function depthChart(buckets) {
  const max = Math.max(1, ...buckets.map((b) => b.depth));
  const step = WIDTH / Math.max(1, buckets.length - 1);
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  const last = buckets.length ? buckets[buckets.length - 1].depth : 0;
  chart.setAttribute('aria-label', `queue depth, now ${last}`);
  const points = buckets.map((b, i) => `${(i * step).toFixed(1)},${(HEIGHT - (b.depth / max) * (HEIGHT - 4) - 2).toFixed(1)}`);
  const line = svg('polyline', { points: points.join(' '), class: 'depth-line', fill: 'none' });
  line.dataset.depths = buckets.map((b) => b.depth).join(',');
  chart.append(line);
  return chart;
}

export class Charts {
  /** @param {() => string|null} token @param {() => string} queueName */
  constructor(token, queueName) {
    this.token = token;
    this.queueName = queueName;
    this.pending = null;
    this.last = 0;
  }

  /** Refreshes soon: at most every `everyMs`, so a busy queue costs one query per interval. */
  soon(everyMs = 5000) {
    if (this.pending) return;
    const wait = Math.max(0, this.last + everyMs - Date.now());
    this.pending = setTimeout(() => { this.pending = null; this.refresh(); }, wait);
  }

  async refresh() {
    this.last = Date.now();
    const headers = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let stats;
    try {
      const res = await fetch(`/api/v1/queues/${encodeURIComponent(this.queueName())}/stats?minutes=60`, { headers, cache: 'no-store' });
      if (!res.ok) return;
      stats = await res.json();
    } catch {
      return;
    }
    this.render(stats);
  }

  render(stats) {
    const buckets = Array.isArray(stats.buckets) ? stats.buckets : [];
    const completed = buckets.reduce((n, b) => n + b.completed, 0);
    const failed = buckets.reduce((n, b) => n + b.failed, 0);
    const depth = buckets.length ? buckets[buckets.length - 1].depth : 0;
    $('chart-throughput').replaceChildren(throughputChart(buckets));
    $('chart-depth').replaceChildren(depthChart(buckets));
    $('stat-completed').textContent = String(completed);
    $('stat-failed').textContent = String(failed);
    $('stat-depth').textContent = String(depth);
    $('stat-wait').textContent = `${ms(stats.wait_ms?.p50)} / ${ms(stats.wait_ms?.p95)}`;
    $('stat-run').textContent = `${ms(stats.run_ms?.p50)} / ${ms(stats.run_ms?.p95)}`;
    $('charts').dataset.seq = String(stats.first_seq ?? '');
  }
}
