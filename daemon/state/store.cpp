#include "store.hpp"

#include <algorithm>
#include <stdexcept>

#include "ordering.hpp"

namespace queuecast {

namespace {

std::string queue_topic(const std::string& name) {
  return "queue:" + name;
}
std::string workflow_topic(std::int64_t id) {
  return "workflow:" + std::to_string(id);
}
std::int64_t id_of(const json::object& o) {
  return o.at("id").to_number<std::int64_t>();
}

std::optional<std::int64_t> workflow_of(const json::object& phase) {
  const json::value* w = phase.if_contains("workflow_id");
  if (!w || w->is_null()) return std::nullopt;
  return w->to_number<std::int64_t>();
}

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

}  // namespace

std::vector<std::string> store::load(std::int64_t seq, const json::object& queue_snapshots,
                                     const json::object& workflows) {
  std::vector<std::string> before = topic_names();
  queues_.clear();
  workflows_.clear();
  phase_queue_.clear();
  workflow_phases_.clear();
  topics_.clear();
  seq_ = seq;
  for (const auto& entry : queue_snapshots) {
    std::string name(entry.key());
    const json::object& snapshot = entry.value().as_object();
    queue_state& queue = queues_[name];
    queue.paused = snapshot.at("paused").as_bool();
    for (const json::value& p : snapshot.at("phases").as_array()) {
      const json::object& phase = p.as_object();
      std::int64_t id = id_of(phase);
      queue.phases[id] = phase;
      phase_queue_[id] = name;
      if (auto w = workflow_of(phase)) workflow_phases_[*w].insert(id);
    }
    meta(queue_topic(name));
  }
  for (const json::value& w : workflows.at("workflows").as_array()) {
    std::int64_t id = id_of(w.as_object());
    workflows_[id] = w.as_object();
    meta(workflow_topic(id));
  }
  meta("workflows");
  loaded_ = true;
  std::vector<std::string> gone;
  for (const auto& topic : before) {
    if (!has_topic(topic)) gone.push_back(topic);
  }
  return gone;
}

store::topic_meta& store::meta(const std::string& topic) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    it = topics_.emplace(topic, topic_meta{}).first;
    it->second.seq = seq_;
    it->second.floor = seq_;
  }
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
  for (auto& [topic, update] : updates) out.push_back(std::move(update));
  return out;
}

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
      m.window.emplace_back(seq, ops->second);
      while (m.window.size() > window_limit_) {
        m.floor = m.window.front().first;
        m.window.pop_front();
      }
    }
    if (auto events = fx.events.find(topic); events != fx.events.end()) {
      u.events.insert(u.events.end(), events->second.begin(), events->second.end());
    }
    m.seq = seq;
  }
}

void store::apply_phase(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    for (auto& [name, queue] : queues_) {
      queue.phases.clear();
      fx.resets.insert(queue_topic(name));
    }
    for (const auto& [workflow, phases] : workflow_phases_) {
      if (workflows_.count(workflow)) fx.resets.insert(workflow_topic(workflow));
    }
    phase_queue_.clear();
    workflow_phases_.clear();
    return;
  }
  std::int64_t id = std::stoll(c.key);
  if (c.op == "DELETE") return remove_phase(id, fx);  // unknown: already gone with its queue
  json::object fields = pick(c.data, is_phase_key);
  if (c.op == "INSERT") return upsert_phase(std::move(fields), fx, nullptr);
  auto where = phase_queue_.find(id);
  if (where == phase_queue_.end()) throw state_diverged("update of unknown phase " + c.key);
  json::object before = queues_.at(where->second).phases.at(id);
  json::object after = before;
  for (const auto& field : fields) after[field.key()] = field.value();
  upsert_phase(std::move(after), fx, &before);
}

void store::upsert_phase(json::object phase, effects& fx, const json::object* before) {
  std::int64_t id = id_of(phase);
  std::string queue = json::value_to<std::string>(phase.at("queue"));
  auto target = queues_.find(queue);
  if (target == queues_.end())
    throw state_diverged("phase " + std::to_string(id) + " in unknown queue " + queue);
  if (before) {
    std::string old_queue = json::value_to<std::string>(before->at("queue"));
    if (old_queue != queue) {
      if (auto q = queues_.find(old_queue); q != queues_.end()) q->second.phases.erase(id);
      fx.ops[queue_topic(old_queue)].push_back(op_remove(id));
    }
    auto old_workflow = workflow_of(*before);
    if (old_workflow && old_workflow != workflow_of(phase)) {
      workflow_phases_[*old_workflow].erase(id);
      if (workflows_.count(*old_workflow))
        fx.ops[workflow_topic(*old_workflow)].push_back(op_remove(id));
    }
  }
  target->second.phases[id] = phase;
  phase_queue_[id] = queue;
  fx.ops[queue_topic(queue)].push_back(op_upsert("phase", phase));
  if (auto workflow = workflow_of(phase); workflow && workflows_.count(*workflow)) {
    workflow_phases_[*workflow].insert(id);
    std::string topic = workflow_topic(*workflow);
    fx.ops[topic].push_back(op_upsert("phase", phase));
    fx.events[topic].push_back(job_event{event_type(before, phase), phase});
  }
}

