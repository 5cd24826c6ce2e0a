// Command-line flags and their environment-variable equivalents.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "util/log.hpp"

namespace queuecast {

struct config {
  std::string database;  // libpq conninfo or URL
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  log_level level = log_level::info;
  std::string token;  // empty: no authentication
  std::size_t max_clients = 20000;
  std::size_t max_queue = 1024;  // delta frames waiting per client
  std::size_t max_message_bytes = 64 * 1024;
  std::size_t max_subscriptions = 64;  // per connection
  std::size_t window = 4096;           // changes per topic kept for resume
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds startup_timeout{15};
};

struct show_help {};
struct config_error {
  std::string message;
};

std::variant<config, show_help, config_error> parse_config(int argc, char** argv);
std::string help_text();

}  // namespace queuecast
