// The built-in dashboard: one queue (phases grouped by workflow) and the
// workflow list, live over the queuecast WebSocket client.
//
// Everything shown comes from rows any writer of the queue controls (titles,
// workers, errors, even statuses to a superuser), so data only ever becomes
// text: elements are made with createElement, data goes into textContent,
// class names come from STATUS_CLASS, never from data. No innerHTML anywhere.
import { QueuecastClient } from './queuecast.js';
import { takeFragmentToken, onSignIn, showSignIn } from './signin.js';
import { Operator } from './operator.js';
import { Charts } from './charts.js';
import { STATUSES, countByStatus, emptyFilter, failedFilter, matches } from './phase_filter.js';

const STATUS_CLASS = {
  queued: 's-queued', ready: 's-ready', running: 's-running', completed: 's-completed', failed: 's-failed',
  blocked: 's-blocked', cancelled: 's-cancelled', pending: 's-pending', paused: 's-paused',
};
const PHASE_COLUMNS = ['#', 'title', 'status', 'position', 'priority', 'worker', 'attempts', 'duration', ''];

const $ = (id) => document.getElementById(id);
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
let queueName = new URLSearchParams(location.search).get('queue') || 'default';

const operator = new Operator(() => client.token, (status) => statusPill(status));
const charts = new Charts(() => client.token, () => queueName);
const client = new QueuecastClient(wsUrl, { pauseWhenHidden: true, heartbeatMs: 15000, token: takeFragmentToken() });
let queue = client.subscribe(`queue:${queueName}`, { mode: 'delta' });
const workflows = client.subscribe('workflows', { mode: 'delta' });

