// One captured change, as it will be written to queuecast.changes.
#pragma once

#include <optional>
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

}  // namespace queuecast
