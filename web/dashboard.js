// The built-in dashboard: one queue (phases grouped by workflow) and the
// workflow list, live over the queuecast WebSocket client.
import { QueuecastClient } from './queuecast.js';

const params = new URLSearchParams(location.search);
const queueName = params.get('queue') || 'default';
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const $ = (id) => document.getElementById(id);

const client = new QueuecastClient(wsUrl, { pauseWhenHidden: false, heartbeatMs: 15000 });
const queue = client.subscribe(`queue:${queueName}`, { mode: 'delta' });
const workflows = client.subscribe('workflows', { mode: 'delta' });

const escape = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function duration(phase) {
  if (!phase.started_at) return '';
  const end = phase.finished_at ? Date.parse(phase.finished_at) : Date.now();
  const seconds = Math.max(0, (end - Date.parse(phase.started_at)) / 1000);
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function renderQueue() {
  const state = queue.state;
  if (!state) return;
  $('paused').hidden = !state.paused;
  $('total').textContent = `${state.total} phases`;
  $('seq').textContent = `seq ${queue.seq}`;
  const titles = new Map((workflows.state?.workflows || []).map((w) => [w.id, w.title]));
  const groups = new Map();
  for (const phase of state.phases) {
    const key = phase.workflow_id ?? 'none';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(phase);
  }
  const html = [];
  for (const [key, phases] of groups) {
    const title = key === 'none' ? 'Jobs' : `Workflow ${key}: ${escape(titles.get(key) || '')}`;
    html.push(`<div class="group"><h3>${title}</h3><table><tr><th>#</th><th>title</th><th>status</th>
      <th>position</th><th>priority</th><th>worker</th><th>attempts</th><th>duration</th></tr>`);
    for (const p of phases) {
      html.push(`<tr data-id="${p.id}"><td>${p.phase_number}</td><td class="title">${escape(p.title)}</td>
        <td><span class="status" data-s="${p.status}">${p.status}</span></td><td>${p.position}</td>
        <td>${p.priority}</td><td>${escape(p.worker)}</td><td>${p.attempts}/${p.max_attempts}</td>
        <td>${duration(p)}</td></tr>`);
    }
    html.push('</table></div>');
  }
  $('phases').innerHTML = html.join('') || '<p class="empty">The queue is empty.</p>';
}

function renderWorkflows() {
  const list = workflows.state?.workflows || [];
  $('workflows').innerHTML = list.slice(0, 50).map((w) =>
    `<li><span>${escape(w.title)} <span class="muted">#${w.id}</span></span>
     <span class="status" data-s="${w.status}">${w.status}</span></li>`).join('') ||
    '<li class="muted">No workflows.</li>';
}

async function fillQueueSelect() {
  const select = $('queue-select');
  let names = [queueName];
  try {
    const list = await (await fetch('/api/v1/queues')).json();
    names = [...new Set([queueName, ...list.queues])].sort();
  } catch {
    // the selector keeps the current queue only
  }
  select.innerHTML = names.map((n) => `<option${n === queueName ? ' selected' : ''}>${escape(n)}</option>`).join('');
  select.onchange = () => { location.search = `?queue=${encodeURIComponent(select.value)}`; };
}

queue.addEventListener('update', renderQueue);
workflows.addEventListener('update', () => { renderWorkflows(); renderQueue(); });
client.addEventListener('status', (e) => {
  const state = e.detail.state === 'reconnecting' && !navigator.onLine ? 'offline' : e.detail.state;
  $('connection').dataset.state = state;
  $('connection').querySelector('b').textContent = state;
});
client.addEventListener('error', (e) => console.warn('queuecast:', e.detail.message));
setInterval(renderQueue, 1000); // durations of running phases keep counting
fillQueueSelect();
window.queuecast = { client, queue, workflows }; // for the browser test and curious operators
