#include "tables.hpp"

#include <stdexcept>

namespace queuecast {

namespace {

std::int64_t id_of(const json::object& o) {
  return o.at("id").to_number<std::int64_t>();
}

std::optional<std::int64_t> workflow_of(const json::object& phase) {
  const json::value* w = phase.if_contains("workflow_id");
  if (!w || w->is_null()) return std::nullopt;
  return w->to_number<std::int64_t>();
}

// The row's text, serialised now if it is not yet.
const std::string& text_of(const json::object& doc, std::string& text) {
  if (text.empty()) text = json::serialize(doc);  // never empty once made: "{...}"
  return text;
}

// What may follow a list in its document and frame: `,"total":N,"paused":false}}`.
constexpr std::size_t room_after_list = 64;

// "[a,b,...]" appended to out, with room made once.
void append_joined(const std::vector<const std::string*>& texts, std::string& out) {
  std::size_t size = out.size() + 2 + texts.size() + room_after_list;
  for (const std::string* t : texts) size += t->size();
  out.reserve(size);
  out += '[';
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (i) out += ',';
    out += *texts[i];
  }
  out += ']';
}

}  // namespace

const tables::queue_row* tables::find_queue(std::string_view name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : &it->second;
}

void tables::put_queue(const std::string& name, bool paused) {
  queues_[name].paused = paused;
}

std::vector<tables::phase_row> tables::drop_queue(std::string_view name) {
  std::vector<phase_row> removed;
  auto queue = queues_.find(name);
  if (queue == queues_.end()) return removed;
  phase_order order = std::move(queue->second.phases);
  queues_.erase(queue);  // first: unindex() then leaves the order being walked alone
  removed.reserve(order.size());
  for (const phase_sort_key& key : order) {
    auto phase = phases_.find(key.id);
    unindex(phase->second);
    removed.push_back(std::move(phase->second));
    phases_.erase(phase);
  }
  return removed;
}

const tables::phase_row* tables::find_phase(std::int64_t id) const {
  auto it = phases_.find(id);
  return it == phases_.end() ? nullptr : &it->second;
}

std::optional<tables::phase_row> tables::put_phase(json::object phase) {
  phase_row row;
  row.queue = json::value_to<std::string>(phase.at("queue"));
  row.workflow = workflow_of(phase);
  row.key = phase_key(phase);
  auto queue = queues_.find(row.queue);
  if (queue == queues_.end()) throw std::logic_error("a phase in an unknown queue");
  row.doc = std::move(phase);
  std::int64_t id = id_of(row.doc);
  row.key.id = id;  // the index is by id, whatever number() made of it
  std::optional<phase_row> replaced = erase_phase(id);
  queue->second.phases.insert(row.key);
  if (row.workflow) workflow_phases_[*row.workflow].insert(row.key);
  phases_.emplace(id, std::move(row));
  return replaced;
}

std::optional<tables::phase_row> tables::erase_phase(std::int64_t id) {
  auto it = phases_.find(id);
  if (it == phases_.end()) return std::nullopt;
  unindex(it->second);
  std::optional<phase_row> removed(std::move(it->second));
  phases_.erase(it);
  return removed;
}

// Takes the phase out of its queue's and its workflow's order; the workflow's
// set goes when it empties.
void tables::unindex(const phase_row& row) {
  if (auto queue = queues_.find(row.queue); queue != queues_.end())
    queue->second.phases.erase(row.key);
  if (!row.workflow) return;
  auto members = workflow_phases_.find(*row.workflow);
  if (members == workflow_phases_.end()) return;
  members->second.erase(row.key);
  if (members->second.empty()) workflow_phases_.erase(members);
}

void tables::clear_phases() {
  for (auto& [name, queue] : queues_) queue.phases.clear();
  phases_.clear();
  workflow_phases_.clear();
}

const tables::phase_order* tables::phases_of_workflow(std::int64_t id) const {
  auto it = workflow_phases_.find(id);
  return it == workflow_phases_.end() ? nullptr : &it->second;
}

std::vector<std::int64_t> tables::workflows_with_phases() const {
  std::vector<std::int64_t> ids;
  ids.reserve(workflow_phases_.size());
  for (const auto& [id, members] : workflow_phases_) ids.push_back(id);
  return ids;
}

const tables::workflow_row* tables::find_workflow(std::int64_t id) const {
  auto it = workflows_.find(id);
  return it == workflows_.end() ? nullptr : &it->second;
}

void tables::put_workflow(json::object workflow) {
  std::int64_t id = id_of(workflow);
  workflow_sort_key key = workflow_key(workflow);
  key.id = id;
  auto [it, inserted] = workflows_.try_emplace(id);
  if (!inserted) workflow_order_.erase(it->second.key);
  it->second.doc = std::move(workflow);
  it->second.text.clear();  // the row is reused: its text is of the old doc
  it->second.key = key;
  workflow_order_.insert(std::move(key));
}

bool tables::erase_workflow(std::int64_t id) {
  auto it = workflows_.find(id);
  if (it == workflows_.end()) return false;
  workflow_order_.erase(it->second.key);
  workflows_.erase(it);
  return true;
}

void tables::clear_workflows() {
  workflows_.clear();
  workflow_order_.clear();
}

json::array tables::phase_list(const phase_order& order) const {
  json::array out;
  out.reserve(order.size());
  for (const phase_sort_key& key : order) out.push_back(phases_.at(key.id).doc);
  return out;
}

json::array tables::workflow_list() const {
  json::array out;
  out.reserve(workflow_order_.size());
  for (const workflow_sort_key& key : workflow_order_) out.push_back(workflows_.at(key.id).doc);
  return out;
}

const std::string& tables::text(const phase_row& row) const {
  return text_of(row.doc, row.text);
}

const std::string& tables::text(const workflow_row& row) const {
  return text_of(row.doc, row.text);
}

void tables::append_phase_list(const phase_order& order, std::string& out) const {
  std::vector<const std::string*> texts;
  texts.reserve(order.size());
  for (const phase_sort_key& key : order) {
    const phase_row& row = phases_.at(key.id);
    texts.push_back(&text(row));
  }
  append_joined(texts, out);
}

void tables::append_workflow_list(std::string& out) const {
  std::vector<const std::string*> texts;
  texts.reserve(workflow_order_.size());
  for (const workflow_sort_key& key : workflow_order_) {
    const workflow_row& row = workflows_.at(key.id);
    texts.push_back(&text(row));
  }
  append_joined(texts, out);
}

}  // namespace queuecast
