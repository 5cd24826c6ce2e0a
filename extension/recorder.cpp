#include "recorder.hpp"

#include <vector>

#include "commit_order.hpp"
#include "history_writer.hpp"
#include "pg_boundary.hpp"

namespace queuecast {

namespace {

struct pending_truncate {
  entity_kind entity;
  SubTransactionId origin;      // where the TRUNCATE ran
  SubTransactionId written_in;  // where its history row was written; invalid: not yet
};
std::vector<pending_truncate> truncates;

void write(const change& c) {
  // Everything that can be done before entering the commit order is: the
  // time spent inside it is serialised across all writers.
  history_row row;
  prepare_history_row(c, row);
  enter_commit_order();
  std::int64_t seq = insert_history_row(row);
  remember_for_notify(seq);
}

}  // namespace

void flush_truncates() {
  for (pending_truncate& t : truncates) {
    if (t.written_in != InvalidSubTransactionId) continue;
    write(describe_truncate(t.entity));
    t.written_in = GetCurrentSubTransactionId();
  }
}

void record(const change& c) {
  flush_truncates();
  write(c);
}

void remember_truncate(entity_kind entity) {
  truncates.push_back({entity, GetCurrentSubTransactionId(), InvalidSubTransactionId});
}

bool has_pending_truncates() {
  return !truncates.empty();
}

void truncates_subxact_aborted(SubTransactionId sub) {
  std::erase_if(truncates, [&](const pending_truncate& t) { return t.origin == sub; });
  for (pending_truncate& t : truncates) {
    if (t.written_in == sub) t.written_in = InvalidSubTransactionId;
  }
}

void truncates_subxact_committed(SubTransactionId sub, SubTransactionId parent) {
  for (pending_truncate& t : truncates) {
    if (t.origin == sub) t.origin = parent;
    if (t.written_in == sub) t.written_in = parent;
  }
}

void forget_truncates() {
  truncates.clear();
}

}  // namespace queuecast
