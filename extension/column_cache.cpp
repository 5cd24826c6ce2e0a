#include "column_cache.hpp"

#include <cstring>
#include <memory>
#include <unordered_map>

#include "pg_boundary.hpp"

extern "C" {
#include "utils/inval.h"
}

namespace queuecast {

namespace {

std::unordered_map<Oid, std::shared_ptr<const relation_columns>> cache;

// Relcache invalidations arrive outside any C++ frame of ours; erasing map
// entries cannot fail, so no guard is needed here.
void invalidate(Datum, Oid relid) {
  if (relid == InvalidOid) {
    cache.clear();
  } else {
    cache.erase(relid);
  }
}

column_info describe(Form_pg_attribute attr) {
  column_info info;
  info.name = NameStr(attr->attname);
  info.attnum = attr->attnum;
  info.type = attr->atttypid;
  info.kind = json_kind_for_type(attr->atttypid);
  info.typbyval = attr->attbyval;
  info.typlen = attr->attlen;
  Oid output_oid = InvalidOid;
  bool is_varlena = false;
  Oid type = attr->atttypid;
  FmgrInfo* fn = &info.output_fn;
  pg_call([&] {
    getTypeOutputInfo(type, &output_oid, &is_varlena);
    fmgr_info_cxt(output_oid, fn, TopMemoryContext);
  });
  return info;
}

std::shared_ptr<const relation_columns> build(Relation rel) {
  auto result = std::make_shared<relation_columns>();
  TupleDesc desc = RelationGetDescr(rel);
  bool is_queues = std::strcmp(RelationGetRelationName(rel), "queues") == 0;
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute attr = TupleDescAttr(desc, i);
    if (attr->attisdropped) continue;
    result->columns.push_back(describe(attr));
    const std::string& name = result->columns.back().name;
    if (name == (is_queues ? "name" : "id")) result->key = attr->attnum;
    if (name == (is_queues ? "paused" : "status")) result->status = attr->attnum;
    if (name == "queue") result->queue = attr->attnum;
    if (name == "workflow_id") result->workflow_id = attr->attnum;
  }
  if (result->key == InvalidAttrNumber) {
    throw capture_error(ERRCODE_UNDEFINED_COLUMN,
                        std::string("table ") + RelationGetRelationName(rel) +
                            " has no key column; queuecast.capture() only captures "
                            "queuecast.queues, workflows and phases");
  }
  return result;
}

}  // namespace

std::shared_ptr<const relation_columns> columns_of(Relation rel) {
  Oid relid = RelationGetRelid(rel);
  auto found = cache.find(relid);
  if (found != cache.end()) return found->second;
  auto built = build(rel);
  cache[relid] = built;
  return built;
}

void register_column_cache_invalidation() {
  CacheRegisterRelcacheCallback(invalidate, 0);
}

}  // namespace queuecast
