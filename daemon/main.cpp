// queuecastd: see `queuecastd --help` and docs/protocol.md.
//
// main() checks everything it can before serving (flags, the open-file
// limit, credentials, the TLS certificate, the listening sockets; any
// problem: exit 2), then serves until SIGTERM/SIGINT (exit 0) or until a
// task of the daemon fails (exit 1): above all the database feed, without
// which the daemon would serve stale data as if it were current.
//
// Threads: the main thread runs the database feed, the listeners, signals
// and timers; connections are spread over --threads shards, each an event
// loop on a thread of its own (net/shards.hpp), and reach the store and the
// hub through shared_hub's lock.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "auth/verifier.hpp"
#include "config.hpp"
#include "net/connection_limits.hpp"
#include "net/gate.hpp"
#include "net/http_session.hpp"
#include "net/hub.hpp"
#include "net/shards.hpp"
#include "net/shared_hub.hpp"
#include "net/tls_context.hpp"
#include "pg/feed.hpp"
#include "pg/sql_service.hpp"
#include "state/store.hpp"
#include "util/log.hpp"
#include "util/open_files.hpp"
#include "util/task_supervisor.hpp"

namespace asio = boost::asio;
using namespace queuecast;

namespace {

constexpr int exit_stopped = 0;    // SIGTERM or SIGINT
constexpr int exit_failed = 1;     // the database is unusable, or a task failed
constexpr int exit_bad_setup = 2;  // a flag, file or address the daemon cannot start with

// Descriptors beyond the connections: PostgreSQL, listeners, logs, files.
constexpr std::size_t spare_descriptors = 64;
// Lowering --max-clients to fit the open-file limit stops here: fewer
// WebSocket clients than this is no daemon worth starting.
constexpr std::size_t min_fitted_clients = 16;
// accept() failing (out of descriptors, say) is retried after this pause.
constexpr auto accept_retry_pause = std::chrono::milliseconds(100);
// Subscriptions waiting for the state (loading, or a client ahead of us) are
// retried this often; the hub gives them a fresh snapshot after a while.
constexpr auto pending_retry_interval = std::chrono::seconds(1);
// Shutdown: the close frames get this long to leave before the loop stops.
constexpr auto shutdown_grace = std::chrono::milliseconds(500);
// What every client is told at shutdown (RFC 6455 "going away").
constexpr std::uint16_t close_going_away = 1001;

// A reason not to start, printed as "queuecastd: <what>" (exit 2).
struct startup_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Every connection the limits allow needs a descriptor. When the hard
// open-file limit is lower, a --max-clients that was not given explicitly is
// lowered to fit (with a warning); an explicit one is an error.
void fit_open_files(config& cfg) {
  std::size_t needed = cfg.max_clients + cfg.max_http_connections + spare_descriptors;
  std::string problem = ensure_open_files(needed);
  if (problem.empty()) return;
  if (cfg.max_clients_given) throw startup_error(problem);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  std::size_t available = limit.rlim_max;
  if (available < cfg.max_http_connections + spare_descriptors + min_fitted_clients)
    throw startup_error(problem);
  cfg.max_clients = available - cfg.max_http_connections - spare_descriptors;
  ensure_open_files(available);
  log(log_level::warn, "max_clients_lowered",
      {{"max_clients", std::to_string(cfg.max_clients)},
       {"why", "the open-file limit is " + std::to_string(available)},
       {"hint", "raise ulimit -Hn (LimitNOFILE=) for more WebSocket clients"}});
}

// Step 1: flags and environment, and the open-file limit they need.
// nullopt: --help was asked for and printed.
std::optional<config> read_config(int argc, char** argv) {
  auto parsed = parse_config(argc, argv);
  if (std::holds_alternative<show_help>(parsed)) {
    std::cout << help_text();
    return std::nullopt;
  }
  if (auto* error = std::get_if<config_error>(&parsed)) throw startup_error(error->message);
  config cfg = std::get<config>(std::move(parsed));
  set_log_level(cfg.level);
  fit_open_files(cfg);
  return cfg;
}

// Step 2: the credentials clients must show, loaded from their files now so
// that a wrong file is a startup error.
auth::verifier make_verifier(const config& cfg) {
  auth::auth_config settings;
  settings.static_token = cfg.token;
  settings.jwt_secret = cfg.jwt_secret;
  settings.jwt_secret_file = cfg.jwt_secret_file;
  settings.jwks_file = cfg.jwks_file;
  settings.audience = cfg.jwt_audience;
  settings.issuer = cfg.jwt_issuer;
  auto created = auth::verifier::create(settings);
  if (auto* error = std::get_if<std::string>(&created)) throw startup_error(*error);
  auto& verifier = std::get<auth::verifier>(created);
  if (!verifier.enabled())
    log(log_level::warn, "no_authentication",
        {{"meaning", "anyone who reaches the port reads every queue"},
         {"hint", "give --token-file, --jwt-secret-file or --jwks-file (docs/security.md)"}});
  return std::move(verifier);
}

// Step 3: the TLS certificate of the main listener, when one is configured.
std::optional<tls_certificate> load_certificate(const config& cfg) {
  if (cfg.tls_cert_file.empty()) return std::nullopt;
  auto loaded = tls_certificate::load(cfg.tls_cert_file, cfg.tls_key_file);
  if (auto* error = std::get_if<std::string>(&loaded)) throw startup_error(*error);
  return std::move(std::get<tls_certificate>(loaded));
}

// Opens a listening socket, or says which flag to change.
void listen_on(asio::ip::tcp::acceptor& acceptor, const std::string& host, std::uint16_t port,
               const char* flag) {
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    throw startup_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + e.what() +
                        " (choose another " + flag + ")");
  }
}

