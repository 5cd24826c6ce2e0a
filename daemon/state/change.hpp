// A history row as the daemon reads it (from NOTIFY inline or queuecast.changes).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace queuecast {

namespace json = boost::json;

struct change_row {
  std::int64_t seq = 0;
  std::string topic;
  std::string entity;  // phase, workflow, queue
  std::string key;
  std::string op;        // INSERT, UPDATE, DELETE, TRUNCATE
  json::value data;      // null when absent
  json::value old_data;  // null when absent (NOTIFY inline rows never have it)
};

// Parses one change object (NOTIFY inline or a row turned into JSON); throws
// std::exception on a malformed one.
change_row change_from_json(const json::object& object);

// A NOTIFY payload: the seq range and, when they fit, the changes inline.
struct doorbell {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t count = 0;
  std::int64_t committed_at_us = 0;
  std::optional<std::vector<change_row>> changes;  // complete inline set, or nullopt
};

// Parses a NOTIFY payload. Anyone may NOTIFY queuecast: garbage yields nullopt,
// and the reader treats it as "something may have changed".
std::optional<doorbell> parse_doorbell(std::string_view payload);

}  // namespace queuecast
