// A history row as the daemon reads it from queuecast.changes, and the one
// check every row passes before it is applied. NOTIFY payloads are never
// parsed: a notification only says "look at the history" (DESIGN.md).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace queuecast {

namespace json = boost::json;

struct change_row {
  std::int64_t seq = 0;
  std::string topic;
  std::string entity;  // phase, workflow, queue
  std::string key;
  std::string op;                    // INSERT, UPDATE, DELETE, TRUNCATE
  json::value data;                  // null when absent
  json::value old_data;              // null when absent
  std::int64_t committed_at_us = 0;  // committed_at in Unix microseconds; 0 when unknown
};

// Parses one history row turned into JSON by the catch-up query (keys seq,
// topic, entity, key, op, data, old_data and optionally at); throws
// std::exception on a missing key or a value of the wrong type.
change_row change_from_json(const json::object& object);

// The one verdict on a history row before it touches the state: nullopt when
// it is fit to apply after `previous_seq` (the state's seq, or the previous
// row of the batch), else what is wrong, naming the row's seq. It checks the
// shape the store relies on, not whether the row fits the state (the store
// finds that out itself). The message never quotes the row's values: it
// reaches clients and logs as the reason of a reload.
std::optional<std::string> change_problem(const change_row& row, std::int64_t previous_seq);

}  // namespace queuecast
