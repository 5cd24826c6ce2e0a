// Module entry: PG_MODULE_MAGIC and the callbacks registered at load time.
#include "column_cache.hpp"
#include "commit_lock.hpp"
#include "commit_order.hpp"
#include "doorbell.hpp"
#include "history_writer.hpp"
#include "pg.hpp"

extern "C" {

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

void _PG_init(void) {
  queuecast::register_commit_order_callbacks();
  queuecast::register_column_cache_invalidation();
  queuecast::register_history_layout_invalidation();
  queuecast::doorbell_init();
  queuecast::commit_lock::init();
}

}  // extern "C"
