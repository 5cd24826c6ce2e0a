// queuecast.capture(): the trigger on queues, workflows and phases.
//
// Row events arrive at the end of each statement (AFTER ROW triggers), a
// TRUNCATE as an AFTER TRUNCATE statement event: each is described
// (row_change) and buffered (recorder) in the order it fires, and the whole
// buffer is written in commit order at pre-commit.
#include <cstring>

#include "pg_boundary.hpp"
#include "recorder.hpp"
#include "row_change.hpp"
#include "version_check.hpp"

namespace queuecast {

namespace {

enum class captured_table { phases, workflows, queues };

captured_table identify(Relation rel) {
  const char* name = RelationGetRelationName(rel);
  const char* schema = get_namespace_name(RelationGetNamespace(rel));
  if (schema && std::strcmp(schema, "queuecast") == 0) {
    if (std::strcmp(name, "phases") == 0) return captured_table::phases;
    if (std::strcmp(name, "workflows") == 0) return captured_table::workflows;
    if (std::strcmp(name, "queues") == 0) return captured_table::queues;
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
    case captured_table::phases:
      break;
  }
  return entity_kind::phase;
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
  require_matching_sql_version();
  captured_table table = identify(trigger->tg_relation);
  if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
    buffer_change(describe_truncate(entity_of(table)));
    return PointerGetDatum(nullptr);
  }
  if (!TRIGGER_FIRED_FOR_ROW(event)) {
    throw capture_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                        "queuecast.capture() must be FOR EACH ROW (or AFTER TRUNCATE)");
  }
  change c;
  if (describe_row_change(entity_of(table), trigger, c)) buffer_change(c);
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
