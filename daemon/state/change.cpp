#include "change.hpp"

namespace queuecast {

change_row change_from_json(const json::object& object) {
  change_row row;
  row.seq = object.at("seq").to_number<std::int64_t>();
  row.topic = json::value_to<std::string>(object.at("topic"));
  row.entity = json::value_to<std::string>(object.at("entity"));
  row.key = json::value_to<std::string>(object.at("key"));
  row.op = json::value_to<std::string>(object.at("op"));
  if (auto* data = object.if_contains("data")) row.data = *data;
  if (auto* old_data = object.if_contains("old_data")) row.old_data = *old_data;
  return row;
}

std::optional<doorbell> parse_doorbell(std::string_view payload) {
  try {
    json::value parsed = json::parse(payload);
    const json::object& object = parsed.as_object();
    doorbell bell;
    bell.first = object.at("first").to_number<std::int64_t>();
    bell.last = object.at("last").to_number<std::int64_t>();
    bell.count = object.at("n").to_number<std::int64_t>();
    if (auto* at = object.if_contains("at")) bell.committed_at_us = at->to_number<std::int64_t>();
    if (auto* inline_changes = object.if_contains("changes")) {
      std::vector<change_row> rows;
      for (const json::value& c : inline_changes->as_array())
        rows.push_back(change_from_json(c.as_object()));
      if (static_cast<std::int64_t>(rows.size()) == bell.count) bell.changes = std::move(rows);
    }
    if (bell.first <= 0 || bell.last < bell.first) return std::nullopt;
    return bell;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace queuecast
