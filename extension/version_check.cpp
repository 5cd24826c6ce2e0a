#include "version_check.hpp"

#include <optional>
#include <string>

#include "pg_boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
}

#ifndef QUEUECAST_VERSION
#error "QUEUECAST_VERSION must be defined by the build (default_version of queuecast.control)"
#endif

namespace queuecast {

namespace {

bool matched = false;

// pg_extension.extversion of queuecast in this database, palloc'd; null when
// the extension is not installed. PostgreSQL calls only.
char* installed_version() {
  Oid extension = get_extension_oid("queuecast", true);
  if (!OidIsValid(extension)) return nullptr;
  Relation catalog = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(extension));
  SysScanDesc scan = systable_beginscan(catalog, ExtensionOidIndexId, true, nullptr, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  char* version = nullptr;
  if (HeapTupleIsValid(tuple)) {
    bool is_null = false;
    Datum value =
        heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(catalog), &is_null);
    if (!is_null) version = text_to_cstring(DatumGetTextPP(value));
  }
  systable_endscan(scan);
  table_close(catalog, AccessShareLock);
  return version;
}

}  // namespace

void require_matching_sql_version() {
  if (matched) return;
  char* found = pg_call([] { return installed_version(); });
  std::string library = QUEUECAST_VERSION;
  if (found == nullptr) {
    throw capture_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "the queuecast extension is not installed in this database",
                        "Run CREATE EXTENSION queuecast;");
  }
  std::string sql = found;
  pfree(found);
  if (sql == library) {
    matched = true;
    return;
  }
  throw capture_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                      "the loaded library is version " + library +
                          " but this database's queuecast SQL objects are version " + sql +
                          "; nothing was captured",
                      "Run ALTER EXTENSION queuecast UPDATE; as the extension's owner (to " +
                          library + "), or install the queuecast library of version " + sql +
                          " and reconnect.");
}

}  // namespace queuecast
