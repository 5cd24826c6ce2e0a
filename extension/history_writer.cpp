#include "history_writer.hpp"

#include "commit_order.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/xid8.h"
}

namespace queuecast {

namespace {

SPIPlanPtr insert_marker_plan = nullptr;
SPIPlanPtr delete_marker_plan = nullptr;

// Column numbers (0-based) of queuecast.changes; the SQL script defines the
// same order.
enum history_column {
  col_seq,
  col_topic,
  col_entity,
  col_key,
  col_op,
  col_old_status,
  col_new_status,
  col_data,
  col_old_data,
  col_txid,
  col_committed_at,
  col_role_name,
  col_application_name
};

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
  row.values[col_role_name] =
      DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
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

// Heap insert plus index entries, without planning a query (this runs under
// the commit-order lock). Plain indexes are written directly; when a site has
// added any other kind, the executor's index machinery writes them all, the
// way logical replication apply writes rows. CHECK constraints and triggers on the
// history table do not run: the capture trigger is its only writer.
int64 insert_row(history_row& row) {
  Relation rel = table_open(queuecast_relid("changes"), RowExclusiveLock);
  if (RelationGetDescr(rel)->natts != history_columns) {
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("queuecast: table queuecast.changes has %d columns, expected %d",
                           RelationGetDescr(rel)->natts, history_columns),
                    errhint("Do not alter queuecast.changes; re-create the extension.")));
  }
  int64 seq = nextval_internal(queuecast_relid("changes_seq"), false);
  row.values[col_seq] = Int64GetDatum(seq);
  row.values[col_committed_at] = TimestampTzGetDatum(commit_timestamp());

  HeapTuple tuple = heap_form_tuple(RelationGetDescr(rel), row.values, row.nulls);
  simple_heap_insert(rel, tuple);

  ResultRelInfo result_rel;
  InitResultRelInfo(&result_rel, rel, 1, nullptr, 0);
  ExecOpenIndices(&result_rel, false);
  TupleTableSlot* slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
  ExecStoreHeapTuple(tuple, slot, false);
  slot->tts_tid = tuple->t_self;
  if (all_plain_indexes(result_rel)) {
    insert_plain_index_entries(rel, result_rel, slot, &tuple->t_self);
  } else {
    // A site added an expression or partial index: the executor handles those.
    EState* estate = CreateExecutorState();
    list_free(ExecInsertIndexTuples(&result_rel, slot, estate, false, false, nullptr, NIL));
    FreeExecutorState(estate);
  }
  ExecDropSingleTupleTableSlot(slot);
  ExecCloseIndices(&result_rel);
  table_close(rel, NoLock);
  return seq;
}

// Prepares sql once and keeps the plan for the backend's lifetime; PostgreSQL
// revalidates it if the extension is re-created.
SPIPlanPtr prepared(SPIPlanPtr* slot, const char* sql, int nargs, Oid* types) {
  if (*slot == nullptr) {
    SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
    if (plan == nullptr) {
      elog(ERROR, "queuecast: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    }
    SPI_keepplan(plan);
    *slot = plan;
  }
  return *slot;
}

// Runs one statement on the marker table as the extension's owner, so that a
// writer allowed to TRUNCATE needs no privilege on queuecast.truncations. On
// ERROR, transaction abort restores the user id and security context.
void run_marker_statement(SPIPlanPtr* slot, const char* sql, Oid type, Datum value, int expected) {
  Oid saved_user;
  int saved_context;
  GetUserIdAndSecContext(&saved_user, &saved_context);
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(queuecast_relid("truncations")));
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "queuecast: cache lookup failed for truncations");
  Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
  ReleaseSysCache(tuple);
  SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "queuecast: SPI_connect failed");
  SPIPlanPtr plan = prepared(slot, sql, 1, &type);
  int rc = SPI_execute_plan(plan, &value, nullptr, false, 0);
  if (rc != expected) elog(ERROR, "queuecast: %s failed: %s", sql, SPI_result_code_string(rc));
  SPI_finish();
  SetUserIdAndSecContext(saved_user, saved_context);
}

}  // namespace

void prepare_history_row(const change& c, history_row& row) {
  pg_call([&] { fill_row(c, row); });
}

std::int64_t insert_history_row(history_row& row) {
  return pg_call([&] { return insert_row(row); });
}

void queue_truncate_marker(const char* relname) {
  pg_call([&] {
    run_marker_statement(&insert_marker_plan,
                         "INSERT INTO queuecast.truncations (relname) VALUES ($1)", TEXTOID,
                         CStringGetTextDatum(relname), SPI_OK_INSERT);
  });
}

void delete_truncate_marker(ItemPointer tid) {
  pg_call([&] {
    run_marker_statement(&delete_marker_plan, "DELETE FROM queuecast.truncations WHERE ctid = $1",
                         TIDOID, PointerGetDatum(tid), SPI_OK_DELETE);
  });
}

}  // namespace queuecast
