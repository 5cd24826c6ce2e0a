// What a Server-Sent Events request asks for (docs/protocol.md, "Server-Sent
// Events"): GET /sse?topic=<topic>[&mode=delta|snapshot], resuming after
// the seq in Last-Event-ID (or ?since=, for clients that cannot set
// headers). Parsing only, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gate.hpp"
#include "messages.hpp"

namespace queuecast {

struct sse_request {
  std::string topic;
  sub_mode mode = sub_mode::delta;
  std::optional<std::int64_t> since;
};

bool is_sse_target(std::string_view target);

// The request, or why it is refused (400, 405).
std::variant<sse_request, refusal> parse_sse_request(const http_request& req);

// One protocol message as an SSE event: "id: <seq>" when the message
// carries a seq (snapshot, delta, subscribed, status, welcome), then "data:".
std::string sse_event(const std::string& message);

}  // namespace queuecast
