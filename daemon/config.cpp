#include "config.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <stdexcept>

namespace queuecast {

namespace {

// Its defaults repeat config.hpp's: change them together.
constexpr const char* help = R"(queuecastd - live snapshots of queuecast queues over WebSocket

Usage: queuecastd --database CONNINFO [options]

Connects to a PostgreSQL database that has `CREATE EXTENSION queuecast`,
keeps every queue's state in memory and pushes each commit to WebSocket
clients (protocol: docs/protocol.md). Every flag has an environment variable.

  --database CONNINFO     libpq connection string or URL of the PRIMARY
                          (LISTEN does not work through transaction poolers)
                          e.g. postgresql://app@db.internal/app   [QUEUECAST_DATABASE]
  --actions-database CONNINFO
                          where operators' actions run (pause, resume, retry,
                          cancel from the dashboard or POST /api/v1/...): a role
                          granted queuecast_operator. Needs credentials below;
                          only tokens with role operator or admin may act.
                          Default: none, the daemon only reads [QUEUECAST_ACTIONS_DATABASE]
  --listen HOST:PORT      address for HTTP and WebSocket (default 127.0.0.1:8080)
                                                                   [QUEUECAST_LISTEN]
  --log-level LEVEL       debug, info, warn or error (default info) [QUEUECAST_LOG_LEVEL]

Credentials (docs/security.md; default: none, everything open - bind to loopback).
A client sends one as its first WebSocket message {"type":"hello","token":...},
as Sec-WebSocket-Protocol "queuecast.v1, token.<token>", or for HTTP as
"Authorization: Bearer <token>". Never in a URL.
  --token TOKEN           a static token with full access (visible in ps: prefer
                          --token-file or the variable)            [QUEUECAST_TOKEN]
  --token-file FILE       the same, read from FILE (keeps it off the command line)
                                                                   [QUEUECAST_TOKEN_FILE]
  --jwt-secret-file FILE  accept HS256 JWTs signed with the secret in FILE (at least
                          32 bytes; re-read on SIGHUP)             [QUEUECAST_JWT_SECRET_FILE]
                          or give the secret itself in the environment: QUEUECAST_JWT_SECRET
  --jwks-file FILE        accept RS256/ES256 JWTs signed by a key in this JWKS
                          file (re-read on SIGHUP)                 [QUEUECAST_JWKS_FILE]
  --jwt-audience AUD      require this "aud" claim                 [QUEUECAST_JWT_AUDIENCE]
  --jwt-issuer ISS        require this "iss" claim                 [QUEUECAST_JWT_ISSUER]
  --auth-timeout SECONDS  close WebSockets that have not authenticated by then
                          (default 5)                              [QUEUECAST_AUTH_TIMEOUT]
  --allowed-origins LIST  comma-separated browser origins that may connect, e.g.
                          https://ops.example.com; "*" any (default: only the
                          origin of the daemon's own address)      [QUEUECAST_ALLOWED_ORIGINS]
  --allowed-hosts LIST    comma-separated names accepted in the Host header
                          (default: any; loopback names only when --listen is a
                          loopback address)                        [QUEUECAST_ALLOWED_HOSTS]
  --admin-listen HOST:PORT  serve /healthz, /readyz and /metrics here without
                          credentials (a private interface); they then leave --listen
                                                                   [QUEUECAST_ADMIN_LISTEN]
  --tls-cert FILE, --tls-key FILE  serve https:// and wss:// with this PEM
                          certificate chain and key (re-read on SIGHUP)
                                                    [QUEUECAST_TLS_CERT, QUEUECAST_TLS_KEY]

Limits:
  --max-clients N         WebSocket connections at most (default 20000; the
                          open-file limit is raised to fit)         [QUEUECAST_MAX_CLIENTS]
  --max-http-connections N  plain HTTP connections at once (default 1024)
                                                                   [QUEUECAST_MAX_HTTP_CONNECTIONS]
  --max-connections-per-ip N  connections from one address (default 1024)
                                                                   [QUEUECAST_MAX_CONNECTIONS_PER_IP]
  --max-queue N           delta frames waiting for one client before it is closed
                          with code 4001 (default 1024)             [QUEUECAST_MAX_QUEUE]
  --max-message-bytes N   largest client message (a larger one closes with 1009)
                          or HTTP request body (default 65536)      [QUEUECAST_MAX_MESSAGE_BYTES]
  --max-subscriptions N   topics per connection (default 64)       [QUEUECAST_MAX_SUBSCRIPTIONS]
  --window N              recent changes kept per topic for resume (default 4096)
                                                                   [QUEUECAST_WINDOW]
  --idle-timeout SECONDS  drop a client silent this long; pings at half of it
                          (default 60)                              [QUEUECAST_IDLE_TIMEOUT]
  --startup-timeout SECONDS  give up when the database is unreachable this long
                          at startup (default 15)                   [QUEUECAST_STARTUP_TIMEOUT]
  --probe-interval MS      when idle, check the database connections and history
                          this often (default 5000)                 [QUEUECAST_PROBE_INTERVAL]
  --threads N             threads that serve connections; the database feed
                          has its own (default 0: one per CPU core) [QUEUECAST_THREADS]
  --permessage-deflate on|off  compress messages of 256 bytes and more for
                          clients that offer permessage-deflate (browsers do), once
                          per message for all of them (default on)
                                                                   [QUEUECAST_PERMESSAGE_DEFLATE]
  --help                  this text

Endpoints: /ws (protocol v1), /api/v1/ws/queue?queue=NAME (compatibility),
/ws/workflow?id=ID (job events), /api/v1/queues/NAME, /api/v1/workflows,
/healthz, /readyz, /metrics, / (dashboard), /queuecast.js.
)";

