// queuecast.capture(): the trigger on queues, workflows and phases.
//
// Row events arrive as deferred constraint-trigger events, i.e. while the
// transaction commits; each enters the commit order, writes one history row
// and remembers the change for the transaction's single NOTIFY. A TRUNCATE
// (a statement event, which cannot be deferred) leaves a marker row in
// queuecast.truncations whose own deferred event writes the history row.
#include <cstring>

#include "commit_order.hpp"
#include "history_writer.hpp"
#include "pg_boundary.hpp"
#include "row_change.hpp"

namespace queuecast {

namespace {

enum class captured_table { phases, workflows, queues, truncations };

captured_table identify(Relation rel) {
  const char* name = RelationGetRelationName(rel);
  const char* schema = get_namespace_name(RelationGetNamespace(rel));
  if (schema && std::strcmp(schema, "queuecast") == 0) {
    if (std::strcmp(name, "phases") == 0) return captured_table::phases;
    if (std::strcmp(name, "workflows") == 0) return captured_table::workflows;
    if (std::strcmp(name, "queues") == 0) return captured_table::queues;
    if (std::strcmp(name, "truncations") == 0) return captured_table::truncations;
  }
  throw capture_error(
      ERRCODE_FEATURE_NOT_SUPPORTED,
      std::string("queuecast.capture() cannot capture table ") + name,
      "It captures only queuecast.queues, queuecast.workflows and queuecast.phases.");
}

entity_kind entity_of(captured_table table) {
  switch (table) {
    case captured_table::workflows:
      return entity_kind::workflow;
    case captured_table::queues:
      return entity_kind::queue;
    default:
      return entity_kind::phase;
  }
}

entity_kind entity_of_relname(const std::string& relname) {
  if (relname == "workflows") return entity_kind::workflow;
  if (relname == "queues") return entity_kind::queue;
  if (relname == "phases") return entity_kind::phase;
  throw capture_error(ERRCODE_DATA_CORRUPTED,
                      "queuecast.truncations holds an unknown table name: " + relname);
}

// Everything that can be done before entering the commit order is: the
// time spent inside it is serialised across all writers.
void record(const change& c) {
  history_row row;
  prepare_history_row(c, row);
  std::string notify_text = inline_json(c);
  enter_commit_order();
  std::int64_t seq = insert_history_row(row);
  set_inline_seq(notify_text, seq);
  remember_for_notify(seq, std::move(notify_text));
}

// The marker row's deferred event: write the TRUNCATE's history, drop the row.
void capture_truncate_marker(TriggerData* trigger) {
  bool is_null = false;
  Datum value =
      heap_getattr(trigger->tg_trigtuple, 1, RelationGetDescr(trigger->tg_relation), &is_null);
  if (is_null) throw capture_error(ERRCODE_DATA_CORRUPTED, "truncate marker without table name");
  char* relname = pg_call([&] { return TextDatumGetCString(value); });
  entity_kind entity = entity_of_relname(relname);
  record(describe_truncate(entity));
  delete_truncate_marker(&trigger->tg_trigtuple->t_self);
}

Datum capture(FunctionCallInfo fcinfo) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    throw capture_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                        "queuecast.capture() must be called as a trigger");
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  TriggerEvent event = trigger->tg_event;
  if (!TRIGGER_FIRED_AFTER(event)) {
    throw capture_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                        "queuecast.capture() must be an AFTER trigger");
  }
  captured_table table = identify(trigger->tg_relation);
  if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
    queue_truncate_marker(RelationGetRelationName(trigger->tg_relation));
    return PointerGetDatum(nullptr);
  }
  if (!TRIGGER_FIRED_FOR_ROW(event)) {
    throw capture_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                        "queuecast.capture() must be FOR EACH ROW (or AFTER TRUNCATE)");
  }
  if (table == captured_table::truncations) {
    capture_truncate_marker(trigger);
    return PointerGetDatum(nullptr);
  }
  change c;
  if (describe_row_change(entity_of(table), trigger, c)) record(c);
  return PointerGetDatum(nullptr);
}

}  // namespace

}  // namespace queuecast

extern "C" {

PGDLLEXPORT Datum queuecast_capture(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(queuecast_capture);

Datum queuecast_capture(PG_FUNCTION_ARGS) {
  return queuecast::run_guarded([fcinfo] { return queuecast::capture(fcinfo); });
}

}  // extern "C"
