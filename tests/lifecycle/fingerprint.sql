-- "<data> <positions>": two digests. The first changes when any queue,
-- workflow, phase, history row, the retention row or changes_seq changes;
-- the second when an id or position sequence moves (they move even for
-- work that rolls back).
SELECT md5(concat_ws('/',
           (SELECT string_agg(q::text, '|' ORDER BY name) FROM queuecast.queues q),
           (SELECT string_agg(w::text, '|' ORDER BY id) FROM queuecast.workflows w),
           (SELECT string_agg(p::text, '|' ORDER BY id) FROM queuecast.phases p),
           (SELECT string_agg(c::text, '|' ORDER BY seq) FROM queuecast.changes c),
           (SELECT r::text FROM queuecast.retention r),
           (SELECT last_value::text FROM queuecast.changes_seq)))
       || ' ' ||
       md5(concat_ws('/',
           (SELECT last_value::text FROM queuecast.phase_position_seq),
           (SELECT last_value::text FROM queuecast.phases_id_seq),
           (SELECT last_value::text FROM queuecast.workflows_id_seq)))
