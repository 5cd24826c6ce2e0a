#include "config.hpp"

#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>

namespace queuecast {

std::string help_text() {
  return R"(queuecastd - live snapshots of queuecast queues over WebSocket

Usage: queuecastd --database CONNINFO [options]

Connects to a PostgreSQL database that has `CREATE EXTENSION queuecast`,
keeps every queue's state in memory and pushes each commit to WebSocket
clients (protocol: docs/protocol.md). Every flag has an environment variable.

  --database CONNINFO     libpq connection string or URL of the PRIMARY
                          (LISTEN does not work through transaction poolers)
                          e.g. postgresql://app@db.internal/app   [QUEUECAST_DATABASE]
  --listen HOST:PORT      address for HTTP and WebSocket (default 127.0.0.1:8080)
                                                                   [QUEUECAST_LISTEN]
  --log-level LEVEL       debug, info, warn or error (default info) [QUEUECAST_LOG_LEVEL]
  --token TOKEN           require this token: a first message {"type":"hello","token":...}
                          or Sec-WebSocket-Protocol "queuecast.v1, token.TOKEN"
                          (default: no authentication)              [QUEUECAST_TOKEN]
  --max-clients N         WebSocket connections at most (default 20000) [QUEUECAST_MAX_CLIENTS]
  --max-queue N           delta frames waiting for one client before it is closed
                          with code 4001 (default 1024)             [QUEUECAST_MAX_QUEUE]
  --max-message-bytes N   largest client message; larger closes with 1009
                          (default 65536)                           [QUEUECAST_MAX_MESSAGE_BYTES]
  --max-subscriptions N   topics per connection (default 64)       [QUEUECAST_MAX_SUBSCRIPTIONS]
  --window N              recent changes kept per topic for resume (default 4096)
                                                                   [QUEUECAST_WINDOW]
  --idle-timeout SECONDS  drop a client silent this long; pings at half of it
                          (default 60)                              [QUEUECAST_IDLE_TIMEOUT]
  --startup-timeout SECONDS  give up when the database is unreachable this long
                          at startup (default 15)                   [QUEUECAST_STARTUP_TIMEOUT]
  --help                  this text

Endpoints: /ws (protocol v1), /api/v1/ws/queue?queue=NAME (compatibility),
/ws/workflow?id=ID (job events), /api/v1/queues/NAME, /api/v1/workflows,
/healthz, /readyz, /metrics, / (dashboard), /queuecast.js.
)";
}

namespace {

std::size_t to_count(const std::string& flag, const std::string& value, std::size_t min,
                     std::size_t max) {
  try {
    std::size_t pos = 0;
    long long n = std::stoll(value, &pos);
    if (pos != value.size() || n < static_cast<long long>(min) || n > static_cast<long long>(max))
      throw 0;
    return static_cast<std::size_t>(n);
  } catch (...) {
    throw std::invalid_argument(flag + " needs a whole number from " + std::to_string(min) +
                                " to " + std::to_string(max) + ", got '" + value + "'");
  }
}

void set_listen(config& c, const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::invalid_argument("--listen needs HOST:PORT, e.g. 127.0.0.1:8080, got '" + value +
                                "'");
  }
  c.listen_host = value.substr(0, colon);
  if (c.listen_host.front() == '[' && c.listen_host.back() == ']') {
    c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
  }
  c.listen_port =
      static_cast<std::uint16_t>(to_count("--listen port", value.substr(colon + 1), 1, 65535));
}

using setter = std::function<void(config&, const std::string&)>;

const std::map<std::string, std::pair<const char*, setter>>& options() {
  static const std::map<std::string, std::pair<const char*, setter>> table = {
      {"--database",
       {"QUEUECAST_DATABASE", [](config& c, const std::string& v) { c.database = v; }}},
      {"--listen", {"QUEUECAST_LISTEN", set_listen}},
      {"--log-level",
       {"QUEUECAST_LOG_LEVEL",
        [](config& c, const std::string& v) {
          if (!parse_log_level(v, c.level))
            throw std::invalid_argument("--log-level is debug, info, warn or error, got '" + v +
                                        "'");
        }}},
      {"--token", {"QUEUECAST_TOKEN", [](config& c, const std::string& v) { c.token = v; }}},
      {"--max-clients",
       {"QUEUECAST_MAX_CLIENTS",
        [](config& c, const std::string& v) {
          c.max_clients = to_count("--max-clients", v, 1, 1000000);
        }}},
      {"--max-queue",
       {"QUEUECAST_MAX_QUEUE",
        [](config& c, const std::string& v) {
          c.max_queue = to_count("--max-queue", v, 1, 1000000);
        }}},
      {"--max-message-bytes",
       {"QUEUECAST_MAX_MESSAGE_BYTES",
        [](config& c, const std::string& v) {
          c.max_message_bytes = to_count("--max-message-bytes", v, 256, 64 << 20);
        }}},
      {"--max-subscriptions",
       {"QUEUECAST_MAX_SUBSCRIPTIONS",
        [](config& c, const std::string& v) {
          c.max_subscriptions = to_count("--max-subscriptions", v, 1, 10000);
        }}},
      {"--window",
       {"QUEUECAST_WINDOW",
        [](config& c, const std::string& v) { c.window = to_count("--window", v, 0, 10000000); }}},
      {"--idle-timeout",
       {"QUEUECAST_IDLE_TIMEOUT",
        [](config& c, const std::string& v) {
          c.idle_timeout = std::chrono::seconds(to_count("--idle-timeout", v, 2, 86400));
        }}},
      {"--startup-timeout",
       {"QUEUECAST_STARTUP_TIMEOUT",
        [](config& c, const std::string& v) {
          c.startup_timeout = std::chrono::seconds(to_count("--startup-timeout", v, 0, 86400));
        }}},
  };
  return table;
}

}  // namespace

std::variant<config, show_help, config_error> parse_config(int argc, char** argv) {
  config c;
  try {
    for (const auto& [flag, option] : options()) {
      if (const char* value = std::getenv(option.first); value && *value) option.second(c, value);
    }
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") return show_help{};
      std::string value;
      auto eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      auto option = options().find(arg);
      if (option == options().end()) throw std::invalid_argument("unknown option '" + arg + "'");
      if (eq == std::string::npos) {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        value = argv[++i];
      }
      option->second.second(c, value);
    }
    if (c.database.empty()) {
      throw std::invalid_argument(
          "--database is required (or QUEUECAST_DATABASE), e.g. --database "
          "postgresql://localhost/app");
    }
  } catch (const std::invalid_argument& e) {
    return config_error{std::string(e.what()) + " (see queuecastd --help)"};
  }
  return c;
}

}  // namespace queuecast