// Upper bounds of the flags: far above any sensible setting, low enough that
// a typo (an extra zero or three) is an error rather than a daemon that
// reserves the impossible.
constexpr std::size_t max_port = 65535;
constexpr std::size_t max_connection_count = 1000000;  // clients, connections, queued frames
constexpr std::size_t min_message_bytes = 256;         // room for any request of the protocol
constexpr std::size_t max_message_bytes = std::size_t{64} << 20;
constexpr std::size_t max_subscription_count = 10000;
constexpr std::size_t max_window = 10000000;
constexpr std::size_t one_hour_seconds = 3600;
constexpr std::size_t one_day_seconds = 86400;
constexpr std::size_t max_threads = 256;
// Probing more often than this costs the database more than it tells us.
constexpr std::size_t min_probe_interval_ms = 10;
// The idle timeout pings at half of it: one second is the least that halves.
constexpr std::size_t min_idle_timeout_seconds = 2;

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

void parse_host_port(const std::string& flag, const std::string& value, std::string& host,
                     std::uint16_t& port) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::invalid_argument(flag + " needs HOST:PORT, e.g. 127.0.0.1:8080, got '" + value +
                                "'");
  }
  host = value.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  port = static_cast<std::uint16_t>(to_count(flag + " port", value.substr(colon + 1), 1, max_port));
}

void set_listen(config& c, const std::string& flag, const std::string& value) {
  parse_host_port(flag, value, c.listen_host, c.listen_port);
}

void set_admin_listen(config& c, const std::string& flag, const std::string& value) {
  parse_host_port(flag, value, c.admin_host, c.admin_port);
}

// The whole content of a secret file, without a trailing newline.
std::string read_secret_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(flag + ": cannot read '" + path + "'");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  if (content.empty()) throw std::invalid_argument(flag + ": '" + path + "' is empty");
  return content;
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    std::string item =
        value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

void require_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(flag + ": cannot read '" + path + "'");
}

// Sets one field from a flag's value; flag names the flag in errors.
using setter = std::function<void(config&, const std::string& flag, const std::string& value)>;

setter text(std::string config::*member) {
  return [member](config& c, const std::string&, const std::string& v) { c.*member = v; };
}

setter list(std::vector<std::string> config::*member) {
  return
      [member](config& c, const std::string&, const std::string& v) { c.*member = split_list(v); };
}

setter count(std::size_t config::*member, std::size_t min, std::size_t max) {
  return [member, min, max](config& c, const std::string& flag, const std::string& v) {
    c.*member = to_count(flag, v, min, max);
  };
}

setter seconds(std::chrono::seconds config::*member, std::size_t min, std::size_t max) {
  return [member, min, max](config& c, const std::string& flag, const std::string& v) {
    c.*member = std::chrono::seconds(to_count(flag, v, min, max));
  };
}

setter milliseconds(std::chrono::milliseconds config::*member, std::size_t min, std::size_t max) {
  return [member, min, max](config& c, const std::string& flag, const std::string& v) {
    c.*member = std::chrono::milliseconds(to_count(flag, v, min, max));
  };
}

// A flag naming a file the daemon reads (at startup and on SIGHUP): it must
// be readable now, so a typo is a startup error, not a surprise later.
setter file_path(std::string config::*member) {
  return [member](config& c, const std::string& flag, const std::string& v) {
    require_file(flag, v);
    c.*member = v;
  };
}

void set_level(config& c, const std::string& flag, const std::string& v) {
  if (!parse_log_level(v, c.level))
    throw std::invalid_argument(flag + " is debug, info, warn or error, got '" + v + "'");
}

void set_token_file(config& c, const std::string& flag, const std::string& v) {
  c.token = read_secret_file(flag, v);
}

void set_permessage_deflate(config& c, const std::string& flag, const std::string& v) {
  if (v != "on" && v != "off") throw std::invalid_argument(flag + " is on or off, got '" + v + "'");
  c.permessage_deflate = v == "on";
}

void set_max_clients(config& c, const std::string& flag, const std::string& v) {
  c.max_clients = to_count(flag, v, 1, max_connection_count);
  c.max_clients_given = true;
}

