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

const STATUS_CLASS = {
  queued: 's-queued', ready: 's-ready', running: 's-running', completed: 's-completed', failed: 's-failed',
  blocked: 's-blocked', cancelled: 's-cancelled', pending: 's-pending', paused: 's-paused',
};
const PHASE_COLUMNS = ['#', 'title', 'status', 'position', 'priority', 'worker', 'attempts', 'duration', ''];

const $ = (id) => document.getElementById(id);
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
let queueName = new URLSearchParams(location.search).get('queue') || 'default';

const operator = new Operator(() => client.token, (status) => statusPill(status));
const client = new QueuecastClient(wsUrl, { pauseWhenHidden: false, heartbeatMs: 15000, token: takeFragmentToken() });
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
  return row;
}

function phaseGroup(heading, phases) {
  const group = el('div', 'group');
  const table = el('table');
  const head = el('tr');
  for (const name of PHASE_COLUMNS) head.append(el('th', null, name));
  table.append(head, ...phases.map(phaseRow));
  group.append(el('h3', null, heading), table);
  return group;
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
  const titles = new Map((workflows.state?.workflows || []).map((w) => [w.id, w.title]));
  const groups = new Map();
  for (const phase of state.phases) {
    const key = phase.workflow_id ?? 'none';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(phase);
  }
  const nodes = [];
  for (const [key, phases] of groups) {
    nodes.push(phaseGroup(key === 'none' ? 'Jobs' : `Workflow ${key}: ${titles.get(key) ?? ''}`, phases));
  }
  $('phases').replaceChildren(...(nodes.length ? nodes : [el('p', 'empty', 'The queue is empty.')]));
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
  queue.removeEventListener('update', renderQueue);
  queueName = name;
  history.replaceState(history.state, '', `?queue=${encodeURIComponent(name)}`);
  queue = client.subscribe(`queue:${queueName}`, { mode: 'delta' });
  queue.addEventListener('update', renderQueue);
  $('phases').replaceChildren();
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
queue.addEventListener('update', renderQueue);
workflows.addEventListener('update', () => { renderWorkflows(); renderQueue(); });
client.addEventListener('status', (e) => {
  const state = e.detail.state === 'reconnecting' && !navigator.onLine ? 'offline' : e.detail.state;
  $('connection').dataset.state = state;
  $('connection').querySelector('b').textContent = state;
});
client.addEventListener('unauthorized', (e) => showSignIn(e.detail.reason));
onSignIn((token) => {
  client.setToken(token);
  fillQueueSelect();
  operator.refreshRights().then(renderQueue);
});
$('phases').addEventListener('click', (e) => operator.onPhasesClick(e));
$('queue-toggle').addEventListener('click', () => operator.pauseOrResume(queueName, Boolean(queue.state?.paused)));
$('retry-failed').addEventListener('click', () => operator.retryFailed(queueName));
client.addEventListener('error', (e) => console.warn('queuecast:', e.detail.message));
setInterval(renderQueue, 1000); // durations of running phases keep counting
fillQueueSelect();
operator.refreshRights().then(renderQueue);
window.queuecast = { client, queue, workflows, operator }; // for the browser test and curious operators
