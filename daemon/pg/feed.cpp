#include "feed.hpp"

#include "../util/log.hpp"
#include "../util/metrics.hpp"

namespace queuecast {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t catch_up_batch = 5000;
// A commit-order holder this old is logged as stalled (feed::check_commit_order).
constexpr double commit_order_stall_seconds = 5;
// Resumes waiting for a history read; more are told to start fresh. Each
// connection has at most one that counts (hub::replay_wanted).
constexpr std::size_t max_queued_replays = 10000;
// Reconnects and reloads: 100 ms after the first failure, doubling to at most 5 s.
constexpr auto first_retry = 100ms;
constexpr auto longest_retry = 5s;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* verdict_event(history_verdict verdict) {
  switch (verdict) {
    case history_verdict::replaced:
      return "history_replaced";
    case history_verdict::went_back:
      return "seq_went_backwards";
    case history_verdict::pruned_past:
      return "history_pruned_past_us";
    case history_verdict::unreadable:
      return "history_unreadable";
    case history_verdict::follows:
      break;
  }
  return "history_follows";
}

// The feed's answer to a verdict that is not `follows`: the state no longer
// fits the history, so everything is reloaded and clients start over.
[[noreturn]] void diverge(const history_judgement& judgement, std::int64_t our_seq) {
  log(log_level::warn, verdict_event(judgement.verdict),
      {{"ours", std::to_string(our_seq)},
       {"reason", judgement.reason},
       {"meaning", "reloading the state; clients start over"}});
  throw state_diverged(judgement.reason);
}

}  // namespace

feed::feed(asio::any_io_executor executor, const config& cfg, store& state, shared_hub& shared)
    : executor_(executor),
      cfg_(cfg),
      state_(state),
      shared_(shared),
      link_(executor, cfg),
      history_(link_.queries()),
      wake_(executor),
      retry_(first_retry, longest_retry) {}

bool feed::request_replay(const replay_request& request) {
  if (!ready_ || replays_.size() >= max_queued_replays) return false;
  replays_.push_back(request);
  // Possibly on a session's thread: the timer is cancelled on ours.
  asio::post(executor_, [this] { wake_.cancel(); });
  return true;
}

// ---- the session loop -------------------------------------------------------

