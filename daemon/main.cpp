// queuecastd: see `queuecastd --help` and docs/protocol.md.
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "auth/verifier.hpp"
#include "config.hpp"
#include "net/connection_limits.hpp"
#include "net/gate.hpp"
#include "net/http_session.hpp"
#include "net/hub.hpp"
#include "net/tls_context.hpp"
#include "pg/feed.hpp"
#include "state/store.hpp"
#include "util/log.hpp"
#include "util/open_files.hpp"

namespace asio = boost::asio;
using namespace queuecast;

namespace {

// Descriptors beyond the connections: PostgreSQL, listeners, logs, files.
constexpr std::size_t spare_descriptors = 64;

// tls: the certificate this listener serves (null: plain HTTP).
asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, connection_limits& limits,
                                  http_context& context, bool admin_listener,
                                  const tls_certificate* tls) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: log, pause briefly, keep serving.
      log(log_level::warn, "accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;
    auto slot = limits.admit(peer.address());
    if (!slot) continue;  // that address holds its share: closed without a word
    socket.set_option(asio::ip::tcp::no_delay(true));
    start_http_session(std::move(socket), std::move(*slot), context, admin_listener,
                       tls ? tls->current() : nullptr);
  }
}

// Opens a listening socket, or says which flag to change.
bool listen_on(asio::ip::tcp::acceptor& acceptor, const std::string& host, std::uint16_t port,
               const char* flag) {
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "queuecastd: cannot listen on %s:%u: %s (choose another %s)\n",
                 host.c_str(), port, e.what(), flag);
    return false;
  }
}