void store::remove_phase(std::int64_t id, effects& fx) {
  auto where = phase_queue_.find(id);
  if (where == phase_queue_.end()) return;
  queue_state& queue = queues_.at(where->second);
  auto phase = queue.phases.find(id);
  if (auto workflow = workflow_of(phase->second)) {
    workflow_phases_[*workflow].erase(id);
    if (workflows_.count(*workflow)) fx.ops[workflow_topic(*workflow)].push_back(op_remove(id));
  }
  fx.ops[queue_topic(where->second)].push_back(op_remove(id));
  queue.phases.erase(phase);
  phase_queue_.erase(where);
}

void store::apply_workflow(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    for (const auto& [id, workflow] : workflows_) fx.deletions.insert(workflow_topic(id));
    workflows_.clear();
    fx.resets.insert("workflows");
    return;
  }
  std::int64_t id = std::stoll(c.key);
  if (c.op == "DELETE") {
    if (workflows_.erase(id) == 0) return;
    fx.ops["workflows"].push_back(op_remove(id));
    fx.deletions.insert(workflow_topic(id));
    return;
  }
  json::object workflow;
  if (c.op == "UPDATE") {
    auto found = workflows_.find(id);
    if (found == workflows_.end()) throw state_diverged("update of unknown workflow " + c.key);
    workflow = found->second;
  }
  for (const auto& field : pick(c.data, is_workflow_key)) workflow[field.key()] = field.value();
  workflows_[id] = workflow;
  fx.ops["workflows"].push_back(op_upsert("workflow", workflow));
  fx.ops[workflow_topic(id)].push_back(json::object{{"op", "workflow"}, {"workflow", workflow}});
}

void store::apply_queue(const change_row& c, effects& fx) {
  if (c.op == "TRUNCATE") {
    std::vector<std::string> names;
    for (const auto& [name, queue] : queues_) names.push_back(name);
    for (const auto& name : names) drop_queue(name, fx);
    return;
  }
  const std::string& name = c.key;
  if (c.op == "DELETE") return drop_queue(name, fx);
  if (c.op == "INSERT") {
    queues_[name].paused = c.data.as_object().at("paused").as_bool();
    fx.ops[queue_topic(name)].push_back(
        json::object{{"op", "paused"}, {"value", queues_[name].paused}});
    return;
  }
  if (c.old_data.is_object() && c.old_data.as_object().contains("name")) {
    throw state_diverged("queue renamed to " + name);
  }
  auto queue = queues_.find(name);
  if (queue == queues_.end()) throw state_diverged("update of unknown queue " + name);
  if (const json::value* paused = c.data.as_object().if_contains("paused")) {
    queue->second.paused = paused->as_bool();
    fx.ops[queue_topic(name)].push_back(
        json::object{{"op", "paused"}, {"value", paused->as_bool()}});
  }
}

void store::drop_queue(const std::string& name, effects& fx) {
  auto queue = queues_.find(name);
  if (queue == queues_.end()) return;
  for (const auto& [id, phase] : queue->second.phases) {
    phase_queue_.erase(id);
    if (auto workflow = workflow_of(phase)) {
      workflow_phases_[*workflow].erase(id);
      if (workflows_.count(*workflow)) fx.ops[workflow_topic(*workflow)].push_back(op_remove(id));
    }
  }
  queues_.erase(queue);
  fx.deletions.insert(queue_topic(name));
}

bool store::has_topic(std::string_view topic) const {
  return topics_.find(topic) != topics_.end();
}

std::int64_t store::topic_seq(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.seq;
}

std::vector<std::string> store::topic_names() const {
  std::vector<std::string> names;
  for (const auto& [topic, meta] : topics_) names.push_back(topic);
  return names;
}

json::array store::sorted_phases(const std::vector<const json::object*>& phases) const {
  std::vector<const json::object*> order = phases;
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return phase_before(*a, *b); });
  json::array out;
  out.reserve(order.size());
  for (const json::object* p : order) out.push_back(*p);
  return out;
}

