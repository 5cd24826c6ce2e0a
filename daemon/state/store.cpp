#include "store.hpp"

#include <stdexcept>

#include "ordering.hpp"
#include "topic_names.hpp"

namespace queuecast {

namespace {

// The document fields of a history row's data (payload and others are not shown).
json::object pick(const json::value& data, bool (*is_key)(std::string_view)) {
  json::object out;
  if (!data.is_object()) return out;
  for (const auto& field : data.as_object()) {
    if (is_key(field.key())) out[field.key()] = field.value();
  }
  return out;
}

std::string event_type(const json::object* before, const json::object& after) {
  if (!before) return "phase_created";
  const json::value& status = after.at("status");
  if (status == before->at("status")) return "phase_updated";
  if (status == "running") return "phase_started";
  if (status == "completed") return "phase_completed";
  if (status == "failed") return "phase_failed";
  return "phase_updated";
}

json::object op_upsert(const char* field, const json::object& item) {
  return json::object{{"op", "upsert"}, {field, item}};
}
json::object op_remove(std::int64_t id) {
  return json::object{{"op", "remove"}, {"id", id}};
}
json::object op_paused(bool paused) {
  return json::object{{"op", "paused"}, {"value", paused}};
}

}  // namespace

// ------------------------------------------------------------------ loading

void state_builder::add_queue(std::string name, const json::object& snapshot) {
  tables_.drop_queue(name);  // a queue given twice: the last snapshot counts
  tables_.put_queue(name, snapshot.at("paused").as_bool());
  for (const json::value& p : snapshot.at("phases").as_array()) {
    const json::object& phase = p.as_object();
    const json::value& queue = phase.at("queue");
    if (!queue.is_string() || queue.as_string() != name)
      throw std::invalid_argument("the snapshot of queue " + name + " holds another queue's phase");
    tables_.put_phase(phase);
  }
}

void state_builder::add_workflow(const json::object& workflow) {
  tables_.put_workflow(workflow);
}

std::vector<std::string> store::install(state_builder&& built) {
  std::map<std::string, topic_meta, std::less<>> topics;
  auto fresh = [&](std::string topic) {
    topics.emplace(std::move(topic), topic_meta{built.seq_, built.seq_, {}});
  };
  for (const auto& [name, queue] : built.tables_.queues()) fresh(queue_topic(name));
  for (const auto& [id, workflow] : built.tables_.workflows()) fresh(workflow_topic(id));
  fresh(std::string(workflows_topic));
  std::vector<std::string> gone;
  for (const auto& [topic, m] : topics_) {
    if (!topics.count(topic)) gone.push_back(topic);
  }
  tables_ = std::move(built.tables_);
  topics_ = std::move(topics);
  seq_ = built.seq_;
  loaded_ = true;
  return gone;
}

std::vector<std::string> store::load(std::int64_t seq, const json::object& queue_snapshots,
                                     const json::object& workflows) {
  state_builder built(seq);
  for (const auto& entry : queue_snapshots)
    built.add_queue(std::string(entry.key()), entry.value().as_object());
  for (const json::value& w : workflows.at("workflows").as_array())
    built.add_workflow(w.as_object());
  return install(std::move(built));
}

// ---------------------------------------------------------------- applying

store::topic_meta& store::meta(const std::string& topic) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) it = topics_.emplace(topic, topic_meta{seq_, seq_, {}}).first;
  return it->second;
}

std::vector<topic_update> store::apply(const std::vector<change_row>& batch) {
  // Every row is checked before any is applied: a batch with one odd row
  // changes nothing, and the caller reloads.
  std::int64_t previous = seq_;
  for (const change_row& c : batch) {
    if (auto problem = change_problem(c, previous)) throw state_diverged(*problem);
    previous = c.seq;
  }
  std::map<std::string, topic_update> updates;
  for (const change_row& c : batch) {
    effects fx;
    if (c.entity == "phase") {
      apply_phase(c, fx);
    } else if (c.entity == "workflow") {
      apply_workflow(c, fx);
    } else if (c.entity == "queue") {
      apply_queue(c, fx);
    }
    record(c.seq, fx, updates);
    seq_ = c.seq;
  }
  std::vector<topic_update> out;
  out.reserve(updates.size());
  for (auto& [topic, update] : updates) out.push_back(std::move(update));
  return out;
}

