#include "replay.hpp"

#include <set>

#include "topic_names.hpp"

namespace queuecast {

namespace {

// Which topic the replay is for: exactly one of the three is set.
struct replay_scope {
  std::optional<std::string_view> queue;  // queue:<name>
  std::optional<std::int64_t> workflow;   // workflow:<id>
  bool workflows = false;                 // the workflows list
  std::string queue_topic;                // queue:<name> as history rows spell it
  std::string workflow_key;               // <id> as history keys spell it
};

replay_scope scope_of(std::string_view topic) {
  replay_scope scope;
  scope.queue = queue_of_topic(topic);
  scope.workflow = workflow_of_topic(topic);
  scope.workflows = topic == workflows_topic;
  if (scope.queue) scope.queue_topic = std::string(topic);
  if (scope.workflow) scope.workflow_key = std::to_string(*scope.workflow);
  return scope;
}

// A history key that must be an id; std::stoll throws std::logic_error.
std::int64_t key_id(const std::string& key) {
  return std::stoll(key);
}

// The items rows touched since the client's seq. Rows come in seq order: an
// item whose first row brought it into the topic was not in the client's
// state, so if it is gone again there is nothing to remove.
struct touched_items {
  std::set<std::int64_t> phases, workflows, arrived_later;
  bool queue_row = false;     // the topic's queue changed (paused)
  bool workflow_row = false;  // the topic's workflow changed (its head)

  void note(std::set<std::int64_t>& items, std::int64_t id, bool arrival) {
    if (items.insert(id).second && arrival) arrived_later.insert(id);
  }
};

// A phase row of a queue topic: in the queue now (topic) or moved out of it.
void note_queue_phase(const replay_scope& scope, const touched_row& r, touched_items& t) {
  if (r.topic != scope.queue_topic && r.old_queue != *scope.queue) return;
  bool moved_in = !r.old_queue.empty() && r.old_queue != *scope.queue;
  t.note(t.phases, key_id(r.key), r.op == "INSERT" || moved_in);
}

// A phase row of a workflow topic: naming the workflow now or before, or of
// a phase in it now (an update that did not change workflow_id names none).
void note_workflow_phase(const tables& now, const replay_scope& scope, const touched_row& r,
                         touched_items& t) {
  std::int64_t id = key_id(r.key);
  const tables::phase_row* phase = now.find_phase(id);
  bool member_now = phase && phase->workflow == scope.workflow;
  if (r.workflow != scope.workflow_key && r.old_workflow != scope.workflow_key && !member_now)
    return;
  bool moved_in = r.op == "UPDATE" && r.workflow == scope.workflow_key &&
                  r.old_workflow != scope.workflow_key && !r.workflow.empty();
  t.note(t.phases, id, r.op == "INSERT" || moved_in);
}

// Every row since the client's seq, sorted into what it touched; nullopt
// when ops cannot express it.
std::optional<touched_items> collect(const tables& now, const replay_scope& scope,
                                     const std::vector<touched_row>& rows) {
  touched_items t;
  for (const touched_row& r : rows) {
    if (r.op == "TRUNCATE") return std::nullopt;
    if (r.entity == "queue") {
      bool ours = scope.queue && r.key == *scope.queue;
      if (ours && (r.op == "DELETE" || r.op == "INSERT")) return std::nullopt;  // re-created
      t.queue_row |= ours;
    } else if (r.entity == "workflow") {
      if (scope.workflows) t.note(t.workflows, key_id(r.key), r.op == "INSERT");
      t.workflow_row |= scope.workflow && r.key == scope.workflow_key;
    } else if (scope.queue) {
      note_queue_phase(scope, r, t);
    } else if (scope.workflow) {
      note_workflow_phase(now, scope, r, t);
    }
  }
  return t;
}

json::object op_upsert(const char* field, const json::object& item) {
  return json::object{{"op", "upsert"}, {field, item}};
}
json::object op_remove(std::int64_t id) {
  return json::object{{"op", "remove"}, {"id", id}};
}

// Each touched workflow of the list as it is now, or its removal.
void workflow_list_ops(const tables& now, const touched_items& t, json::array& ops) {
  for (std::int64_t id : t.workflows) {
    if (const tables::workflow_row* w = now.find_workflow(id)) {
      ops.push_back(op_upsert("workflow", w->doc));
    } else if (!t.arrived_later.count(id)) {
      ops.push_back(op_remove(id));
    }
  }
}

// The queue's flag, the workflow's head: sent as they are now when touched.
void head_ops(const tables& now, const replay_scope& scope, const touched_items& t,
              json::array& ops) {
  if (t.queue_row) {
    ops.push_back(json::object{{"op", "paused"}, {"value", now.find_queue(*scope.queue)->paused}});
  }
  if (t.workflow_row) {
    const tables::workflow_row* w = now.find_workflow(*scope.workflow);
    ops.push_back(
        json::object{{"op", "workflow"}, {"workflow", w ? json::value(w->doc) : json::value()}});
  }
}

// Each touched phase as it is now if it belongs to the topic, or its removal.
void phase_ops(const tables& now, const replay_scope& scope, const touched_items& t,
               json::array& ops) {
  for (std::int64_t id : t.phases) {
    const tables::phase_row* phase = now.find_phase(id);
    bool belongs =
        phase && (scope.queue ? phase->queue == *scope.queue : phase->workflow == scope.workflow);
    if (belongs) {
      ops.push_back(op_upsert("phase", phase->doc));
    } else if (!t.arrived_later.count(id)) {
      ops.push_back(op_remove(id));
    }
  }
}

}  // namespace

std::optional<json::array> replay_ops(const tables& now, std::string_view topic,
                                      const std::vector<touched_row>& rows) {
  replay_scope scope = scope_of(topic);
  std::optional<touched_items> touched = collect(now, scope, rows);
  if (!touched) return std::nullopt;
  json::array ops;
  workflow_list_ops(now, *touched, ops);
  head_ops(now, scope, *touched, ops);
  phase_ops(now, scope, *touched, ops);
  return ops;
}

}  // namespace queuecast
