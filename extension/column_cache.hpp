// Per-relation facts the capture needs for every row: how to print each
// column as JSON, and where the key and status columns are. Built once per
// relation and dropped on relcache invalidation (ALTER TABLE, DROP ...).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "json_text.hpp"
#include "pg.hpp"

namespace queuecast {

struct column_info {
  std::string name;
  AttrNumber attnum;
  Oid type;
  json_kind kind;
  FmgrInfo output_fn;  // lives as long as the cache entry; fn_mcxt is TopMemoryContext
  bool typbyval;
  int16 typlen;
};

struct relation_columns {
  std::vector<column_info> columns;       // non-dropped columns in attnum order
  AttrNumber key = InvalidAttrNumber;     // id, or name for queues
  AttrNumber status = InvalidAttrNumber;  // status, or paused for queues
  AttrNumber queue = InvalidAttrNumber;   // phases/workflows: queue
  AttrNumber workflow_id = InvalidAttrNumber;
};

// The cached columns of rel, building them on first use. Shared ownership:
// an invalidation that arrives while a caller uses the entry cannot free it.
// May throw pg_error.
std::shared_ptr<const relation_columns> columns_of(Relation rel);

// Registers the invalidation callback; called once from _PG_init.
void register_column_cache_invalidation();

}  // namespace queuecast
