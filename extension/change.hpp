// One captured row change, as it will be written to queuecast.changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <string>

namespace queuecast {

struct change {
  std::string topic;   // queue:<name>, queue:* or workflows
  std::string entity;  // phase, workflow or queue
  std::string key;     // primary key as text; empty for TRUNCATE
  const char* op;      // INSERT, UPDATE, DELETE, TRUNCATE
  std::optional<std::string> old_status;
  std::optional<std::string> new_status;
  std::optional<std::string> data;      // JSON object text
  std::optional<std::string> old_data;  // JSON object text
};

// The compact JSON of a change that travels inline in a NOTIFY payload.
// Built before the seq is known (outside the commit order) with seq 0;
// set_inline_seq() fills it in.
std::string inline_json(const change& c);
void set_inline_seq(std::string& json, std::int64_t seq);

}  // namespace queuecast
