// Which phases the dashboard shows: by status, worker, workflow and text in
// the title, with the count of every status. Pure functions over the state
// document, so the page and its tests share them.

export const STATUSES = ['queued', 'ready', 'running', 'blocked', 'failed', 'completed', 'cancelled'];

/** An empty filter: everything shows. */
export function emptyFilter() {
  return { status: '', worker: '', workflow: '', text: '' };
}

/** Whether phase `p` passes `filter` (text and worker: case-insensitive, contained). */
export function matches(p, filter) {
  if (filter.status && p.status !== filter.status) return false;
  if (filter.worker && !String(p.worker ?? '').toLowerCase().includes(filter.worker.toLowerCase())) return false;
  if (filter.workflow && String(p.workflow_id ?? '') !== filter.workflow) return false;
  if (filter.text && !String(p.title ?? '').toLowerCase().includes(filter.text.toLowerCase())) return false;
  return true;
}

/** Counts per status of all phases (unknown statuses under their own name). */
export function countByStatus(phases) {
  const counts = new Map(STATUSES.map((s) => [s, 0]));
  for (const p of phases) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  return counts;
}

/** The failed phases `filter` shows, as the server's retry-matching body. */
export function failedFilter(filter) {
  const body = { status: 'failed' };
  if (filter.worker) body.worker = filter.worker;
  if (filter.workflow && /^\d+$/.test(filter.workflow)) body.workflow_id = Number(filter.workflow);
  if (filter.text) body.text = filter.text;
  return body;
}