std::optional<json::object> store::document(std::string_view topic) const {
  if (!has_topic(topic)) return std::nullopt;
  if (topic == "workflows") {
    std::vector<const json::object*> order;
    for (const auto& [id, w] : workflows_) order.push_back(&w);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return workflow_before(*a, *b); });
    json::array list;
    for (const json::object* w : order) list.push_back(*w);
    std::size_t total = list.size();
    return json::object{{"workflows", std::move(list)},
                        {"total", static_cast<std::int64_t>(total)}};
  }
  if (topic.rfind("queue:", 0) == 0) {
    const queue_state& queue = queues_.at(std::string(topic.substr(6)));
    std::vector<const json::object*> phases;
    for (const auto& [id, p] : queue.phases) phases.push_back(&p);
    return json::object{{"phases", sorted_phases(phases)},
                        {"total", static_cast<std::int64_t>(phases.size())},
                        {"paused", queue.paused}};
  }
  std::int64_t id = std::stoll(std::string(topic.substr(9)));
  std::vector<const json::object*> phases;
  if (auto members = workflow_phases_.find(id); members != workflow_phases_.end()) {
    for (std::int64_t phase_id : members->second) {
      phases.push_back(&queues_.at(phase_queue_.at(phase_id)).phases.at(phase_id));
    }
  }
  auto workflow = workflows_.find(id);
  json::value head =
      workflow == workflows_.end() ? json::value(nullptr) : json::value(workflow->second);
  return json::object{{"workflow", head}, {"phases", sorted_phases(phases)}};
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

}  // namespace queuecast

namespace queuecast {

std::optional<json::array> store::replay_ops(std::string_view topic,
                                             const std::vector<touched_row>& rows) const {
  if (!has_topic(topic)) return std::nullopt;
  std::string name = topic.rfind("queue:", 0) == 0 ? std::string(topic.substr(6)) : "";
  std::string workflow_id = topic.rfind("workflow:", 0) == 0 ? std::string(topic.substr(9)) : "";
  std::set<std::int64_t> members;  // current phases of workflow:<id>
  if (!workflow_id.empty()) {
    if (auto m = workflow_phases_.find(std::stoll(workflow_id)); m != workflow_phases_.end()) {
      members = m->second;
    }
  }
  // Rows come in seq order. An item whose first row brought it into the
  // topic was not in the client's state: if it is gone again, nothing to remove.
  std::set<std::int64_t> phases, workflows, arrived_later;
  auto note = [&](std::set<std::int64_t>& items, std::int64_t id, bool arrival) {
    if (items.insert(id).second && arrival) arrived_later.insert(id);
  };
  bool queue_row = false, workflow_row = false;
  for (const touched_row& r : rows) {
    if (r.op == "TRUNCATE") return std::nullopt;
    if (r.entity == "queue") {
      if (r.key == name && (r.op == "DELETE" || r.op == "INSERT")) return std::nullopt;
      queue_row |= r.key == name;
    } else if (r.entity == "workflow") {
      if (topic == "workflows") note(workflows, std::stoll(r.key), r.op == "INSERT");
      workflow_row |= r.key == workflow_id;
    } else if (!name.empty() && (r.topic == "queue:" + name || r.old_queue == name)) {
      note(phases, std::stoll(r.key),
           r.op == "INSERT" || (!r.old_queue.empty() && r.old_queue != name));
    } else if (!workflow_id.empty() &&
               (r.workflow == workflow_id || r.old_workflow == workflow_id ||
                members.count(std::stoll(r.key)))) {
      bool moved_in = r.op == "UPDATE" && r.workflow == workflow_id &&
                      r.old_workflow != workflow_id && !r.workflow.empty();
      note(phases, std::stoll(r.key), r.op == "INSERT" || moved_in);
    }
  }
  json::array ops;
  for (std::int64_t id : workflows) {
    auto w = workflows_.find(id);
    if (w != workflows_.end()) {
      ops.push_back(op_upsert("workflow", w->second));
    } else if (!arrived_later.count(id)) {
      ops.push_back(op_remove(id));
    }
  }
  if (queue_row) ops.push_back(json::object{{"op", "paused"}, {"value", queues_.at(name).paused}});
  if (workflow_row) {
    auto w = workflows_.find(std::stoll(workflow_id));
    json::value head = w == workflows_.end() ? json::value(nullptr) : json::value(w->second);
    ops.push_back(json::object{{"op", "workflow"}, {"workflow", head}});
  }
  for (std::int64_t id : phases) {
    const json::object* now = nullptr;
    if (auto where = phase_queue_.find(id); where != phase_queue_.end()) {
      const json::object& phase = queues_.at(where->second).phases.at(id);
      auto workflow = workflow_of(phase);
      bool belongs = !name.empty() ? where->second == name
                                   : workflow && std::to_string(*workflow) == workflow_id;
      if (belongs) now = &phase;
    }
    if (now) {
      ops.push_back(op_upsert("phase", *now));
    } else if (!arrived_later.count(id)) {
      ops.push_back(op_remove(id));
    }
  }
  return ops;
}

}  // namespace queuecast
