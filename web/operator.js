// What an operator does from the dashboard: act on a queue or a phase, and
// look at one phase closely (its fields and its timeline from history).
//
// Actions go to the daemon's HTTP API (POST, JSON, the token in the
// Authorization header: docs/protocol.md, "Operators' API"); their result is
// never drawn from the response: it arrives like every other commit, through
// the live feed. Controls are shown only when /api/v1/whoami says the token
// may act, and the daemon checks again on every request.
//
// As in dashboard.js, data only ever becomes text (textContent), never HTML.

const $ = (id) => document.getElementById(id);

const FINAL = new Set(['completed', 'cancelled']);
const RETRYABLE = new Set(['failed', 'cancelled']);

/** An element with a fixed class name and, optionally, data as its text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return '';
  const s = Number(ms) / 1000;
  if (s < 1) return `${Math.round(Number(ms))} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export class Operator {
  /**
   * @param {() => string|null} token  the current token (kept in memory only)
   * @param {(status: string) => HTMLElement} statusPill  the dashboard's pill
   */
  constructor(token, statusPill) {
    this.token = token;
    this.statusPill = statusPill;
    this.mayAct = false;
    $('detail-close').addEventListener('click', () => $('detail').close());
    // Keyboard users land where they were: focus goes back to the opener.
    $('detail').addEventListener('close', () => this.opener?.focus?.());
  }

  async request(path, { method = 'GET', body } = {}) {
    const headers = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (method === 'POST') headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(typeof data.message === 'string' && data.message ? data.message : `HTTP ${res.status}`);
    return data;
  }

  /** Asks the daemon what this token may do; false on any failure. */
  async refreshRights() {
    try {
      this.mayAct = (await this.request('/api/v1/whoami')).may_act === true;
    } catch {
      this.mayAct = false;
    }
    return this.mayAct;
  }

  notice(text) {
    const box = $('notice');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  async act(path, body = {}, done = '') {
    try {
      const result = await this.request(path, { method: 'POST', body });
      if (done) this.notice(done(result));
    } catch (error) {
      this.notice(`Not done: ${error.message}`);
    }
  }

  pauseOrResume(queue, paused) {
    return this.act(`/api/v1/queues/${encodeURIComponent(queue)}/${paused ? 'resume' : 'pause'}`);
  }

  /** Retries the failed phases `filter` (the server's form) matches. */
  retryFailed(queue, filter = { status: 'failed' }) {
    return this.act(`/api/v1/queues/${encodeURIComponent(queue)}/phases/retry`, filter,
      (r) => `Retried ${r.done.length} of ${r.matched} failed phases${r.refused.length ? ` (${r.refused.length} refused: ${r.refused[0].error})` : ''}`);
  }

  /** The action buttons of one phase row (none for viewers). */
  phaseControls(phase) {
    const cell = el('td', 'actions');
    if (!this.mayAct) return cell;
    if (RETRYABLE.has(phase.status)) cell.append(this.button('Retry', 'retry', phase));
    if (!FINAL.has(phase.status)) cell.append(this.button('Cancel', 'cancel', phase));
    return cell;
  }

  button(label, action, phase) {
    const button = el('button', `act act-${action}`, label);
    button.type = 'button';
    button.dataset.action = action;
    button.dataset.id = String(phase.id);
    button.setAttribute('aria-label', `${label} phase ${phase.id}`);
    return button;
  }

  /** Handles a click inside the phase tables (buttons are redrawn often). */
  async onPhasesClick(event) {
    const button = event.target.closest('button[data-id]');
    if (!button) return;
    const id = button.dataset.id;
    if (button.dataset.action === 'detail') return this.showDetail(id);
    return this.act(`/api/v1/phases/${encodeURIComponent(id)}/${button.dataset.action}`);
  }

  async showDetail(id) {
    this.opener = document.activeElement;
    let detail;
    try {
      detail = await this.request(`/api/v1/phases/${encodeURIComponent(id)}`);
    } catch (error) {
      this.notice(`Phase ${id}: ${error.message}`);
      return;
    }
    const p = detail.phase;
    $('detail-title').textContent = `Phase ${p.id}: ${p.title ?? ''}`;
    const fields = [['status', p.status], ['queue', p.queue], ['worker', p.worker], ['attempts', `${p.attempts}/${p.max_attempts}`],
      ['priority', p.priority], ['workflow', p.workflow_id], ['created', formatTime(p.created_at)],
      ['started', formatTime(p.started_at)], ['finished', formatTime(p.finished_at)], ['error', p.error]];
    $('detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [el('dt', null, name), el('dd', null, value ?? '')]));
    const head = el('tr');
    for (const name of ['seq', 'status', 'entered', 'for', 'worker', 'by']) {
      const th = el('th', null, name);
      th.scope = 'col';
      head.append(th);
    }
    const rows = detail.timeline.map((t) => {
      const row = el('tr');
      row.dataset.seq = String(t.seq);
      const status = el('td');
      status.append(this.statusPill(t.status));
      row.append(el('td', null, t.seq), status, el('td', null, formatTime(t.entered_at)),
        el('td', null, t.left_at ? formatDuration(t.duration_ms) : (FINAL.has(t.status) ? '' : 'so far')), el('td', null, t.worker ?? ''),
        el('td', null, t.application_name || t.role || ''));
      return row;
    });
    $('detail-timeline').replaceChildren(head, ...rows);
    if (!$('detail').open) $('detail').showModal();
  }
}