/** An element with a fixed class name and, optionally, data as its text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function statusPill(status) {
  const known = Object.hasOwn(STATUS_CLASS, status);
  return el('span', `status ${known ? STATUS_CLASS[status] : 's-unknown'}`, status);
}

function duration(phase) {
  if (!phase.started_at) return '';
  const end = phase.finished_at ? Date.parse(phase.finished_at) : Date.now();
  const seconds = Math.max(0, (end - Date.parse(phase.started_at)) / 1000);
  if (!Number.isFinite(seconds)) return '';
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function phaseRow(p) {
  const row = el('tr');
  row.dataset.id = String(p.id);
  const title = el('td', 'title');
  const open = el('button', 'link', p.title);  // opens the detail view (operator.js)
  open.type = 'button';
  open.dataset.action = 'detail';
  open.dataset.id = String(p.id);
  title.append(open);
  if (p.error) title.append(el('div', 'error', p.error));
  const status = el('td');
  status.append(statusPill(p.status));
  row.append(el('td', null, p.phase_number), title, status, el('td', null, p.position), el('td', null, p.priority),
    el('td', null, p.worker), el('td', null, `${p.attempts}/${p.max_attempts}`), el('td', null, duration(p)),
    operator.phaseControls(p));
  // The rows are laid out as grids (dashboard.css), which drops a table's
  // implicit semantics: the roles say it explicitly.
  row.setAttribute('role', 'row');
  for (const cell of row.cells) cell.setAttribute('role', 'cell');
  return row;
}

// Rows and groups are kept between updates: a row is rebuilt only when its
// phase changed (the client keeps unchanged phases' objects in delta mode),
// and a group's rows are re-placed only when its list changed, so a
// 500-phase queue at 50 updates a second redraws a row or two per update.
const rows = new Map(); // phase id -> { phase, json, mayAct, row }
const groups = new Map(); // workflow id or 'none' -> { group, heading, table, ids }
let filter = emptyFilter();

function rowFor(p) {
  const cached = rows.get(p.id);
  if (cached && cached.mayAct === operator.mayAct && (cached.phase === p || cached.json === JSON.stringify(p))) {
    cached.phase = p;
    if (p.status === 'running') cached.row.cells[7].textContent = duration(p); // keeps counting
    return cached.row;
  }
  const row = phaseRow(p);
  rows.set(p.id, { phase: p, json: JSON.stringify(p), mayAct: operator.mayAct, row });
  return row;
}

function groupFor(key) {
  let g = groups.get(key);
  if (!g) {
    const group = el('div', 'group');
    const heading = el('h3');
    const table = el('table');
    table.setAttribute('role', 'table');
    const head = el('tr');
    head.setAttribute('role', 'row');
    for (const name of PHASE_COLUMNS) {
      const th = el('th', null, name);
      th.scope = 'col';
      th.setAttribute('role', 'columnheader');
      if (!name) th.append(el('span', 'visually-hidden', 'actions'));
      head.append(th);
    }
    table.append(head);
    group.append(heading, table);
    g = { group, heading, table, head, ids: '', rows: [] };
    groups.set(key, g);
  }
  return g;
}

let chipsShown = '';
function renderStatusChips(counts) {
  // Rebuilt only when a count or the filter changed.
  const key = `${filter.status}|${[...counts].join(';')}`;
  if (key === chipsShown) return;
  chipsShown = key;
  const chips = [...counts].filter(([status, n]) => n > 0 || STATUSES.includes(status)).map(([status, n]) => {
    const chip = el('button', 'chip', status);
    chip.type = 'button';
    chip.dataset.status = status;
    chip.setAttribute('aria-pressed', String(filter.status === status));
    chip.append(el('b', null, n));
    return chip;
  });
  $('status-counts').replaceChildren(...chips);
}

// Updates are drawn at most every RENDER_EVERY_MS, in an animation frame:
// laying out a 500-row table takes the browser tens of milliseconds
// (bench/RESULTS.md, browser-dashboard), so a queue changing 50 times a
// second is redrawn 5 times a second, and every other frame stays free.
const RENDER_EVERY_MS = 200;
let renderPending = false;
let renderedAt = 0;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => requestAnimationFrame(() => {
    renderPending = false;
    renderedAt = performance.now();
    renderQueue();
  }), Math.max(0, renderedAt + RENDER_EVERY_MS - performance.now()));
}

function renderQueue() {
  const state = queue.state;
  if (!state) return;
  $('paused').hidden = !state.paused;
  $('queue-toggle').hidden = !operator.mayAct;
  $('queue-toggle').textContent = state.paused ? 'Resume queue' : 'Pause queue';
  $('retry-failed').hidden = !operator.mayAct;
  $('total').textContent = `${state.total} phases`;
  $('seq').textContent = `seq ${queue.seq}`;
  renderStatusChips(countByStatus(state.phases));
  const titles = new Map((workflows.state?.workflows || []).map((w) => [w.id, w.title]));
  const members = new Map();
  const present = new Set();
  let shown = 0;
  for (const phase of state.phases) {
    present.add(phase.id);
    if (!matches(phase, filter)) continue;
    shown += 1;
    const key = phase.workflow_id ?? 'none';
    if (!members.has(key)) members.set(key, []);
    members.get(key).push(phase);
  }
  for (const id of rows.keys()) if (!present.has(id)) rows.delete(id);
  const nodes = [];
  for (const [key, phases] of members) {
    const g = groupFor(key);
    g.heading.textContent = key === 'none' ? 'Jobs' : `Workflow ${key}: ${titles.get(key) ?? ''}`;
    const phaseRows = phases.map(rowFor);
    const ids = phases.map((p) => p.id).join(',');
    if (ids !== g.ids) {
      g.table.replaceChildren(g.head, ...phaseRows);
      g.ids = ids;
    } else {
      // Same phases in the same order: swap only the rows that were rebuilt,
      // so the browser lays out one row, not the table.
      phaseRows.forEach((r, i) => { if (g.rows[i] !== r) g.rows[i].replaceWith(r); });
    }
    g.rows = phaseRows;
    nodes.push(g.group);
  }
  for (const key of groups.keys()) if (!members.has(key)) groups.delete(key);
  $('shown').textContent = shown === state.phases.length ? '' : `${shown} of ${state.phases.length} shown`;
  const container = $('phases');
  const empty = state.phases.length ? 'No phase matches the filter.' : 'The queue is empty.';
  const wanted = nodes.length ? nodes : [el('p', 'empty', empty)];
  if (wanted.length !== container.children.length || wanted.some((n, i) => container.children[i] !== n)) {
    container.replaceChildren(...wanted);
  }
}

function renderWorkflows() {
  const items = (workflows.state?.workflows || []).slice(0, 50).map((w) => {
    const name = el('span', null, `${w.title} `);
    name.append(el('span', 'muted', `#${w.id}`));
    const item = el('li');
    item.append(name, statusPill(w.status));
    return item;
  });
  $('workflows').replaceChildren(...(items.length ? items : [el('li', 'muted', 'No workflows.')]));
}

// Switching queues in the page (not by reloading it) keeps the token, which
// lives in memory only.
function showQueue(name) {
  if (name === queueName) return;
  client.unsubscribe(`queue:${queueName}`);
  queue.removeEventListener('update', scheduleRender);
  queueName = name;
  history.replaceState(history.state, '', `?queue=${encodeURIComponent(name)}`);
  queue = client.subscribe(`queue:${queueName}`, { mode: 'delta' });
  queue.addEventListener('update', scheduleRender);
  queue.addEventListener('update', () => charts.soon());
  charts.refresh();
  $('phases').replaceChildren();
  rows.clear();
  groups.clear();
  window.queuecast.queue = queue;
}

async function fillQueueSelect() {
  const select = $('queue-select');
  let names = [queueName];
  try {
    const headers = client.token ? { Authorization: `Bearer ${client.token}` } : {};
    const list = await (await fetch('/api/v1/queues', { headers })).json();
    names = [...new Set([queueName, ...list.queues.map(String)])].sort();
  } catch {
    // the selector keeps the current queue only
  }
  select.replaceChildren(...names.map((n) => new Option(n, n, n === queueName, n === queueName)));
}

$('queue-select').addEventListener('change', (e) => showQueue(e.target.value));
queue.addEventListener('update', scheduleRender);
queue.addEventListener('update', () => charts.soon());
workflows.addEventListener('update', () => { renderWorkflows(); scheduleRender(); });
const BANNERS = {
  stale: 'Stale: the daemon lost its database. What you see may be out of date; it reconnects by itself.',
  reconnecting: 'Reconnecting: the connection was lost. What you see may be out of date.',
  offline: 'Offline: this device has no network. What you see may be out of date.',
};
client.addEventListener('status', (e) => {
  const state = e.detail.state === 'reconnecting' && !navigator.onLine ? 'offline' : e.detail.state;
  $('connection').dataset.state = state;
  $('connection').querySelector('b').textContent = state;
  document.body.dataset.connection = state;
  $('banner').hidden = !BANNERS[state];
  $('banner').textContent = BANNERS[state] ?? '';
  $('connection').title = `transport: ${client.transport === 'sse' ? 'Server-Sent Events' : 'WebSocket'}`;
});
client.addEventListener('unauthorized', (e) => showSignIn(e.detail.reason));
onSignIn((token) => {
  client.setToken(token);
  fillQueueSelect();
  charts.refresh();
  operator.refreshRights().then(renderQueue);
});
$('phases').addEventListener('click', (e) => operator.onPhasesClick(e));
// The theme: the viewer's system preference until the button picks one.
$('theme').addEventListener('click', () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : !matchMedia('(prefers-color-scheme: light)').matches;
  document.documentElement.dataset.theme = dark ? 'light' : 'dark';
});
$('queue-toggle').addEventListener('click', () => operator.pauseOrResume(queueName, Boolean(queue.state?.paused)));
$('retry-failed').addEventListener('click', () => operator.retryFailed(queueName, failedFilter(filter)));
$('status-counts').addEventListener('click', (e) => {
  const chip = e.target.closest('button[data-status]');
  if (!chip) return;
  filter = { ...filter, status: filter.status === chip.dataset.status ? '' : chip.dataset.status };
  renderQueue();
});
for (const [id, field] of [['filter-text', 'text'], ['filter-worker', 'worker'], ['filter-workflow', 'workflow']]) {
  $(id).addEventListener('input', (e) => {
    filter = { ...filter, [field]: e.target.value.trim() };
    renderQueue();
  });
}
client.addEventListener('error', (e) => console.warn('queuecast:', e.detail.message));
setInterval(renderQueue, 1000); // durations of running phases keep counting
fillQueueSelect();
operator.refreshRights().then(renderQueue);
charts.refresh();
setInterval(() => charts.soon(), 30000); // minutes roll over even when nothing changes
window.queuecast = { client, queue, workflows, operator, charts }; // for the browser test and curious operators
