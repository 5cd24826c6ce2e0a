#include "recorder.hpp"

#include <vector>

#include "commit_order.hpp"
#include "history_writer.hpp"
#include "pg_boundary.hpp"

namespace queuecast {

namespace {

// One buffered change. Nodes (and the texts their Datums point to) are
// palloc'd in the CurTransactionContext of the subtransaction that made the
// change, so a rolled-back savepoint's nodes are freed by PostgreSQL.
struct buffered_row {
  buffered_row* next;
  history_row row;
};

// Where the buffer ended before the first change of the subtransaction at
// nesting level `level`: rolling it back cuts the list there. Nodes before
// the mark live in an enclosing (still valid) context. Marks are made lazily,
// by the first change buffered inside a subtransaction, for it and every
// enclosing level that has none; so they are right even when this library
// was loaded inside a savepoint, and a savepoint without changes costs
// nothing.
struct savepoint_mark {
  int level;
  buffered_row* tail;
  std::size_t count;
};

struct buffer {
  buffered_row* head = nullptr;
  buffered_row* tail = nullptr;
  std::size_t count = 0;
  std::vector<savepoint_mark> marks;  // innermost last
};
buffer pending;

buffered_row* allocate_node() {
  return pg_call([] {
    return static_cast<buffered_row*>(
        MemoryContextAllocZero(CurTransactionContext, sizeof(buffered_row)));
  });
}

}  // namespace

void buffer_change(const change& c) {
  int level = GetCurrentTransactionNestLevel();
  for (int l = pending.marks.empty() ? 2 : pending.marks.back().level + 1; l <= level; ++l)
    pending.marks.push_back({l, pending.tail, pending.count});
  buffered_row* node = allocate_node();
  // The row's texts must outlive the trigger call: build them in the same
  // subtransaction memory as the node.
  MemoryContext caller = MemoryContextSwitchTo(CurTransactionContext);
  try {
    prepare_history_row(c, node->row);
  } catch (...) {
    MemoryContextSwitchTo(caller);
    throw;
  }
  MemoryContextSwitchTo(caller);
  if (pending.tail) {
    pending.tail->next = node;
  } else {
    pending.head = node;
  }
  pending.tail = node;
  ++pending.count;
}

std::size_t buffered_changes() {
  return pending.count;
}

void write_buffered() {
  if (pending.count == 0) return;
  history_writer writer;  // every relation lock, before the commit order
  enter_commit_order();
  for (buffered_row* node = pending.head; node; node = node->next) {
    std::int64_t seq = writer.insert(node->row);
    remember_for_notify(seq);
  }
  writer.close();
}

void buffer_subxact_aborted(int level) {
  if (pending.marks.empty() || pending.marks.back().level < level) return;
  savepoint_mark cut = pending.marks.back();
  while (!pending.marks.empty() && pending.marks.back().level >= level) {
    cut = pending.marks.back();
    pending.marks.pop_back();
  }
  // The cut-off nodes die with the subtransaction's memory.
  pending.tail = cut.tail;
  pending.count = cut.count;
  if (pending.tail) {
    pending.tail->next = nullptr;
  } else {
    pending.head = nullptr;
  }
}

void buffer_subxact_committed(int level) {
  // Its nodes now belong to the parent: only its mark goes.
  while (!pending.marks.empty() && pending.marks.back().level >= level) pending.marks.pop_back();
}

void forget_buffer() {
  // The nodes are freed with the transaction's memory.
  pending.head = pending.tail = nullptr;
  pending.count = 0;
  pending.marks.clear();
}

}  // namespace queuecast