// Folds one change's effects into the batch's updates and the topics' windows.
void store::record(std::int64_t seq, effects& fx, std::map<std::string, topic_update>& updates) {
  std::set<std::string> touched;
  for (const auto& [topic, ops] : fx.ops) touched.insert(topic);
  touched.insert(fx.resets.begin(), fx.resets.end());
  touched.insert(fx.deletions.begin(), fx.deletions.end());
  for (const std::string& topic : touched) {
    topic_meta& m = meta(topic);
    auto [it, inserted] = updates.try_emplace(topic);
    topic_update& u = it->second;
    if (inserted) {
      u.topic = topic;
      u.prev_seq = m.seq;
    }
    u.seq = seq;
    if (fx.deletions.count(topic)) {
      u.deleted = true;
      topics_.erase(topic);
      continue;
    }
    if (u.deleted) {
      // Deleted and created again within the batch: the subscribers' document
      // is of the old topic, and ops cannot take them to the new one.
      u.deleted = false;
      u.reset = true;
    }
    if (fx.resets.count(topic)) {
      u.reset = true;
      m.window.clear();
      m.floor = seq;
    } else if (auto ops = fx.ops.find(topic); ops != fx.ops.end()) {
      for (const auto& op : ops->second) u.ops.push_back(op);
      record_window(m, seq, ops->second);
    }
    if (auto events = fx.events.find(topic); events != fx.events.end()) {
      u.events.insert(u.events.end(), std::make_move_iterator(events->second.begin()),
                      std::make_move_iterator(events->second.end()));
    }
    m.seq = seq;
  }
}

void store::record_window(topic_meta& m, std::int64_t seq, const json::array& ops) {
  m.window.emplace_back(seq, ops);
  while (m.window.size() > window_limit_) {
    m.floor = m.window.front().first;
    m.window.pop_front();
  }
}

void store::apply_phase(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    for (const auto& [name, queue] : tables_.queues()) fx.resets.insert(queue_topic(name));
    for (std::int64_t workflow : tables_.workflows_with_phases()) {
      if (workflow_exists(workflow)) fx.resets.insert(workflow_topic(workflow));
    }
    tables_.clear_phases();
    return;
  }
  std::int64_t id = std::stoll(c.key);
  if (c.op == "DELETE") return remove_phase(id, fx);  // unknown: already gone with its queue
  json::object fields = pick(c.data, is_phase_key);
  if (c.op == "INSERT") return upsert_phase(std::move(fields), fx, nullptr);
  const tables::phase_row* row = tables_.find_phase(id);
  if (!row) throw state_diverged("update of unknown phase " + c.key);
  json::object before = row->doc;
  json::object after = before;
  for (const auto& field : fields) after[field.key()] = field.value();
  upsert_phase(std::move(after), fx, &before);
}

// Inserts or replaces the phase; a phase that left a queue or a workflow is
// removed from that topic.
void store::upsert_phase(json::object phase, effects& fx, const json::object* before) {
  std::int64_t id = phase.at("id").to_number<std::int64_t>();
  std::string queue = json::value_to<std::string>(phase.at("queue"));
  if (!tables_.find_queue(queue))
    throw state_diverged("phase " + std::to_string(id) + " in unknown queue " + queue);
  std::optional<tables::phase_row> replaced = tables_.put_phase(std::move(phase));
  const tables::phase_row& now = *tables_.find_phase(id);
  if (replaced && replaced->queue != now.queue)
    fx.ops[queue_topic(replaced->queue)].push_back(op_remove(id));
  if (replaced && replaced->workflow && replaced->workflow != now.workflow &&
      workflow_exists(*replaced->workflow))
    fx.ops[workflow_topic(*replaced->workflow)].push_back(op_remove(id));
  fx.ops[queue_topic(now.queue)].push_back(op_upsert("phase", now.doc));
  // Job events of the queue (/api/ws/jobs): a phase that arrives from
  // another queue is new to this one.
  bool same_queue = before && before->at("queue") == now.doc.at("queue");
  fx.events[queue_topic(now.queue)].push_back(
      job_event{event_type(same_queue ? before : nullptr, now.doc), now.doc});
  if (now.workflow && workflow_exists(*now.workflow)) {
    std::string topic = workflow_topic(*now.workflow);
    fx.ops[topic].push_back(op_upsert("phase", now.doc));
    fx.events[topic].push_back(job_event{event_type(before, now.doc), now.doc});
  }
}