// Every flag: its environment variable and how it sets the configuration.
const std::map<std::string, std::pair<const char*, setter>>& options() {
  static const std::map<std::string, std::pair<const char*, setter>> table = {
      {"--database", {"QUEUECAST_DATABASE", text(&config::database)}},
      {"--actions-database", {"QUEUECAST_ACTIONS_DATABASE", text(&config::actions_database)}},
      {"--listen", {"QUEUECAST_LISTEN", set_listen}},
      {"--log-level", {"QUEUECAST_LOG_LEVEL", set_level}},
      {"--token", {"QUEUECAST_TOKEN", text(&config::token)}},
      {"--token-file", {"QUEUECAST_TOKEN_FILE", set_token_file}},
      // No command-line form: a secret on a command line is visible to every user.
      {"", {"QUEUECAST_JWT_SECRET", text(&config::jwt_secret)}},
      {"--jwt-secret-file", {"QUEUECAST_JWT_SECRET_FILE", file_path(&config::jwt_secret_file)}},
      {"--jwks-file", {"QUEUECAST_JWKS_FILE", file_path(&config::jwks_file)}},
      {"--jwt-audience", {"QUEUECAST_JWT_AUDIENCE", text(&config::jwt_audience)}},
      {"--jwt-issuer", {"QUEUECAST_JWT_ISSUER", text(&config::jwt_issuer)}},
      {"--auth-timeout",
       {"QUEUECAST_AUTH_TIMEOUT", seconds(&config::auth_timeout, 1, one_hour_seconds)}},
      {"--allowed-origins", {"QUEUECAST_ALLOWED_ORIGINS", list(&config::allowed_origins)}},
      {"--allowed-hosts", {"QUEUECAST_ALLOWED_HOSTS", list(&config::allowed_hosts)}},
      {"--admin-listen", {"QUEUECAST_ADMIN_LISTEN", set_admin_listen}},
      {"--tls-cert", {"QUEUECAST_TLS_CERT", file_path(&config::tls_cert_file)}},
      {"--tls-key", {"QUEUECAST_TLS_KEY", file_path(&config::tls_key_file)}},
      {"--max-http-connections",
       {"QUEUECAST_MAX_HTTP_CONNECTIONS",
        count(&config::max_http_connections, 1, max_connection_count)}},
      {"--max-connections-per-ip",
       {"QUEUECAST_MAX_CONNECTIONS_PER_IP",
        count(&config::max_connections_per_ip, 1, max_connection_count)}},
      {"--max-clients", {"QUEUECAST_MAX_CLIENTS", set_max_clients}},
      {"--max-queue", {"QUEUECAST_MAX_QUEUE", count(&config::max_queue, 1, max_connection_count)}},
      {"--max-message-bytes",
       {"QUEUECAST_MAX_MESSAGE_BYTES",
        count(&config::max_message_bytes, min_message_bytes, max_message_bytes)}},
      {"--max-subscriptions",
       {"QUEUECAST_MAX_SUBSCRIPTIONS",
        count(&config::max_subscriptions, 1, max_subscription_count)}},
      {"--permessage-deflate", {"QUEUECAST_PERMESSAGE_DEFLATE", set_permessage_deflate}},
      {"--window", {"QUEUECAST_WINDOW", count(&config::window, 0, max_window)}},
      {"--idle-timeout",
       {"QUEUECAST_IDLE_TIMEOUT",
        seconds(&config::idle_timeout, min_idle_timeout_seconds, one_day_seconds)}},
      {"--startup-timeout",
       {"QUEUECAST_STARTUP_TIMEOUT", seconds(&config::startup_timeout, 0, one_day_seconds)}},
      {"--probe-interval",
       {"QUEUECAST_PROBE_INTERVAL",
        milliseconds(&config::probe_interval, min_probe_interval_ms, one_hour_seconds * 1000)}},
      {"--threads", {"QUEUECAST_THREADS", count(&config::threads, 0, max_threads)}},
  };
  return table;
}

}  // namespace

std::string help_text() {
  return help;
}

std::variant<config, show_help, config_error> parse_config(int argc, char** argv) {
  config c;
  try {
    for (const auto& [flag, option] : options()) {
      // The flag's name in errors; the variable's when it has no flag.
      if (const char* value = std::getenv(option.first); value && *value)
        option.second(c, flag.empty() ? option.first : flag, value);
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
      auto option = arg.rfind("--", 0) == 0 ? options().find(arg) : options().end();
      if (option == options().end()) throw std::invalid_argument("unknown option '" + arg + "'");
      if (eq == std::string::npos) {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        value = argv[++i];
      }
      option->second.second(c, arg, value);
    }
    if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
      throw std::invalid_argument("--tls-cert and --tls-key go together: give both or neither");
    }
    bool has_credentials = !c.token.empty() || !c.jwt_secret.empty() ||
                           !c.jwt_secret_file.empty() || !c.jwks_file.empty();
    if (!c.actions_database.empty() && !has_credentials) {
      throw std::invalid_argument(
          "--actions-database needs credentials (--token-file, --jwt-secret-file or "
          "--jwks-file): without them anyone who reaches the port could pause queues");
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
