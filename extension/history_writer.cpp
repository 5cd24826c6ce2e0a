// History is inserted through SPI with plans prepared once per backend and
// kept; PostgreSQL revalidates them if the extension is re-created.
#include "history_writer.hpp"

#include "commit_order.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/xid8.h"
}

namespace queuecast {

namespace {

constexpr int history_params = 13;
SPIPlanPtr insert_history_plan = nullptr;
SPIPlanPtr insert_marker_plan = nullptr;
SPIPlanPtr delete_marker_plan = nullptr;

const char* const insert_history_sql =
    "INSERT INTO queuecast.changes (seq, topic, entity, key, op, old_status, new_status, data, "
    "old_data, txid, committed_at, role_name, application_name) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, $13)";

// --- PostgreSQL calls only below this line until the public functions: they
// --- run inside pg_call and hold no C++ objects with destructors.

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

Oid history_owner() {
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(queuecast_relid("changes")));
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "queuecast: cache lookup failed for queuecast.changes");
  Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
  ReleaseSysCache(tuple);
  return owner;
}

// Prepares sql once and keeps the plan for the backend's lifetime.
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

void execute(SPIPlanPtr plan, Datum* values, const char* nulls, int expected) {
  int rc = SPI_execute_plan(plan, values, nulls, false, 0);
  if (rc != expected)
    elog(ERROR, "queuecast: history write failed: %s", SPI_result_code_string(rc));
}

// Runs body connected to SPI as the owner of queuecast.changes, so writers
// need no privilege on the history. On ERROR, transaction abort restores the
// user id and security context.
template <typename F>
void with_spi_as_history_owner(F&& body) {
  Oid saved_user;
  int saved_context;
  GetUserIdAndSecContext(&saved_user, &saved_context);
  SetUserIdAndSecContext(history_owner(), saved_context | SECURITY_LOCAL_USERID_CHANGE);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "queuecast: SPI_connect failed");
  body();
  SPI_finish();
  SetUserIdAndSecContext(saved_user, saved_context);
}

Datum text_datum(const std::string& s) {
  return PointerGetDatum(cstring_to_text_with_len(s.data(), (int)s.size()));
}

Datum optional_text(const std::optional<std::string>& value, char* null_flag) {
  *null_flag = value ? ' ' : 'n';
  return value ? text_datum(*value) : (Datum)0;
}

void insert_history(const change& c, Oid writer, int64* seq_out) {
  Oid types[history_params] = {INT8OID, TEXTOID, TEXTOID, TEXTOID,        TEXTOID, TEXTOID, TEXTOID,
                               TEXTOID, TEXTOID, XID8OID, TIMESTAMPTZOID, NAMEOID, TEXTOID};
  SPIPlanPtr plan = prepared(&insert_history_plan, insert_history_sql, history_params, types);
  Datum values[history_params];
  char nulls[history_params + 1];
  memset(nulls, ' ', history_params);
  nulls[history_params] = '\0';
  int64 seq = nextval_internal(queuecast_relid("changes_seq"), false);
  values[0] = Int64GetDatum(seq);
  values[1] = text_datum(c.topic);
  values[2] = text_datum(c.entity);
  values[3] = text_datum(c.key);
  values[4] = CStringGetTextDatum(c.op);
  values[5] = optional_text(c.old_status, &nulls[5]);
  values[6] = optional_text(c.new_status, &nulls[6]);
  values[7] = optional_text(c.data, &nulls[7]);
  values[8] = optional_text(c.old_data, &nulls[8]);
  values[9] = FullTransactionIdGetDatum(GetTopFullTransactionId());
  values[10] = TimestampTzGetDatum(commit_timestamp());
  values[11] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(writer, false)));
  values[12] =
      (application_name && application_name[0]) ? CStringGetTextDatum(application_name) : (Datum)0;
  if (!(application_name && application_name[0])) nulls[12] = 'n';
  execute(plan, values, nulls, SPI_OK_INSERT);
  *seq_out = seq;
}

}  // namespace

std::int64_t write_history(const change& c) {
  int64 seq = 0;
  Oid writer = GetUserId();  // before switching to the owner
  pg_call([&] { with_spi_as_history_owner([&] { insert_history(c, writer, &seq); }); });
  return seq;
}

void queue_truncate_marker(const char* relname) {
  pg_call([&] {
    with_spi_as_history_owner([&] {
      Oid types[1] = {TEXTOID};
      SPIPlanPtr plan = prepared(
          &insert_marker_plan, "INSERT INTO queuecast.truncations (relname) VALUES ($1)", 1, types);
      Datum values[1] = {CStringGetTextDatum(relname)};
      execute(plan, values, nullptr, SPI_OK_INSERT);
    });
  });
}

void delete_truncate_marker(ItemPointer tid) {
  pg_call([&] {
    with_spi_as_history_owner([&] {
      Oid types[1] = {TIDOID};
      SPIPlanPtr plan = prepared(&delete_marker_plan,
                                 "DELETE FROM queuecast.truncations WHERE ctid = $1", 1, types);
      Datum values[1] = {PointerGetDatum(tid)};
      execute(plan, values, nullptr, SPI_OK_DELETE);
    });
  });
}

}  // namespace queuecast
