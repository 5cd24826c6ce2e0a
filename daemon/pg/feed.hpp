// The database side of the daemon (DESIGN.md): LISTEN first, then load every
// queue and the workflows at one seq, then apply every change with a larger
// seq, read from queuecast.changes. A NOTIFY is only a doorbell: its payload
// is never parsed, and any number of them arriving together cost one read of
// the history. When the history stops fitting our state (pruned past us,
// replaced, gone back, a row that does not apply) the state is reloaded and
// clients start over; when the connection fails, the feed reconnects. Both
// retry with backoff. Idle, it probes every --probe-interval, so it never
// goes silently deaf.
//
// The parts: database_link (connections, doorbell, probe), history_reader
// (every read, each in one snapshot, with one verdict), store (the state),
// hub (the clients). The feed decides what happens next. It runs on the
// main thread, the only one that changes the store; it changes the store and
// talks to the hub inside shared_hub::with(), because sessions on other
// threads read both (net/shared_hub.hpp).
#pragma once

#include <boost/asio.hpp>
#include <deque>
#include <functional>
#include <string>

#include "../config.hpp"
#include "../net/shared_hub.hpp"
#include "../state/store.hpp"
#include "../util/backoff.hpp"
#include "database_link.hpp"
#include "history_reader.hpp"

namespace queuecast {

class feed {
 public:
  feed(asio::any_io_executor executor, const config& cfg, store& state, shared_hub& shared);

  // Runs until the executor stops. The first connection must succeed within
  // cfg.startup_timeout, else on_fatal is called with a message.
  asio::awaitable<void> run(std::function<void(const std::string&)> on_fatal);

  // Ready: connected, state loaded, and no captured table has its capture
  // turned off (capture_status(), extension 0.2.0; unknown counts as fine).
  // Both ask inside shared_hub::with().
  bool ready() const { return ready_ && capture_problem_.empty(); }
  const std::string& not_ready_reason() const { return ready_ ? capture_problem_ : reason_; }

  // Queues a resume that the in-memory window cannot serve; it is answered
  // from queuecast.changes between notifications. False when not connected.
  // The hub calls it, inside shared_hub::with(), from any thread.
  bool request_replay(const replay_request& request);

 private:
  // One connected session: from connecting to the failure that ends it.
  asio::awaitable<void> connect_and_follow();
  asio::awaitable<void> bring_up_to_date();
  asio::awaitable<void> load(const std::string& why);
  asio::awaitable<void> follow();
  asio::awaitable<void> catch_up();
  asio::awaitable<void> probe();
  asio::awaitable<void> check_capture();
  asio::awaitable<void> check_commit_order();
  asio::awaitable<void> serve_one_replay();
  asio::awaitable<std::optional<json::array>> replay(const replay_request& request);
  void deliver(const std::vector<change_row>& rows);
  void go_offline(const std::string& why);
  void answer_queued_replays_fresh(hub& clients);

  asio::any_io_executor executor_;
  const config& cfg_;
  store& state_;  // read freely here (only this thread writes it), written inside with()
  shared_hub& shared_;
  database_link link_;
  history_reader history_;
  // Guarded by shared_'s lock: the hub and the HTTP routes ask from other threads.
  bool ready_ = false;
  std::string reason_ = "starting";
  std::string capture_problem_;  // why capture_status() says changes are not recorded
  std::deque<replay_request> replays_;
  std::chrono::steady_clock::time_point next_capture_check_{};
  std::string stalled_holder_;  // the commit-order holder last logged as stalled
  asio::steady_timer wake_;     // cancelled to wake the listen loop for replays
  std::string reload_reason_;   // set: the next connection reloads everything
  std::string history_id_;      // the history our state follows
  // committed_at of the history row at our seq (0: unknown): a reconnect
  // checks that this row is still the one we applied (bring_up_to_date).
  std::int64_t anchor_committed_at_us_ = 0;
  backoff retry_;
};

}  // namespace queuecast
