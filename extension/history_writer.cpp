#include "history_writer.hpp"

#include <utility>

#include "commit_order.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/xid8.h"
}

namespace queuecast {

namespace {

// Where each history_column sits in queuecast.changes, found by name the
// first time a backend writes history and again after the table changes.
struct layout {
  Oid relid = InvalidOid;
  int natts = 0;
  AttrNumber attnum[history_columns];
};
layout cached_layout;

struct expected_column {
  const char* name;
  Oid type;
};
// Indexed by history_column.
constexpr expected_column expected[history_columns] = {{"seq", INT8OID},
                                                       {"topic", TEXTOID},
                                                       {"entity", TEXTOID},
                                                       {"key", TEXTOID},
                                                       {"op", TEXTOID},
                                                       {"old_status", TEXTOID},
                                                       {"new_status", TEXTOID},
                                                       {"data", JSONOID},
                                                       {"old_data", JSONOID},
                                                       {"txid", XID8OID},
                                                       {"committed_at", TIMESTAMPTZOID},
                                                       {"role_name", NAMEOID},
                                                       {"application_name", TEXTOID}};

void invalidate_layout(Datum, Oid relid) {
  if (relid == InvalidOid || relid == cached_layout.relid) cached_layout.relid = InvalidOid;
}

// --- PostgreSQL calls only from here to the public functions: these run
// --- inside pg_call and hold no C++ objects with destructors.

Oid queuecast_relid(const char* name) {
  Oid relid = get_relname_relid(name, get_namespace_oid("queuecast", false));
  if (!OidIsValid(relid)) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("queuecast: relation queuecast.%s is missing", name),
                    errhint("Re-create the extension: DROP EXTENSION queuecast; "
                            "CREATE EXTENSION queuecast;")));
  }
  return relid;
}

Datum text_datum(const std::string& s) {
  return PointerGetDatum(cstring_to_text_with_len(s.data(), (int)s.size()));
}

void fill_row(const change& c, history_row& row) {
  for (bool& null_flag : row.nulls) null_flag = false;
  row.values[col_seq] = 0;
  row.values[col_topic] = text_datum(c.topic);
  row.values[col_entity] = text_datum(c.entity);
  row.values[col_key] = text_datum(c.key);
  row.values[col_op] = CStringGetTextDatum(c.op);
  row.nulls[col_old_status] = !c.old_status;
  if (c.old_status) row.values[col_old_status] = text_datum(*c.old_status);
  row.nulls[col_new_status] = !c.new_status;
  if (c.new_status) row.values[col_new_status] = text_datum(*c.new_status);
  row.nulls[col_data] = !c.data;
  if (c.data) row.values[col_data] = text_datum(*c.data);
  row.nulls[col_old_data] = !c.old_data;
  if (c.old_data) row.values[col_old_data] = text_datum(*c.old_data);
  row.values[col_txid] = FullTransactionIdGetDatum(GetTopFullTransactionId());
  row.values[col_committed_at] = 0;
  // The session's role (after SET ROLE), not the owner of a SECURITY DEFINER
  // function that made the change: the API functions run as their owner.
  row.values[col_role_name] =
      DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
  bool has_application = application_name && application_name[0];
  row.nulls[col_application_name] = !has_application;
  if (has_application) row.values[col_application_name] = CStringGetTextDatum(application_name);
}

// A plain index holds key columns only: no expressions, no predicate, no
// exclusion or deferred constraint. The primary key is one.
bool is_plain_index(Relation index, IndexInfo* info) {
  return info->ii_Expressions == NIL && info->ii_Predicate == NIL &&
         info->ii_ExclusionOps == nullptr && index->rd_index->indimmediate;
}

bool all_plain_indexes(const ResultRelInfo& result_rel) {
  for (int i = 0; i < result_rel.ri_NumIndices; ++i) {
    if (!is_plain_index(result_rel.ri_IndexRelationDescs[i], result_rel.ri_IndexRelationInfo[i])) {
      return false;
    }
  }
  return true;
}

void insert_plain_index_entries(Relation rel, const ResultRelInfo& result_rel, TupleTableSlot* slot,
                                ItemPointer tid) {
  for (int i = 0; i < result_rel.ri_NumIndices; ++i) {
    Relation index = result_rel.ri_IndexRelationDescs[i];
    IndexInfo* info = result_rel.ri_IndexRelationInfo[i];
    if (!info->ii_ReadyForInserts) continue;  // being built concurrently
    Datum values[INDEX_MAX_KEYS];
    bool nulls[INDEX_MAX_KEYS];
    FormIndexDatum(info, slot, nullptr, values, nulls);
    IndexUniqueCheck check = index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
    index_insert(index, values, nulls, tid, rel, check, false, info);
  }
}

[[noreturn]] void layout_error(const char* detail, const char* column) {
  ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                  errmsg("queuecast: table queuecast.changes %s \"%s\"", detail, column),
                  errhint("Columns of queuecast.changes must keep their names and types; "
                          "columns a site adds must be nullable. Restore the column or "
                          "re-create the extension.")));
}

