// Resuming from history rather than from the in-memory window (a client
// further back than the window, or coming from another daemon): every row
// touched since the client's seq is sent as it is now (upsert) or removed.
// The feed reads the rows (seq > since) and hands them here.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tables.hpp"

namespace queuecast {

// One history row reduced to what a replay needs: which row it touched.
struct touched_row {
  std::string entity;  // phase, workflow, queue
  std::string key;
  std::string op;
  std::string topic;
  std::string old_queue;     // old_data.queue when a phase moved
  std::string workflow;      // data.workflow_id (insert/delete, or when changed)
  std::string old_workflow;  // old_data.workflow_id when changed
};

// The ops for `topic` (which must exist in `now`), or nullopt when ops
// cannot express the change (a TRUNCATE, the topic's queue re-created).
// Throws std::logic_error when a row's key is not a number where one is
// expected.
std::optional<json::array> replay_ops(const tables& now, std::string_view topic,
                                      const std::vector<touched_row>& rows);

}  // namespace queuecast