// Every connection the limits allow needs a descriptor. When the hard
// open-file limit is lower, a --max-clients that was not given explicitly is
// lowered to fit (with a warning); an explicit one is an error.
bool fit_open_files(config& cfg) {
  std::size_t needed = cfg.max_clients + cfg.max_http_connections + spare_descriptors;
  std::string problem = ensure_open_files(needed);
  if (problem.empty()) return true;
  if (cfg.max_clients_given) {
    std::fprintf(stderr, "queuecastd: %s\n", problem.c_str());
    return false;
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  std::size_t available = limit.rlim_max;
  if (available <= cfg.max_http_connections + spare_descriptors + 16) {
    std::fprintf(stderr, "queuecastd: %s\n", problem.c_str());
    return false;
  }
  cfg.max_clients = available - cfg.max_http_connections - spare_descriptors;
  ensure_open_files(available);
  log(log_level::warn, "max_clients_lowered",
      {{"max_clients", std::to_string(cfg.max_clients)},
       {"why", "the open-file limit is " + std::to_string(available)},
       {"hint", "raise ulimit -Hn (LimitNOFILE=) for more WebSocket clients"}});
  return true;
}

auth::auth_config auth_settings(const config& cfg) {
  auth::auth_config a;
  a.static_token = cfg.token;
  a.jwt_secret = cfg.jwt_secret;
  a.jwt_secret_file = cfg.jwt_secret_file;
  a.jwks_file = cfg.jwks_file;
  a.audience = cfg.jwt_audience;
  a.issuer = cfg.jwt_issuer;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_config(argc, argv);
  if (std::holds_alternative<show_help>(parsed)) {
    std::cout << help_text();
    return 0;
  }
  if (auto* error = std::get_if<config_error>(&parsed)) {
    std::fprintf(stderr, "queuecastd: %s\n", error->message.c_str());
    return 2;
  }
  config cfg = std::get<config>(parsed);
  set_log_level(cfg.level);
  if (!fit_open_files(cfg)) return 2;
  auto created = auth::verifier::create(auth_settings(cfg));
  if (auto* error = std::get_if<std::string>(&created)) {
    std::fprintf(stderr, "queuecastd: %s\n", error->c_str());
    return 2;
  }
  auth::verifier verifier = std::move(std::get<auth::verifier>(created));
  std::optional<tls_certificate> certificate;
  if (!cfg.tls_cert_file.empty()) {
    auto loaded = tls_certificate::load(cfg.tls_cert_file, cfg.tls_key_file);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      std::fprintf(stderr, "queuecastd: %s\n", error->c_str());
      return 2;
    }
    certificate = std::move(std::get<tls_certificate>(loaded));
  }
  if (!verifier.enabled())
    log(log_level::warn, "no_authentication",
        {{"meaning", "anyone who reaches the port reads every queue"},
         {"hint", "give --token-file, --jwt-secret-file or --jwks-file (docs/security.md)"}});

  // Everything sessions use outlives the event loop: sessions still queued
  // in it are destroyed with it, and give back their hub subscriptions and
  // connection slots then.
  store state(cfg.window);
  hub fanout(state);
  gate door(cfg, verifier);
  connection_limits limits(cfg);
  feed* database_ptr = nullptr;  // set once the feed exists; asked only while running
  http_context context{cfg,
                       state,
                       fanout,
                       door,
                       [&] { return database_ptr->ready(); },
                       [&] { return database_ptr->not_ready_reason(); }};
  asio::io_context ioc(1);
  feed database(ioc.get_executor(), cfg, state, fanout);
  database_ptr = &database;
  fanout.set_replayer([&database](const replay_request& r) { return database.request_replay(r); });

  asio::ip::tcp::acceptor acceptor(ioc);
  asio::ip::tcp::acceptor admin_acceptor(ioc);
  if (!listen_on(acceptor, cfg.listen_host, cfg.listen_port, "--listen")) return 2;
  if (cfg.admin_port &&
      !listen_on(admin_acceptor, cfg.admin_host, cfg.admin_port, "--admin-listen"))
    return 2;

  int exit_code = 0;
  auto log_failure = [](const char* what) {
    return [what](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log(log_level::error, "task_failed", {{"task", what}, {"error", e.what()}});
      }
    };
  };
  asio::co_spawn(ioc, database.run([&](const std::string& message) {
    std::fprintf(stderr, "queuecastd: %s\n", message.c_str());
    exit_code = 1;
    ioc.stop();
  }),
                 log_failure("database"));
  asio::co_spawn(
      ioc, accept_loop(acceptor, limits, context, false, certificate ? &*certificate : nullptr),
      log_failure("accept"));
  if (cfg.admin_port)
    asio::co_spawn(ioc, accept_loop(admin_acceptor, limits, context, true, nullptr),
                   log_failure("admin accept"));

  // Subscriptions waiting for the state (loading, or a client ahead of us)
  // are retried every second and given a fresh snapshot after a while.
  asio::co_spawn(
      ioc,
      [&fanout]() -> asio::awaitable<void> {
        asio::steady_timer tick(co_await asio::this_coro::executor);
        while (true) {
          tick.expires_after(std::chrono::seconds(1));
          co_await tick.async_wait(asio::use_awaitable);
          fanout.retry_pending();
        }
      },
      log_failure("pending subscriptions"));

  // SIGHUP: re-read the secret and key files and the TLS certificate; a bad
  // file keeps the old keys (or certificate). Open connections keep the
  // certificate they were accepted with.
  asio::signal_set hangup(ioc, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        std::string problem = verifier.reload();
        if (problem.empty()) {
          log(log_level::info, "credentials_reloaded", {});
        } else {
          log(log_level::error, "credentials_reload_failed",
              {{"error", problem}, {"meaning", "the previous keys stay in force"}});
        }
        if (certificate) {
          std::string tls_problem = certificate->reload();
          if (tls_problem.empty()) {
            log(log_level::info, "tls_certificate_reloaded", {{"file", cfg.tls_cert_file}});
          } else {
            log(log_level::error, "tls_certificate_reload_failed",
                {{"error", tls_problem}, {"meaning", "the previous certificate stays in force"}});
          }
        }
        hangup.async_wait(on_hangup);
      };
  hangup.async_wait(on_hangup);

  // SIGTERM/SIGINT: stop accepting, tell every client we are going away
  // (1001), give the close frames a moment to leave, then exit 0.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log(log_level::info, "shutting_down", {{"signal", std::to_string(signal)}});
    acceptor.close();
    admin_acceptor.close();
    hangup.cancel();
    fanout.close_all(1001, "server shutting down; reconnect and resume");
    auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(500));
    timer->async_wait([&ioc, timer](const boost::system::error_code&) { ioc.stop(); });
  });
  log(log_level::info, "listening",
      {{"address", cfg.listen_host + ":" + std::to_string(cfg.listen_port)},
       {"admin", cfg.admin_port ? cfg.admin_host + ":" + std::to_string(cfg.admin_port) : "-"},
       {"tls", certificate ? "on" : "off"},
       {"auth", verifier.enabled() ? "on" : "off"}});
  ioc.run();
  return exit_code;
}
