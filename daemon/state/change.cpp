#include "change.hpp"

#include <array>
#include <charconv>
#include <string_view>

namespace queuecast {

namespace {

constexpr std::array<std::string_view, 7> phase_statuses = {
    "queued", "ready", "running", "completed", "failed", "blocked", "cancelled"};
constexpr std::array<std::string_view, 6> workflow_statuses = {"pending",   "running", "paused",
                                                               "completed", "failed",  "cancelled"};
constexpr std::array<std::string_view, 4> ops = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
// queuecast.queues.name's CHECK constraint: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$
constexpr std::size_t max_queue_name = 63;

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view value) {
  for (auto item : set) {
    if (item == value) return true;
  }
  return false;
}

std::optional<std::int64_t> positive_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value <= 0)
    return std::nullopt;
  return value;
}

bool alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool valid_queue_name(std::string_view name) {
  if (name.empty() || name.size() > max_queue_name || !alnum(name.front())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// A field the store reads, checked for its type when present.
std::optional<std::string> field_problem(const json::object& o, std::string_view where,
                                         std::string_view entity) {
  auto wrong = [&](std::string_view field, std::string_view expected) {
    return std::string(where) + "." + std::string(field) + " is not " + std::string(expected);
  };
  if (const json::value* status = o.if_contains("status"); status && entity != "queue") {
    if (!status->is_string()) return wrong("status", "a string");
    std::string_view s(status->as_string());
    bool known = entity == "phase" ? one_of(phase_statuses, s) : one_of(workflow_statuses, s);
    if (!known) return std::string(where) + ".status is not a " + std::string(entity) + " status";
  }
  if (entity == "phase") {
    if (const json::value* q = o.if_contains("queue");
        q && !(q->is_string() && valid_queue_name(q->as_string())))
      return wrong("queue", "a queue name");
    if (const json::value* w = o.if_contains("workflow_id");
        w && !w->is_null() && !(w->is_int64() && w->as_int64() > 0))
      return wrong("workflow_id", "null or a positive integer");
  }
  if (entity == "queue") {
    if (const json::value* p = o.if_contains("paused"); p && !p->is_bool())
      return wrong("paused", "a boolean");
    if (const json::value* n = o.if_contains("name");
        n && !(n->is_string() && valid_queue_name(n->as_string())))
      return wrong("name", "a queue name");
  }
  return std::nullopt;
}

std::optional<std::string> problem(const change_row& row, std::int64_t previous_seq) {
  if (row.seq <= previous_seq)
    return "seq does not follow " + std::to_string(previous_seq) + " (history must grow)";
  if (row.entity != "phase" && row.entity != "workflow" && row.entity != "queue")
    return "unknown entity";
  if (!one_of(ops, row.op)) return "unknown op";
  if (!row.data.is_null() && !row.data.is_object()) return "data is neither an object nor null";
  if (!row.old_data.is_null() && !row.old_data.is_object())
    return "old_data is neither an object nor null";
  if (row.op == "TRUNCATE") {
    if (!row.key.empty()) return "a TRUNCATE has a key";
    return std::nullopt;
  }
  std::optional<std::int64_t> id;
  if (row.entity == "queue") {
    if (!valid_queue_name(row.key)) return "key is not a queue name";
  } else if (!(id = positive_integer(row.key))) {
    return "key is not a positive integer";
  }
  if ((row.op == "INSERT" || row.op == "UPDATE") && !row.data.is_object())
    return "an " + row.op + " without data";
  for (const auto& [value, where] :
       {std::pair{&row.data, "data"}, std::pair{&row.old_data, "old_data"}}) {
    if (!value->is_object()) continue;
    if (auto bad = field_problem(value->as_object(), where, row.entity)) return bad;
  }
  if (id && row.data.is_object()) {
    const json::value* data_id = row.data.as_object().if_contains("id");
    if (row.op == "INSERT" && !data_id) return "an INSERT without data.id";
    if (data_id && !(data_id->is_int64() && data_id->as_int64() == *id))
      return "data.id does not match the key";
  }
  if (row.op == "INSERT" && row.entity != "queue" && !row.data.as_object().contains("status"))
    return "an INSERT without data.status";  // the dashboards' order needs it
  if (row.entity == "phase" && row.op == "INSERT" && !row.data.as_object().contains("queue"))
    return "a phase INSERT without data.queue";
  if (row.entity == "queue" && row.op == "INSERT" && !row.data.as_object().contains("paused"))
    return "a queue INSERT without data.paused";
  return std::nullopt;
}

}  // namespace

change_row change_from_json(const json::object& object) {
  change_row row;
  row.seq = object.at("seq").to_number<std::int64_t>();
  row.topic = json::value_to<std::string>(object.at("topic"));
  row.entity = json::value_to<std::string>(object.at("entity"));
  row.key = json::value_to<std::string>(object.at("key"));
  row.op = json::value_to<std::string>(object.at("op"));
  if (auto* data = object.if_contains("data")) row.data = *data;
  if (auto* old_data = object.if_contains("old_data")) row.old_data = *old_data;
  if (auto* at = object.if_contains("at"); at && !at->is_null())
    row.committed_at_us = at->to_number<std::int64_t>();
  return row;
}

std::optional<std::string> change_problem(const change_row& row, std::int64_t previous_seq) {
  if (auto what = problem(row, previous_seq))
    return "history row seq " + std::to_string(row.seq) + ": " + *what;
  return std::nullopt;
}

}  // namespace queuecast
