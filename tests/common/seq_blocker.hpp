// A statement that holds queuecast.changes' next seq in an open transaction,
// as a superuser writing history by hand would. The next capturing writer
// draws that seq under the commit-order lock and then waits, in the primary
// key's uniqueness check, until the transaction ends: a stall inside the lock
// that no writer can avoid (a writer takes its table locks before the
// commit-order lock, so LOCK TABLE stalls it outside). Run it inside BEGIN.
#pragma once

namespace qc_test {

inline constexpr const char* hold_next_seq_sql =
    "INSERT INTO queuecast.changes (seq, topic, entity, key, op, txid, committed_at, role_name) "
    "SELECT last_value + 1, 'queue:default', 'phase', '0', 'INSERT', pg_current_xact_id(), "
    "now(), current_user FROM queuecast.changes_seq";

}  // namespace qc_test