void store::remove_phase(std::int64_t id, effects& fx) {
  std::optional<tables::phase_row> gone = tables_.erase_phase(id);
  if (!gone) return;
  if (gone->workflow && workflow_exists(*gone->workflow))
    fx.ops[workflow_topic(*gone->workflow)].push_back(op_remove(id));
  fx.ops[queue_topic(gone->queue)].push_back(op_remove(id));
}

void store::apply_workflow(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    for (const auto& [id, workflow] : tables_.workflows()) fx.deletions.insert(workflow_topic(id));
    tables_.clear_workflows();
    fx.resets.insert(std::string(workflows_topic));
    return;
  }
  std::int64_t id = std::stoll(c.key);
  if (c.op == "DELETE") {
    if (!tables_.erase_workflow(id)) return;
    fx.ops[std::string(workflows_topic)].push_back(op_remove(id));
    fx.deletions.insert(workflow_topic(id));
    return;
  }
  json::object workflow;
  if (c.op == "UPDATE") {
    const tables::workflow_row* row = tables_.find_workflow(id);
    if (!row) throw state_diverged("update of unknown workflow " + c.key);
    workflow = row->doc;
  }
  for (const auto& field : pick(c.data, is_workflow_key)) workflow[field.key()] = field.value();
  tables_.put_workflow(workflow);
  fx.ops[std::string(workflows_topic)].push_back(op_upsert("workflow", workflow));
  fx.ops[workflow_topic(id)].push_back(json::object{{"op", "workflow"}, {"workflow", workflow}});
}

void store::apply_queue(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    std::vector<std::string> names;
    for (const auto& [name, queue] : tables_.queues()) names.push_back(name);
    for (const auto& name : names) drop_queue(name, fx);
    return;
  }
  const std::string& name = c.key;
  if (c.op == "DELETE") return drop_queue(name, fx);
  if (c.op == "INSERT") {
    bool paused = c.data.as_object().at("paused").as_bool();
    tables_.put_queue(name, paused);
    fx.ops[queue_topic(name)].push_back(op_paused(paused));
    return;
  }
  if (c.old_data.is_object() && c.old_data.as_object().contains("name")) {
    throw state_diverged("queue renamed to " + name);
  }
  if (!tables_.find_queue(name)) throw state_diverged("update of unknown queue " + name);
  if (const json::value* paused = c.data.as_object().if_contains("paused")) {
    tables_.put_queue(name, paused->as_bool());
    fx.ops[queue_topic(name)].push_back(op_paused(paused->as_bool()));
  }
}

// The queue's phases leave their workflows' topics with it.
void store::drop_queue(const std::string& name, effects& fx) {
  if (!tables_.find_queue(name)) return;
  for (const tables::phase_row& phase : tables_.drop_queue(name)) {
    if (phase.workflow && workflow_exists(*phase.workflow))
      fx.ops[workflow_topic(*phase.workflow)].push_back(op_remove(phase.key.id));
  }
  fx.deletions.insert(queue_topic(name));
}

// ---------------------------------------------------------------- serving

bool store::has_topic(std::string_view topic) const {
  return topics_.find(topic) != topics_.end();
}

std::int64_t store::topic_seq(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.seq;
}

std::vector<std::string> store::topic_names() const {
  std::vector<std::string> names;
  names.reserve(topics_.size());
  for (const auto& [topic, meta] : topics_) names.push_back(topic);
  return names;
}

