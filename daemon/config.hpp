// Command-line flags and their environment-variable equivalents.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "util/log.hpp"

namespace queuecast {

struct config {
  std::string database;  // libpq conninfo or URL
  // Where operators' actions (pause, retry, ...) run, as a role granted
  // queuecast_operator; empty: the daemon only reads (net/api_routes.hpp).
  std::string actions_database;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  // Health, readiness and metrics without credentials, for a private
  // interface; empty: they are served on --listen behind the gate.
  std::string admin_host;
  std::uint16_t admin_port = 0;
  log_level level = log_level::info;
  // Credentials (docs/security.md). All empty: no authentication.
  std::string token;            // the static token: full access
  std::string jwt_secret;       // HS256
  std::string jwt_secret_file;  // re-read on SIGHUP
  std::string jwks_file;        // RS256/ES256 public keys, re-read on SIGHUP
  std::string jwt_audience;
  std::string jwt_issuer;
  std::chrono::seconds auth_timeout{5};  // unauthenticated WebSockets closed after this
  // Browsers: Origins allowed to open WebSockets and read data ("*" any;
  // empty: the origin of the Host the request was sent to). Hosts accepted
  // in the Host header (empty: any, except loopback names only when
  // listening on loopback, against DNS rebinding).
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  // TLS: both set serves https:// and wss:// (re-read on SIGHUP).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::size_t max_clients = 20000;
  bool max_clients_given = false;  // set explicitly: never lowered to fit the open-file limit
  std::size_t max_http_connections = 1024;    // plain HTTP connections at once
  std::size_t max_connections_per_ip = 1024;  // HTTP and WebSocket, per client address
  std::size_t max_queue = 1024;               // delta frames waiting per client
  // The largest WebSocket message and HTTP request body.
  std::size_t max_message_bytes = std::size_t{64} * 1024;
  std::size_t max_subscriptions = 64;  // per connection
  // Negotiate permessage-deflate with clients that offer it (net/deflate_offer.hpp).
  bool permessage_deflate = true;
  std::size_t window = 4096;  // changes per topic kept for resume
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds startup_timeout{15};
  // An idle daemon checks both database connections and the history this
  // often, so a dead connection or a replaced history is noticed quickly.
  std::chrono::milliseconds probe_interval{5000};
  // Threads that serve connections (net/shards.hpp); 0: one per CPU core.
  std::size_t threads = 0;
};

struct show_help {};
struct config_error {
  std::string message;
};

std::variant<config, show_help, config_error> parse_config(int argc, char** argv);
std::string help_text();

}  // namespace queuecast
