// The statement behind GET /api/v1/queues/<q>/stats (net/api_routes.cpp):
// throughput, queue depth and time in status over the last minutes, from the
// history alone.
//
// queuecast.changes has no index but its primary key (every index is
// written under the commit-order lock), and it need none here: the window
// is the tail of the table from the first seq committed at or after its
// start, which queuecast.first_seq_since() finds by binary search over the
// primary key (24 probes for 10 million rows); only the window's rows are
// read after it. bench/stats_history.sh measures it.
//
//   $1 queue name, $2 minutes (the window), $3 the queue's topic
//
// Depth at the end of each minute is the current depth less what entered or
// left queued/ready after that minute. Wait (queued/ready to running) and
// run (running to completed/failed) times count transitions whose both ends
// lie in the window.
#pragma once

namespace queuecast {

inline constexpr const char* queue_stats_sql = R"(
WITH bounds AS (
  SELECT now() - make_interval(mins => $2::int) AS since
), first_seq AS (
  SELECT queuecast.first_seq_since((SELECT since FROM bounds)) AS lo
), recent AS (
  -- A closed range: with seq >= lo alone the planner guesses a third of the
  -- history and sizes every step after it for that; a range is guessed
  -- narrow (measured about 2x faster on 3 million rows).
  SELECT c.seq, c.key, c.op, c.old_status, c.new_status, c.committed_at
    FROM queuecast.changes c
   WHERE c.seq BETWEEN (SELECT lo FROM first_seq) AND (SELECT max(seq) FROM queuecast.changes)
     AND c.topic = $3 AND c.entity = 'phase'
), minutes AS (
  SELECT generate_series(date_trunc('minute', (SELECT since FROM bounds)),
                         date_trunc('minute', now()), interval '1 minute') AS t
), per_minute AS (
  SELECT date_trunc('minute', committed_at) AS t,
         count(*) FILTER (WHERE new_status = 'completed' AND old_status IS DISTINCT FROM 'completed') AS completed,
         count(*) FILTER (WHERE new_status = 'failed' AND old_status IS DISTINCT FROM 'failed') AS failed,
         count(*) FILTER (WHERE op = 'INSERT') AS enqueued,
         sum(coalesce(new_status IN ('queued', 'ready'), false)::int
             - coalesce(old_status IN ('queued', 'ready'), false)::int) AS depth_change
    FROM recent GROUP BY 1
), series AS (
  SELECT m.t, coalesce(p.completed, 0) AS completed, coalesce(p.failed, 0) AS failed,
         coalesce(p.enqueued, 0) AS enqueued,
         (SELECT count(*) FROM queuecast.phases WHERE queue = $1 AND status IN ('queued', 'ready'))
           - coalesce(sum(p.depth_change) OVER (ORDER BY m.t DESC
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS depth
    FROM minutes m LEFT JOIN per_minute p USING (t)
), transitions AS (
  SELECT new_status, committed_at,
         lag(new_status) OVER w AS prev_status, lag(committed_at) OVER w AS prev_at
    FROM recent
   WHERE new_status IS NOT NULL AND new_status IS DISTINCT FROM old_status
  WINDOW w AS (PARTITION BY key ORDER BY seq)
), durations AS (
  SELECT extract(epoch FROM committed_at - prev_at) * 1000 AS ms,
         CASE WHEN new_status = 'running' AND prev_status IN ('queued', 'ready') THEN 'wait'
              WHEN prev_status = 'running' AND new_status IN ('completed', 'failed') THEN 'run'
         END AS kind
    FROM transitions WHERE prev_at IS NOT NULL
)
SELECT json_build_object(
  'queue', $1::text,
  'minutes', $2::int,
  'since', (SELECT since FROM bounds),
  'first_seq', (SELECT lo FROM first_seq),
  'changes', (SELECT count(*) FROM recent),
  'buckets', coalesce((SELECT json_agg(json_build_object(
                 't', t, 'completed', completed, 'failed', failed, 'enqueued', enqueued,
                 'depth', depth) ORDER BY t) FROM series), '[]'::json),
  'wait_ms', (SELECT json_build_object('count', count(*),
                 'p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                 'p95', percentile_cont(0.95) WITHIN GROUP (ORDER BY ms))
                FROM durations WHERE kind = 'wait'),
  'run_ms', (SELECT json_build_object('count', count(*),
                 'p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                 'p95', percentile_cont(0.95) WITHIN GROUP (ORDER BY ms))
               FROM durations WHERE kind = 'run'))::text)";

}  // namespace queuecast
