// queuecastd: see `queuecastd --help` and docs/protocol.md.
#include <boost/asio.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "config.hpp"
#include "net/http_session.hpp"
#include "net/hub.hpp"
#include "pg/feed.hpp"
#include "state/store.hpp"
#include "util/log.hpp"

namespace asio = boost::asio;
using namespace queuecast;

namespace {

asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, http_context& context) {
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
    socket.set_option(asio::ip::tcp::no_delay(true));
    start_http_session(std::move(socket), context);
  }
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
  const config cfg = std::get<config>(parsed);
  set_log_level(cfg.level);

  // The state and the hub outlive the event loop: sessions still queued in it
  // unsubscribe from the hub when the loop is destroyed.
  store state(cfg.window);
  hub fanout(state);
  asio::io_context ioc(1);
  feed database(ioc.get_executor(), cfg, state, fanout);
  fanout.set_replayer([&database](const replay_request& r) { return database.request_replay(r); });

  asio::ip::tcp::acceptor acceptor(ioc);
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(cfg.listen_host), cfg.listen_port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "queuecastd: cannot listen on %s:%u: %s (choose another --listen)\n",
                 cfg.listen_host.c_str(), cfg.listen_port, e.what());
    return 2;
  }
  http_context context{cfg, state, fanout, [&] { return database.ready(); },
                       [&] { return database.not_ready_reason(); }};

  int exit_code = 0;
  asio::co_spawn(ioc, database.run([&](const std::string& message) {
    std::fprintf(stderr, "queuecastd: %s\n", message.c_str());
    exit_code = 1;
    ioc.stop();
  }),
                 asio::detached);
  asio::co_spawn(ioc, accept_loop(acceptor, context), asio::detached);

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
      asio::detached);

  // SIGTERM/SIGINT: stop accepting, tell every client we are going away
  // (1001), give the close frames a moment to leave, then exit 0.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log(log_level::info, "shutting_down", {{"signal", std::to_string(signal)}});
    acceptor.close();
    fanout.close_all(1001, "server shutting down; reconnect and resume");
    auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(500));
    timer->async_wait([&ioc, timer](const boost::system::error_code&) { ioc.stop(); });
  });
  log(log_level::info, "listening",
      {{"address", cfg.listen_host + ":" + std::to_string(cfg.listen_port)}});
  ioc.run();
  return exit_code;
}
