// Plain HTTP requests: which route, who may use it, and the response. No I/O
// here, so the whole request handling can be tested and fuzzed without a
// socket (tests/fuzz).
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <optional>
#include <string>

#include "../config.hpp"
#include "../state/store.hpp"
#include "gate.hpp"
#include "messages.hpp"
#include "shared_hub.hpp"

namespace queuecast {

class sql_service;

using http_response = http::response<http::string_body>;

struct http_context {
  const config& cfg;
  shared_hub& shared;  // the store and the hub, behind their lock
  gate& door;
  std::function<bool()> ready;
  std::function<std::string()> not_ready_reason;
  // Statements for the API (net/api_routes.hpp): reads on --database,
  // actions on --actions-database (null: the daemon only reads).
  sql_service* reads = nullptr;
  sql_service* actions = nullptr;
};

// Where a request arrived: TLS or not, the main listener or --admin-listen,
// and the peer's address for logs.
struct request_origin {
  bool tls = false;
  bool admin_listener = false;
  std::string peer;
};

// The response to one non-upgrade request. Never throws.
http_response route_request(const http_request& req, http_context& ctx, const request_origin& from);

// A JSON response with the security headers.
http_response json_reply(const http_request& req, http::status status, std::string body);

// 401 for a request whose credential was missing (sent_credential false) or
// refused (the verdict's error code), with WWW-Authenticate.
http_response unauthorized_response(const http_request& req, bool sent_credential,
                                    const auth::verdict& verdict);

// A JSON error response with the security headers.
http_response error_response(const http_request& req, http::status status, const std::string& code,
                             const std::string& message);

// What a WebSocket upgrade asks for: the protocol endpoint, or a
// compatibility endpoint fixed to one topic.
enum class session_kind { protocol, compat_queue, job_events, queue_jobs };
struct websocket_target {
  session_kind kind;
  std::string topic;  // empty for the protocol endpoint
};
std::optional<websocket_target> websocket_route(std::string_view target);

}  // namespace queuecast