// The kernel keeps at most this much of a connection's output unsent
// (TCP_NOTSENT_LOWAT): a write waits until the socket drains below it. So a
// client that falls behind holds a snapshot or two in the kernel, not
// megabytes of stale ones, and its session conflates the rest in user space
// where the newest state replaces older ones. Bytes in flight are not
// counted, so this does not limit throughput on a long, fast link.
constexpr int max_unsent_bytes = 16 * 1024;

void limit_unsent_bytes(asio::ip::tcp::socket& socket) {
  using unsent_lowat = asio::detail::socket_option::integer<IPPROTO_TCP, TCP_NOTSENT_LOWAT>;
  boost::system::error_code ignored;  // an older kernel: the default, a full send buffer
  socket.set_option(unsent_lowat(max_unsent_bytes), ignored);
}

// tls: the certificate this listener serves (null: plain HTTP). Each
// connection is accepted onto the next shard and served there.
asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, connection_limits& limits,
                                  http_context& context, shard_pool& shards, bool admin_listener,
                                  const tls_certificate* tls) {
  while (acceptor.is_open()) {
    shard& home = shards.next();
    auto [ec, socket] = co_await acceptor.async_accept(
        asio::any_io_executor(home.context().get_executor()), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: log, pause briefly, keep serving.
      log(log_level::warn, "accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor.get_executor(), accept_retry_pause);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;
    auto slot = limits.admit(peer.address());
    if (!slot) continue;  // that address holds its share: closed without a word
    // The HTTP slot is taken here, in the order connections were accepted:
    // taken on the shards, a later connection could win a slot from an
    // earlier one still queued on the other shard (serve() retries if not).
    slot->enter_http();
    socket.set_option(asio::ip::tcp::no_delay(true));
    limit_unsent_bytes(socket);
    start_http_session(std::move(socket), std::move(*slot), context, home, admin_listener,
                       tls ? tls->current() : nullptr);
  }
}

// The threads that serve connections: --threads, or one per core. Measured
// on 2 cores with 1 000 clients of 16 KB snapshots, the clients and
// PostgreSQL on the same machine (bench/RESULTS.md, fanout-realistic-threads):
// 2 shards against 1, p99 16 ms against 18-28 ms at 50 commits/s, and
// 1.25-1.41 times the deliveries at saturation.
std::size_t shard_count(const config& cfg) {
  if (cfg.threads > 0) return cfg.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Step 4: the running daemon. Everything sessions use is declared before
// the shards and so outlives them: sessions still queued in a shard's loop
// are destroyed with it, and give back their hub subscriptions and
// connection slots then.
class server {
 public:
  server(config cfg, auth::verifier verifier, std::optional<tls_certificate> certificate)
      : cfg_(std::move(cfg)),
        verifier_(std::move(verifier)),
        certificate_(std::move(certificate)),
        state_(cfg_.window),
        fanout_(state_),
        shared_(state_, fanout_, shards_),
        door_(cfg_, verifier_),
        limits_(cfg_),
        reads_(cfg_.database, "queuecastd requests"),
        actions_(cfg_.actions_database.empty()
                     ? nullptr
                     : std::make_unique<sql_service>(cfg_.actions_database, "queuecastd actions")),
        // The feed exists before the loop runs, and these are asked only
        // then, inside shared_hub::with() (feed.hpp).
        context_{cfg_,
                 shared_,
                 door_,
                 [this] { return database_.ready(); },
                 [this] { return database_.not_ready_reason(); },
                 &reads_,
                 actions_.get()},
        database_(ioc_.get_executor(), cfg_, state_, shared_),
        shards_(shard_count(cfg_), [this](const std::string&) {
          asio::post(ioc_, [this] { shut_down(exit_failed); });
        }) {
    // The hub asks for replays inside shared_hub::with(), as the feed wants.
    fanout_.set_replayer([this](const replay_request& r) { return database_.request_replay(r); });
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Serves until stopped; the process's exit code. Throws startup_error
  // when a listener cannot be opened.
  int run() {
    open_listeners();
    spawn_tasks();
    watch_signals();
    log(log_level::info, "listening",
        {{"address", cfg_.listen_host + ":" + std::to_string(cfg_.listen_port)},
         {"admin", cfg_.admin_port ? cfg_.admin_host + ":" + std::to_string(cfg_.admin_port) : "-"},
         {"tls", certificate_ ? "on" : "off"},
         {"auth", verifier_.enabled() ? "on" : "off"},
         {"threads", std::to_string(shards_.size())}});
    shards_.start();
    ioc_.run();
    shards_.stop();
    return exit_code_;
  }

 private:
  void open_listeners() {
    listen_on(acceptor_, cfg_.listen_host, cfg_.listen_port, "--listen");
    if (cfg_.admin_port)
      listen_on(admin_acceptor_, cfg_.admin_host, cfg_.admin_port, "--admin-listen");
  }

  void spawn_tasks() {
    tasks_.spawn("database",
                 "without its database feed the daemon would serve stale data as current",
                 database_.run([this](const std::string& message) {
                   // The database was unusable from the start (feed.hpp): nothing to serve.
                   std::fprintf(stderr, "queuecastd: %s\n", message.c_str());
                   shut_down(exit_failed);
                 }));
    tasks_.spawn("accept", "no new client could connect",
                 accept_loop(acceptor_, limits_, context_, shards_, false,
                             certificate_ ? &*certificate_ : nullptr));
    if (cfg_.admin_port)
      tasks_.spawn("admin accept", "health checks and metrics would go unanswered",
                   accept_loop(admin_acceptor_, limits_, context_, shards_, true, nullptr));
    tasks_.spawn("pending subscriptions", "subscriptions waiting for the state would wait forever",
                 retry_pending());
  }

  asio::awaitable<void> retry_pending() {
    asio::steady_timer tick(ioc_);
    while (true) {
      tick.expires_after(pending_retry_interval);
      co_await tick.async_wait(asio::use_awaitable);
      shared_.with([](hub& clients, store&) { clients.retry_pending(); });
    }
  }

  void watch_signals() {
    wait_for_hangup();
    stop_signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      log(log_level::info, "shutting_down", {{"signal", std::to_string(signal)}});
      shut_down(exit_stopped);
    });
  }

  void wait_for_hangup() {
    hangup_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload_credentials();
      wait_for_hangup();
    });
  }

  // SIGHUP: re-read the secret and key files and the TLS certificate; a bad
  // file keeps the old keys (or certificate). Open connections keep the
  // certificate they were accepted with.
  void reload_credentials() {
    std::string problem = verifier_.reload();
    if (problem.empty()) {
      log(log_level::info, "credentials_reloaded", {});
    } else {
      log(log_level::error, "credentials_reload_failed",
          {{"error", problem}, {"meaning", "the previous keys stay in force"}});
    }
    if (!certificate_) return;
    std::string tls_problem = certificate_->reload();
    if (tls_problem.empty()) {
      log(log_level::info, "tls_certificate_reloaded", {{"file", cfg_.tls_cert_file}});
    } else {
      log(log_level::error, "tls_certificate_reload_failed",
          {{"error", tls_problem}, {"meaning", "the previous certificate stays in force"}});
    }
  }

  // Stops accepting, tells every client we are going away, gives the close
  // frames a moment to leave, then stops the loop: run() returns exit_code.
  // The first reason to stop decides the exit code.
  void shut_down(int exit_code) {
    if (stopping_) return;
    stopping_ = true;
    tasks_.stopping();
    exit_code_ = exit_code;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    admin_acceptor_.close(ignored);
    hangup_.cancel(ignored);
    shared_.with([](hub& clients, store&) {
      clients.close_all(close_going_away, "server shutting down; reconnect and resume");
    });
    grace_.expires_after(shutdown_grace);
    grace_.async_wait([this](const boost::system::error_code&) { ioc_.stop(); });
  }

  config cfg_;
  auth::verifier verifier_;
  std::optional<tls_certificate> certificate_;
  store state_;
  hub fanout_;
  shared_hub shared_;  // given shards_ before it exists: it keeps a reference only
  gate door_;
  connection_limits limits_;
  sql_service reads_;                     // a phase's detail (net/api_routes.hpp)
  std::unique_ptr<sql_service> actions_;  // operators' actions; null without --actions-database
  http_context context_;
  asio::io_context ioc_{1};
  feed database_;
  asio::ip::tcp::acceptor acceptor_{ioc_};
  asio::ip::tcp::acceptor admin_acceptor_{ioc_};
  asio::signal_set hangup_{ioc_, SIGHUP};
  asio::signal_set stop_signals_{ioc_, SIGINT, SIGTERM};
  asio::steady_timer grace_{ioc_};
  // A task that ends outside a shutdown stops the daemon (util/task_supervisor.hpp).
  task_supervisor tasks_{ioc_.get_executor(), [this] { shut_down(exit_failed); }};
  bool stopping_ = false;
  int exit_code_ = exit_stopped;
  // Last, so destroyed first: the threads stop at the end of run() (or
  // here), and the sessions still queued in their loops are destroyed while
  // everything they use is still there.
  shard_pool shards_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    std::optional<config> cfg = read_config(argc, argv);
    if (!cfg) return exit_stopped;
    auth::verifier verifier = make_verifier(*cfg);
    std::optional<tls_certificate> certificate = load_certificate(*cfg);
    server running(std::move(*cfg), std::move(verifier), std::move(certificate));
    return running.run();
  } catch (const startup_error& e) {
    std::fprintf(stderr, "queuecastd: %s\n", e.what());
    return exit_bad_setup;
  } catch (const std::exception& e) {
    // A handler of the event loop threw: nothing more can be served.
    log(log_level::error, "daemon_failed", {{"error", e.what()}});
    return exit_failed;
  }
}
