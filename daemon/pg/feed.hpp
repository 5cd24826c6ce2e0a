// The database side of the daemon (DESIGN.md): one LISTEN connection and one
// query connection. LISTEN first, then load every queue and the workflows in
// one REPEATABLE READ transaction with the newest visible seq, then apply
// every change with a larger seq, read from queuecast.changes. A NOTIFY is
// only a doorbell: its payload is never parsed, and any number of them
// arriving together cost one read of the history. On any
// failure: mark the stream stale, reconnect with backoff and jitter, and
// catch up from history (or reload when history no longer reaches back, or
// seq went backwards). It never goes silently deaf: an idle connection is
// probed every few seconds.
#pragma once

#include <boost/asio.hpp>
#include <deque>
#include <random>
#include <string>

#include "../config.hpp"
#include "../net/hub.hpp"
#include "../state/store.hpp"
#include "connection.hpp"

namespace queuecast {

class feed {
 public:
  feed(asio::any_io_executor executor, const config& cfg, store& state, hub& fanout);

  // Runs until the executor stops. The first connection must succeed within
  // cfg.startup_timeout, else on_fatal is called with a message.
  asio::awaitable<void> run(std::function<void(const std::string&)> on_fatal);

  // Ready: connected, state loaded, and no captured table has its capture
  // turned off (capture_status(), extension 0.2.0; unknown counts as fine).
  bool ready() const { return ready_ && capture_problem_.empty(); }

  // Queues a resume that the in-memory window cannot serve; it is answered
  // from queuecast.changes between notifications. False when not connected.
  bool request_replay(const replay_request& request);
  const std::string& not_ready_reason() const { return ready_ ? capture_problem_ : reason_; }

 private:
  asio::awaitable<void> connect_both();
  asio::awaitable<void> load(const std::string& why);
  asio::awaitable<void> resync_after_reconnect();
  asio::awaitable<void> catch_up();
  asio::awaitable<void> listen_loop();
  asio::awaitable<void> probe();
  asio::awaitable<void> check_history_position();
  asio::awaitable<void> check_capture();
  asio::awaitable<void> serve_one_replay();
  asio::awaitable<std::optional<json::array>> replay(const replay_request& request);
  void deliver(const std::vector<change_row>& rows);

  asio::any_io_executor executor_;
  const config& cfg_;
  store& state_;
  hub& hub_;
  pg_connection listen_;
  pg_connection query_;
  bool ready_ = false;
  std::string reason_ = "starting";
  std::string capture_problem_;  // why capture_status() says changes are not recorded
  std::chrono::steady_clock::time_point next_capture_check_{};
  std::deque<replay_request> replays_;
  asio::steady_timer wake_;  // cancelled to wake the listen loop for replays
  std::string reload_reason_;
  std::string history_id_;
  // round must reload everything
  std::mt19937 jitter_{std::random_device{}()};
};

}  // namespace queuecast