// Finds our columns by name and checks their types: a Datum of the wrong type
// written straight into the heap would corrupt the table.
const layout& layout_of(Relation rel) {
  if (cached_layout.relid == RelationGetRelid(rel)) return cached_layout;
  TupleDesc desc = RelationGetDescr(rel);
  layout found;
  for (int c = 0; c < history_columns; ++c) found.attnum[c] = InvalidAttrNumber;
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute attr = TupleDescAttr(desc, i);
    if (attr->attisdropped) continue;
    bool ours = false;
    for (int c = 0; c < history_columns; ++c) {
      if (strcmp(NameStr(attr->attname), expected[c].name) != 0) continue;
      if (attr->atttypid != expected[c].type)
        layout_error("has a changed type in column", expected[c].name);
      found.attnum[c] = attr->attnum;
      ours = true;
    }
    if (!ours && attr->attnotnull)
      layout_error("has a NOT NULL column the capture cannot fill:", NameStr(attr->attname));
  }
  for (int c = 0; c < history_columns; ++c) {
    if (found.attnum[c] == InvalidAttrNumber) layout_error("is missing column", expected[c].name);
  }
  found.natts = desc->natts;
  found.relid = RelationGetRelid(rel);
  cached_layout = found;
  return cached_layout;
}

}  // namespace

// What a transaction's history writes need, opened once before the commit
// order and used for every row inside it.
struct history_target {
  Relation rel;
  layout columns;            // a copy: an invalidation may reset the cache meanwhile
  ResultRelInfo result_rel;  // the history's open indexes
  bool plain_indexes;
  TupleTableSlot* slot;  // for forming index entries
  Oid seq_relid;
  Datum* values;  // a whole row of the history table, by attnum - 1
  bool* nulls;
};

namespace {

// Opens the history and its indexes and locks the seq sequence: every
// relation lock an insert takes, taken here, outside the commit order.
// REINDEX CONCURRENTLY locks an index, not the table, when it swaps it, so
// the indexes are locked one by one (ExecOpenIndices). Not the TOAST table:
// LOCK TABLE refuses it, and whatever else locks it exclusively (VACUUM FULL,
// ALTER TABLE, TRUNCATE) locks the history itself first.
history_target* open_target() {
  auto* target = static_cast<history_target*>(palloc0(sizeof(history_target)));
  target->rel = table_open(queuecast_relid("changes"), RowExclusiveLock);
  target->columns = layout_of(target->rel);
  InitResultRelInfo(&target->result_rel, target->rel, 1, nullptr, 0);
  ExecOpenIndices(&target->result_rel, false);
  target->plain_indexes = all_plain_indexes(target->result_rel);
  target->slot = MakeSingleTupleTableSlot(RelationGetDescr(target->rel), &TTSOpsHeapTuple);
  target->seq_relid = queuecast_relid("changes_seq");
  LockRelationOid(target->seq_relid, RowExclusiveLock);
  int natts = target->columns.natts;
  target->values = static_cast<Datum*>(palloc0(natts * sizeof(Datum)));
  target->nulls = static_cast<bool*>(palloc(natts * sizeof(bool)));
  for (int i = 0; i < natts; ++i) target->nulls[i] = true;  // dropped or a site's own column
  return target;
}

// Heap insert plus index entries, without planning a query (this runs under
// the commit-order lock). Plain indexes are written directly; when a site has
// added any other kind, the executor's index machinery writes them all, the
// way logical replication apply writes rows. CHECK constraints and triggers on the
// history table do not run: the capture trigger is its only writer.
int64 insert_row(history_target* target, history_row& row) {
  int64 seq = nextval_internal(target->seq_relid, false);
  row.values[col_seq] = Int64GetDatum(seq);
  row.values[col_committed_at] = TimestampTzGetDatum(commit_timestamp());
  for (int c = 0; c < history_columns; ++c) {
    target->values[target->columns.attnum[c] - 1] = row.values[c];
    target->nulls[target->columns.attnum[c] - 1] = row.nulls[c];
  }
  Relation rel = target->rel;
  HeapTuple tuple = heap_form_tuple(RelationGetDescr(rel), target->values, target->nulls);
  simple_heap_insert(rel, tuple);

  TupleTableSlot* slot = target->slot;
  ExecStoreHeapTuple(tuple, slot, false);
  slot->tts_tid = tuple->t_self;
  if (target->plain_indexes) {
    insert_plain_index_entries(rel, target->result_rel, slot, &tuple->t_self);
  } else {
    // A site added an expression or partial index: the executor handles those.
    EState* estate = CreateExecutorState();
    list_free(ExecInsertIndexTuples(&target->result_rel, slot, estate, false, false, nullptr, NIL));
    FreeExecutorState(estate);
  }
  ExecClearTuple(slot);
  heap_freetuple(tuple);  // a transaction of a million changes does not keep them all
  return seq;
}

void close_target(history_target* target) {
  ExecDropSingleTupleTableSlot(target->slot);
  ExecCloseIndices(&target->result_rel);
  table_close(target->rel, NoLock);
  pfree(target->values);
  pfree(target->nulls);
  pfree(target);
}

}  // namespace

history_writer::history_writer() : target_(pg_call([] { return open_target(); })) {}

std::int64_t history_writer::insert(history_row& row) {
  history_target* target = target_;
  return pg_call([&] { return insert_row(target, row); });
}

void history_writer::close() {
  if (!target_) return;
  history_target* target = std::exchange(target_, nullptr);
  pg_call([&] { close_target(target); });
}

void prepare_history_row(const change& c, history_row& row) {
  pg_call([&] { fill_row(c, row); });
}

void register_history_layout_invalidation() {
  CacheRegisterRelcacheCallback(invalidate_layout, 0);
}

}  // namespace queuecast