asio::awaitable<void> feed::run(std::function<void(const std::string&)> on_fatal) {
  auto started = std::chrono::steady_clock::now();
  bool ever_connected = false;
  while (true) {
    std::string why;
    try {
      co_await link_.connect();
      process_metrics().db_connected = true;
      ever_connected = true;
      co_await connect_and_follow();
    } catch (const state_diverged& e) {
      // History does not fit our state (a renamed queue, pruned past us):
      // reload. Immediately the first time; again and again means backoff.
      log(log_level::warn, "state_diverged", {{"error", e.what()}, {"action", "reloading"}});
      reload_reason_ = std::string("state reloaded: ") + e.what();
      why = std::string("history does not fit the state (") + e.what() + "); reloading";
    } catch (const std::exception& e) {
      std::string error = e.what();
      if (!ever_connected && std::chrono::steady_clock::now() - started > cfg_.startup_timeout) {
        on_fatal("cannot use the database: " + error + " — " + database_link::hint_for(error));
        co_return;
      }
      log(log_level::warn, "db_connection_lost",
          {{"error", error}, {"hint", database_link::hint_for(error)}});
      why = "database connection lost; reconnecting";
      if (ever_connected) process_metrics().db_reconnects++;
    }
    go_offline(why);
    auto pause = retry_.next_pause();
    log(log_level::info, "db_retry", {{"in_ms", std::to_string(pause.count())}, {"why", why}});
    asio::steady_timer timer(executor_, pause);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// Clients keep the last known state, marked not live, until we are back.
void feed::go_offline(const std::string& why) {
  shared_.with([&](hub& clients, store& state) {
    ready_ = false;
    reason_ = why;
    answer_queued_replays_fresh(clients);
    clients.set_live(false, state.loaded() ? why + "; serving the last known state" : why);
  });
  process_metrics().db_connected = false;
  link_.disconnect();
}

void feed::answer_queued_replays_fresh(hub& clients) {
  while (!replays_.empty()) {
    clients.finish_replay(replays_.front(), std::nullopt);
    replays_.pop_front();
  }
}

asio::awaitable<void> feed::connect_and_follow() {
  log(log_level::info, "db_connected", {{"seq", std::to_string(state_.seq())}});
  co_await bring_up_to_date();
  co_await check_capture();
  co_await check_commit_order();
  shared_.with([&](hub& clients, store&) {
    ready_ = true;
    reason_.clear();
    clients.set_live(true, "");
  });
  co_await follow();
}

// First connection: load. Later ones: catch up from history when it still
// reaches back to our position, else (pruned, restored backup, re-created
// extension, or a reload pending) load again.
asio::awaitable<void> feed::bring_up_to_date() {
  if (!state_.loaded()) co_return co_await load("startup");
  if (!reload_reason_.empty()) co_return co_await load(std::exchange(reload_reason_, {}));
  history_judgement judgement = co_await history_.check(history_id_, state_.seq());
  if (!judgement.follows()) {
    log(log_level::warn, verdict_event(judgement.verdict),
        {{"ours", std::to_string(state_.seq())}, {"reason", judgement.reason}});
    co_return co_await load(judgement.reason);
  }
  // A commit is visible before it is flushed (docs/capture.md): a crash can
  // take back rows we applied and served, and new commits can reach our seq
  // again (even reuse it) before we reconnect, so current_seq() alone does
  // not show it. The row at our seq must still be the one we applied.
  if (anchor_committed_at_us_ != 0) {
    std::optional<std::int64_t> now = co_await history_.committed_at(state_.seq());
    if (now != anchor_committed_at_us_) {
      std::string why = "the database lost changes up to seq " + std::to_string(state_.seq()) +
                        " that this daemon had served (a crash before they were flushed)";
      log(log_level::warn, "history_lost",
          {{"ours", std::to_string(state_.seq())}, {"meaning", "reloading; clients start over"}});
      co_return co_await load(why);
    }
  }
  co_await catch_up();
}

asio::awaitable<void> feed::load(const std::string& why) {
  auto started = std::chrono::steady_clock::now();
  loaded_state loaded = co_await history_.load();
  history_id_ = loaded.position.id;
  std::size_t queues = loaded.state.queues(), phases = loaded.state.phases();
  bool reload = state_.loaded();
  anchor_committed_at_us_ = 0;  // set again below, once we know our seq's row
  shared_.with([&](hub& clients, store& state) {
    std::vector<std::string> gone = state.install(std::move(loaded.state));
    if (reload) {
      clients.restart_all(why, gone);
    } else {
      clients.retry_pending();
    }
  });
  process_metrics().seq = state_.seq();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  log(log_level::info, reload ? "state_reloaded" : "state_loaded",
      {{"seq", std::to_string(state_.seq())},
       {"queues", std::to_string(queues)},
       {"phases", std::to_string(phases)},
       {"took_ms", std::to_string(took.count())},
       {"reason", why}});
  if (reload) process_metrics().db_reloads++;
  if (state_.seq() > 0) {
    // A named result: GCC 12 mishandles co_await inside larger expressions.
    std::optional<std::int64_t> at = co_await history_.committed_at(state_.seq());
    anchor_committed_at_us_ = at.value_or(0);
  }
}

// ---- following the history --------------------------------------------------

// Waits for the doorbell, serving replays between deliveries and probing
// when idle. Returns only by throwing.
asio::awaitable<void> feed::follow() {
  while (true) {
    if (shared_.with([&](hub&, store&) { return !replays_.empty(); })) {
      co_await serve_one_replay();
      // Live changes first: whatever rang meanwhile is applied before the next replay.
      if (std::size_t rung = link_.take_doorbell(); rung > 0) {
        process_metrics().notifications += rung;
        co_await catch_up();
      }
      continue;
    }
    auto woke = co_await link_.wait(wake_);
    if (woke == database_link::wake_reason::idle) {
      co_await probe();
    }
    // After a probe too: a notification may have arrived with its results.
    if (std::size_t rung = link_.take_doorbell(); rung > 0) {
      // A doorbell: whatever the notifications say (anyone may NOTIFY this
      // channel), their content is neither parsed nor trusted. All that have
      // arrived are answered with one read of the history.
      process_metrics().notifications += rung;
      co_await catch_up();
    }
    // After the delivery, not before it; on a timer, not only when idle.
    if (std::chrono::steady_clock::now() >= next_capture_check_) {
      co_await check_capture();
      co_await check_commit_order();
    }
  }
}

// Reads every change after the state's seq and applies it, in batches, each
// read in one snapshot with the check that the history still fits.
asio::awaitable<void> feed::catch_up() {
  while (true) {
    process_metrics().catchup_queries++;
    history_batch batch = co_await history_.read_after(history_id_, state_.seq(), catch_up_batch);
    if (!batch.judgement.follows()) diverge(batch.judgement, state_.seq());
    if (!batch.rows.empty()) deliver(batch.rows);
    if (batch.rows.size() < catch_up_batch) break;
  }
  retry_.succeeded();  // the history fits: a later failure starts its backoff afresh
}

void feed::deliver(const std::vector<change_row>& rows) {
  shared_.with([&](hub& clients, store& state) {
    std::vector<topic_update> updates;
    try {
      updates = state.apply(rows);  // checks every row first (change_problem)
    } catch (const state_diverged&) {
      throw;
    } catch (const std::exception& e) {
      // The history does not fit our state: start over from a fresh load.
      throw state_diverged(e.what());
    }
    clients.publish(updates);
  });
  process_metrics().changes_applied += rows.size();
  process_metrics().seq = state_.seq();
  anchor_committed_at_us_ = rows.back().committed_at_us;
  // Commit time from the history rows themselves, never from a NOTIFY.
  std::int64_t committed_at_us = rows.back().committed_at_us;
  if (committed_at_us > 0) process_metrics().observe_lag((now_us() - committed_at_us) / 1e6);
}

// Idle: both connections must answer, and the history must still be the one
// our state follows (a dropped extension or a restored backup must not leave
// us serving a state that is gone).
asio::awaitable<void> feed::probe() {
  process_metrics().notify_queue_usage = co_await history_.notify_queue_usage();
  history_judgement judgement = co_await history_.check(history_id_, state_.seq());
  if (!judgement.follows()) diverge(judgement, state_.seq());
  co_await link_.probe_listener();
  retry_.succeeded();
}

// The commit-order lock is held for microseconds per commit; a holder that
// stays (a commit waiting on a lock of its own, say) holds up every
// capturing writer, so it is a metric and, past a few seconds, a warning.
asio::awaitable<void> feed::check_commit_order() {
  commit_order_report report = co_await history_.commit_order_holder();
  auto& m = process_metrics();
  m.commit_order_held_seconds = !report.known ? -1.0 : report.held ? report.held_seconds : 0.0;
  m.commit_order_waiters = report.waiters;
  if (report.stats_known) {
    m.commit_order_acquisitions = report.acquisitions;
    m.commit_order_contended = report.contended;
    m.commit_order_wait_seconds = report.wait_seconds;
    m.commit_order_hold_seconds = report.hold_seconds;
    m.commit_order_long_holds = report.long_holds;
  }
  m.commit_order_stats_known = report.stats_known;
  bool stalled = report.held && (report.held_seconds >= commit_order_stall_seconds ||
                                 (report.held_seconds < 0 && report.waiters > 0));
  if (!stalled) {
    stalled_holder_.clear();
    co_return;
  }
  if (report.holder == stalled_holder_) co_return;  // said once per holder
  stalled_holder_ = report.holder;
  log(log_level::warn, "commit_order_stalled",
      {{"holder", report.holder},
       {"held_s", report.held_seconds < 0 ? "unknown" : std::to_string(report.held_seconds)},
       {"waiters", std::to_string(report.waiters)},
       {"meaning", "capturing commits wait until the holder's commit ends"},
       {"hint", "SELECT * FROM queuecast.commit_order_holder(); see docs/capture.md"}});
}

asio::awaitable<void> feed::check_capture() {
  next_capture_check_ = std::chrono::steady_clock::now() + cfg_.probe_interval;
  capture_report report = co_await history_.capture_status();
  if (!report.error.empty())
    log(log_level::warn, "capture_status_unknown", {{"error", report.error}});
  std::string tables;
  for (const auto& [table, detail] : report.disabled) {
    tables += (tables.empty() ? "" : ", ") + table;
    if (capture_problem_.find(table) == std::string::npos)
      log(log_level::warn, "capture_disabled", {{"table", table}, {"detail", detail}});
  }
  std::string problem;
  if (!tables.empty())
    problem = "capture is disabled on " + tables +
              ": changes are not recorded (see queuecast.capture_status())";
  if (problem.empty() && !capture_problem_.empty())
    log(log_level::info, "capture_enabled", {{"meaning", "every captured table records again"}});
  shared_.with([&](hub&, store&) { capture_problem_ = std::move(problem); });
  process_metrics().capture_disabled_tables =
      report.known ? static_cast<std::int64_t>(report.disabled.size()) : -1;
}

// ---- replays ------------------------------------------------------------------

// Rows touched since the client's seq, read in one snapshot with the check
// that they are all still there; the store turns them into ops that take the
// client to the current state. Runs while no notification is being applied,
// so the state stays at one seq throughout.
asio::awaitable<std::optional<json::array>> feed::replay(const replay_request& request) {
  touched_rows touched = co_await history_.read_touched(history_id_, request.since, state_.seq());
  if (!touched.judgement.follows() || !touched.rows) co_return std::nullopt;  // a fresh start
  try {
    co_return shared_.with(
        [&](hub&, store& state) { return state.replay_ops(request.topic, *touched.rows); });
  } catch (const std::logic_error& e) {
    // A history row with a key that is not an id (stoll): not a reason to
    // drop the connection; the client gets a fresh snapshot instead.
    log(log_level::warn, "replay_unreadable", {{"topic", request.topic}, {"error", e.what()}});
    co_return std::nullopt;
  }
}

// Replays are answered one at a time between live deliveries, so a flood of
// resumes cannot hold back the changes everyone else is waiting for. A
// replay nobody wants any more (unsubscribed, replaced, session gone) costs
// nothing; one answer serves every queued replay of the same topic and seq.
asio::awaitable<void> feed::serve_one_replay() {
  auto next = shared_.with([&](hub& clients, store&) -> std::optional<replay_request> {
    while (!replays_.empty() && !clients.replay_wanted(replays_.front())) replays_.pop_front();
    if (replays_.empty()) return std::nullopt;
    replay_request request = replays_.front();
    replays_.pop_front();
    return request;
  });
  if (!next) co_return;
  const replay_request& request = *next;
  std::optional<json::array> ops;
  try {
    ops = co_await replay(request);
  } catch (...) {
    shared_.with([&](hub& clients, store&) { clients.finish_replay(request, std::nullopt); });
    throw;
  }
  process_metrics().replays++;
  log(log_level::debug, "replayed",
      {{"topic", request.topic},
       {"since", std::to_string(request.since)},
       {"resumed", ops ? "true" : "false"}});
  shared_.with([&](hub& clients, store&) {
    clients.finish_replay(request, ops);
    std::erase_if(replays_, [&](const replay_request& same) {
      if (same.topic != request.topic || same.since != request.since) return false;
      if (clients.replay_wanted(same)) {
        clients.finish_replay(same, ops);
        process_metrics().replays_shared++;
      }
      return true;
    });
  });
}

}  // namespace queuecast