// The documents walk the tables' display orders: no sorting here.
json::object store::queue_document(const tables::queue_row& queue) const {
  return json::object{{"phases", tables_.phase_list(queue.phases)},
                      {"total", static_cast<std::int64_t>(queue.phases.size())},
                      {"paused", queue.paused}};
}

json::object store::workflows_document() const {
  return json::object{{"workflows", tables_.workflow_list()},
                      {"total", static_cast<std::int64_t>(tables_.workflows().size())}};
}

json::object store::workflow_document(std::int64_t id) const {
  const tables::workflow_row* workflow = tables_.find_workflow(id);
  const tables::phase_order* phases = tables_.phases_of_workflow(id);
  return json::object{{"workflow", workflow ? json::value(workflow->doc) : json::value()},
                      {"phases", phases ? tables_.phase_list(*phases) : json::array()}};
}

std::optional<json::object> store::document(std::string_view topic) const {
  if (!has_topic(topic)) return std::nullopt;
  if (topic == workflows_topic) return workflows_document();
  if (auto id = workflow_of_topic(topic)) return workflow_document(*id);
  if (auto name = queue_of_topic(topic)) {
    if (const tables::queue_row* queue = tables_.find_queue(*name)) return queue_document(*queue);
  }
  throw std::logic_error("topic without a document: " + std::string(topic));
}

std::optional<std::string> store::document_text(std::string_view topic) const {
  std::string out;
  if (!append_document_text(topic, out)) return std::nullopt;
  return out;
}

bool store::append_document_text(std::string_view topic, std::string& out) const {
  if (!has_topic(topic)) return false;
  // The members in document()'s order; their names need no escaping.
  if (topic == workflows_topic) {
    out += "{\"workflows\":";
    tables_.append_workflow_list(out);
    out += ",\"total\":" + std::to_string(tables_.workflows().size()) + "}";
    return true;
  }
  if (auto id = workflow_of_topic(topic)) {
    const tables::workflow_row* workflow = tables_.find_workflow(*id);
    out += "{\"workflow\":";
    out += workflow ? tables_.text(*workflow) : std::string("null");
    out += ",\"phases\":";
    if (const tables::phase_order* phases = tables_.phases_of_workflow(*id)) {
      tables_.append_phase_list(*phases, out);
    } else {
      out += "[]";
    }
    out += '}';
    return true;
  }
  if (auto name = queue_of_topic(topic)) {
    if (const tables::queue_row* queue = tables_.find_queue(*name)) {
      out += "{\"phases\":";
      tables_.append_phase_list(queue->phases, out);
      out += ",\"total\":" + std::to_string(queue->phases.size());
      out += queue->paused ? ",\"paused\":true}" : ",\"paused\":false}";
      return true;
    }
  }
  throw std::logic_error("topic without a document: " + std::string(topic));
}

std::optional<resume_plan> store::resume(std::string_view topic, std::int64_t since) const {
  auto it = topics_.find(topic);
  if (it == topics_.end() || since < it->second.floor || since > seq_) return std::nullopt;
  const topic_meta& m = it->second;
  resume_plan plan;
  plan.position = m.floor;
  for (const auto& [seq, ops] : m.window) {
    if (seq <= since) {
      plan.position = seq;
    } else {
      for (const auto& op : ops) plan.ops.push_back(op);
    }
  }
  if (plan.ops.empty()) plan.position = m.seq;
  return plan;
}

std::optional<json::array> store::replay_ops(std::string_view topic,
                                             const std::vector<touched_row>& rows) const {
  if (!has_topic(topic)) return std::nullopt;
  return queuecast::replay_ops(tables_, topic, rows);
}

store_footprint store::footprint() const {
  store_footprint f;
  f.queues = tables_.queues().size();
  f.workflows = tables_.workflows().size();
  f.phases = tables_.phase_count();
  f.workflow_indexes = tables_.workflow_index_count();
  f.topics = topics_.size();
  for (const auto& [topic, m] : topics_) f.window_changes += m.window.size();
  return f;
}

}  // namespace queuecast
