// What a request to the database-backed API asks for (docs/protocol.md,
// "Operators' API"): a phase's detail, or an operator's action. Parsing
// only, no I/O: the whole of it is tested and fuzzed without a socket.
//
//   GET  /api/v1/phases/{id}                 the phase and its timeline
//   GET  /api/v1/queues/{queue}/stats?minutes=60   throughput, depth, wait/run times
//   POST /api/v1/phases/{id}/retry|cancel    one phase
//   POST /api/v1/queues/{queue}/pause|resume
//   POST /api/v1/queues/{queue}/phases/retry|cancel
//        body {"status":"failed","worker":..,"workflow_id":..,"text":..,"limit":..}
//        every phase of the queue the filter matches (at most `limit`)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gate.hpp"

namespace queuecast {

enum class api_action {
  detail,
  stats,
  pause,
  resume,
  retry,
  cancel,
  retry_matching,
  cancel_matching
};

// The phases of a queue an action over many applies to.
struct phase_filter {
  std::string status = "failed";
  std::optional<std::string> worker;  // in the worker's name, case-insensitive
  std::optional<std::int64_t> workflow_id;
  std::optional<std::string> text;  // in the title, case-insensitive
  std::int64_t limit = 500;
};

inline constexpr std::int64_t max_phases_per_action = 1000;

struct api_request {
  api_action action = api_action::detail;
  std::string queue;          // pause, resume and the *_matching actions
  std::int64_t phase_id = 0;  // detail, retry, cancel
  phase_filter filter;        // the *_matching actions
  int minutes = 60;           // stats: the window, 5 to 1440
};

// Whether the target belongs to this API (any method): the paths above.
bool is_api_target(std::string_view target);

// The request, or why it is refused (400, 404, 405, 415). Authentication
// and grants are checked by the caller.
std::variant<api_request, refusal> parse_api_request(const http_request& req);

// "pause", "retry_matching", ...: for logs and responses.
std::string_view action_name(api_action action);

// Whether the action changes the queue (everything but detail and stats).
inline bool changes_queue(api_action action) {
  return action != api_action::detail && action != api_action::stats;
}

}  // namespace queuecast
