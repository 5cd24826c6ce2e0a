#include "feed.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "../util/log.hpp"
#include "../util/metrics.hpp"

namespace queuecast {

namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

constexpr auto probe_interval = 5s;
constexpr std::size_t catch_up_batch = 5000;
// Resumes waiting for a history read; more are told to start fresh. Each
// connection has at most one that counts (hub::replay_wanted).
constexpr std::size_t max_queued_replays = 10000;

std::string with_application_name(const std::string& conninfo, const char* role) {
  // libpq takes the last value of a repeated keyword only in key=value form;
  // options= works for both URLs and key=value strings.
  bool url = conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0;
  std::string name = std::string("queuecastd-") + role;
  if (url)
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") +
           "application_name=" + name;
  return conninfo + " application_name=" + name;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hint_for(const std::string& error) {
  if (error.find("queuecast") != std::string::npos &&
      error.find("does not exist") != std::string::npos) {
    return "run CREATE EXTENSION queuecast in that database";
  }
  if (error.find("Connection refused") != std::string::npos ||
      error.find("timed out") != std::string::npos) {
    return "check that PostgreSQL runs and --database points at it";
  }
  if (error.find("password") != std::string::npos ||
      error.find("authentication") != std::string::npos) {
    return "check the user and password in --database";
  }
  return "check --database and the server log";
}

// One history row as the catch-up query returns it; anything that does not
// parse is a history we cannot follow, so the caller reloads.
change_row parse_history_row(const char* text, std::int64_t after_seq) {
  try {
    return change_from_json(json::parse(text).as_object());
  } catch (const std::exception& e) {
    throw state_diverged("history row after seq " + std::to_string(after_seq) +
                         " cannot be read: " + e.what());
  }
}

}  // namespace

feed::feed(asio::any_io_executor executor, const config& cfg, store& state, hub& fanout)
    : executor_(executor),
      cfg_(cfg),
      state_(state),
      hub_(fanout),
      listen_(executor),
      query_(executor),
      wake_(executor) {}

bool feed::request_replay(const replay_request& request) {
  if (!ready_ || replays_.size() >= max_queued_replays) return false;
  replays_.push_back(request);
  wake_.cancel();
  return true;
}

// Rows touched since the client's seq; the store turns them into ops that
// take the client to the current state. Runs while no notification is being
// applied, so the state stays at one seq throughout.
asio::awaitable<std::optional<json::array>> feed::replay(const replay_request& request) {
  std::vector<std::optional<std::string>> params;
  params.emplace_back(std::to_string(request.since));
  params.emplace_back(std::to_string(state_.seq()));
  pg_result check =
      co_await query_.query("SELECT queuecast.resumable_from(), queuecast.history_id()");
  if (std::stoll(PQgetvalue(check.get(), 0, 0)) > request.since ||
      history_id_ != PQgetvalue(check.get(), 0, 1)) {
    co_return std::nullopt;  // pruned, or another history: a fresh start
  }
  constexpr int row_limit = 200000;  // beyond that a snapshot is cheaper
  pg_result rows = co_await query_.query(
      "SELECT entity, key, op, topic, coalesce(old_data->>'queue', ''), "
      "coalesce(data->>'workflow_id', ''), "
      "coalesce(old_data->>'workflow_id', '') FROM queuecast.changes WHERE seq > $1 AND seq <= $2 "
      "ORDER BY seq LIMIT " +
          std::to_string(row_limit + 1),
      params);
  int n = PQntuples(rows.get());
  if (n > row_limit) co_return std::nullopt;
  std::vector<touched_row> touched;
  touched.reserve(n);
  for (int i = 0; i < n; ++i) {
    touched.push_back(touched_row{PQgetvalue(rows.get(), i, 0), PQgetvalue(rows.get(), i, 1),
                                  PQgetvalue(rows.get(), i, 2), PQgetvalue(rows.get(), i, 3),
                                  PQgetvalue(rows.get(), i, 4), PQgetvalue(rows.get(), i, 5),
                                  PQgetvalue(rows.get(), i, 6)});
  }
  try {
    co_return state_.replay_ops(request.topic, touched);
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
  while (!replays_.empty() && !hub_.replay_wanted(replays_.front())) replays_.pop_front();
  if (replays_.empty()) co_return;
  replay_request request = replays_.front();
  replays_.pop_front();
  std::optional<json::array> ops;
  try {
    ops = co_await replay(request);
  } catch (...) {
    hub_.finish_replay(request, std::nullopt);
    throw;
  }
  process_metrics().replays++;
  log(log_level::debug, "replayed",
      {{"topic", request.topic},
       {"since", std::to_string(request.since)},
       {"resumed", ops ? "true" : "false"}});
  hub_.finish_replay(request, ops);
  std::erase_if(replays_, [&](const replay_request& same) {
    if (same.topic != request.topic || same.since != request.since) return false;
    if (hub_.replay_wanted(same)) {
      hub_.finish_replay(same, ops);
      process_metrics().replays_shared++;
    }
    return true;
  });
}

asio::awaitable<void> feed::connect_both() {
  co_await listen_.connect(with_application_name(cfg_.database, "listen"), 10s);
  co_await query_.connect(with_application_name(cfg_.database, "query"), 10s);
  co_await listen_.query("LISTEN queuecast");
  process_metrics().db_connected = true;
}

asio::awaitable<void> feed::load(const std::string& why) {
  co_await query_.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  pg_result result = co_await query_.query(
      "SELECT queuecast.current_seq(), "
      "(SELECT coalesce(json_object_agg(name, queuecast.snapshot(name)), '{}') FROM "
      "queuecast.queues), "
      "queuecast.workflows_snapshot(), queuecast.history_id()");
  co_await query_.query("COMMIT");
  history_id_ = PQgetvalue(result.get(), 0, 3);
  std::int64_t seq = std::stoll(PQgetvalue(result.get(), 0, 0));
  json::object queues = json::parse(PQgetvalue(result.get(), 0, 1)).as_object();
  json::object workflows = json::parse(PQgetvalue(result.get(), 0, 2)).as_object();
  bool reload = state_.loaded();
  std::vector<std::string> gone = state_.load(seq, queues, workflows);
  process_metrics().seq = seq;
  log(log_level::info, reload ? "state_reloaded" : "state_loaded",
      {{"seq", std::to_string(seq)}, {"queues", std::to_string(queues.size())}, {"reason", why}});
  if (reload) {
    process_metrics().db_reloads++;
    hub_.restart_all(why, gone);
  } else {
    hub_.retry_pending();
  }
}

// After a reconnect: catch up from history when it still reaches back to our
// position; otherwise (pruned, restored backup, re-created extension) reload.
asio::awaitable<void> feed::resync_after_reconnect() {
  pg_result result = co_await query_.query(
      "SELECT queuecast.current_seq(), queuecast.resumable_from(), queuecast.history_id()");
  std::int64_t current = std::stoll(PQgetvalue(result.get(), 0, 0));
  std::int64_t resumable = std::stoll(PQgetvalue(result.get(), 0, 1));
  if (history_id_ != PQgetvalue(result.get(), 0, 2)) {
    log(log_level::warn, "history_replaced",
        {{"meaning", "the extension was re-created; starting clients over"}});
    co_await load("the database's history was replaced (extension re-created)");
  } else if (current < state_.seq()) {
    log(log_level::warn, "seq_went_backwards",
        {{"ours", std::to_string(state_.seq())},
         {"database", std::to_string(current)},
         {"meaning", "restored backup, failover or re-created extension; starting clients over"}});
    co_await load("the database's history went back from seq " + std::to_string(state_.seq()) +
                  " to " + std::to_string(current));
  } else if (resumable > state_.seq()) {
    log(log_level::warn, "history_pruned_past_us",
        {{"ours", std::to_string(state_.seq())}, {"resumable_from", std::to_string(resumable)}});
    co_await load("history was pruned past seq " + std::to_string(state_.seq()));
  } else {
    co_await catch_up();
  }
}

void feed::deliver(const std::vector<change_row>& rows) {
  std::vector<topic_update> updates;
  try {
    updates = state_.apply(rows);  // checks every row first (change_problem)
  } catch (const state_diverged&) {
    throw;
  } catch (const std::exception& e) {
    // The history does not fit our state: start over from a fresh load.
    throw state_diverged(e.what());
  }
  process_metrics().changes_applied += rows.size();
  process_metrics().seq = state_.seq();
  hub_.publish(updates);
  // Commit time from the history rows themselves, never from a NOTIFY.
  std::int64_t committed_at_us = rows.back().committed_at_us;
  if (committed_at_us > 0) process_metrics().observe_lag((now_us() - committed_at_us) / 1e6);
}

// Reads every change after the state's seq and applies it, in batches. A
// read that finds nothing new (old news, or someone else's NOTIFY) checks
// that the database's history did not go back or get replaced (a restored
// backup, a re-created extension). Only then: the extra statement costs about
// 0.2 ms, which every real delivery would otherwise pay.
asio::awaitable<void> feed::catch_up() {
  while (true) {
    process_metrics().catchup_queries++;
    // A named vector: g++ 12 mishandles initializer-list temporaries in coroutines.
    std::vector<std::optional<std::string>> params;
    params.emplace_back(std::to_string(state_.seq()));
    pg_result result = co_await query_.query(
        "SELECT json_build_object('seq', seq, 'topic', topic, 'entity', entity, 'key', key, "
        "'op', op, 'data', data, 'old_data', old_data, "
        "'at', (extract(epoch FROM committed_at) * 1e6)::bigint) "
        "FROM queuecast.changes WHERE seq > $1 ORDER BY seq LIMIT " +
            std::to_string(catch_up_batch),
        params);
    int rows = PQntuples(result.get());
    std::vector<change_row> batch;
    batch.reserve(rows);
    for (int i = 0; i < rows; ++i) {
      batch.push_back(parse_history_row(PQgetvalue(result.get(), i, 0),
                                        batch.empty() ? state_.seq() : batch.back().seq));
    }
    if (batch.empty()) {
      co_await check_history_position();
      co_return;
    }
    if (batch.front().seq > state_.seq() + 1) {
      // A hole: aborted commits leave those, but prune() may also have
      // deleted rows we never applied. Only the latter forces a reload.
      pg_result pruned =
          co_await query_.query("SELECT queuecast.resumable_from(), queuecast.history_id()");
      if (history_id_ != PQgetvalue(pruned.get(), 0, 1)) {
        throw state_diverged("the database's history was replaced (extension re-created)");
      }
      if (std::stoll(PQgetvalue(pruned.get(), 0, 0)) > state_.seq()) {
        log(log_level::warn, "history_pruned_past_us", {{"ours", std::to_string(state_.seq())}});
        throw state_diverged("history was pruned past seq " + std::to_string(state_.seq()));
      }
    }
    deliver(batch);
    if (batch.size() < catch_up_batch) co_return;
  }
}

// Idle: probe both connections so a dead one is noticed within seconds, and
// the history too: a dropped extension or a seq that went back (restored
// backup) must not leave us serving a state that is gone.
asio::awaitable<void> feed::probe() {
  pg_result probe = co_await query_.query("SELECT pg_notification_queue_usage()", {}, 10s);
  process_metrics().notify_queue_usage = std::stod(PQgetvalue(probe.get(), 0, 0));
  co_await check_history_position();
  co_await listen_.query("SELECT 1", {}, 10s);
}

// Throws state_diverged when the database's history is not the one our state
// follows any more: replaced (a re-created extension) or behind our seq (a
// restored backup, a failover to a standby that was behind).
asio::awaitable<void> feed::check_history_position() {
  pg_result result =
      co_await query_.query("SELECT queuecast.current_seq(), queuecast.history_id()", {}, 10s);
  if (history_id_ != PQgetvalue(result.get(), 0, 1)) {
    log(log_level::warn, "history_replaced",
        {{"meaning", "the extension was re-created; starting clients over"}});
    throw state_diverged("the database's history was replaced (extension re-created)");
  }
  std::int64_t current = 0;
  try {
    current = std::stoll(PQgetvalue(result.get(), 0, 0));
  } catch (const std::exception& e) {
    throw state_diverged(std::string("current_seq() cannot be read: ") + e.what());
  }
  if (current < state_.seq()) {
    log(log_level::warn, "seq_went_backwards",
        {{"ours", std::to_string(state_.seq())},
         {"database", std::to_string(current)},
         {"meaning", "restored backup, failover or re-created extension; starting clients over"}});
    throw state_diverged("the database's history went back from seq " +
                         std::to_string(state_.seq()) + " to " + std::to_string(current));
  }
}

// Asks queuecast.capture_status() (extension 0.2.0) whether every captured
// table records its changes. A disabled capture trigger (DISABLE TRIGGER, or
// ENABLE REPLICA) means commits that neither reach history nor ring the
// doorbell: we would serve a state that silently stops changing, so we say
// we are not ready. Without the function (an older extension) or the right
// to call it, the answer is unknown and readiness does not depend on it.
asio::awaitable<void> feed::check_capture() {
  next_capture_check_ = std::chrono::steady_clock::now() + probe_interval;
  std::string problem;
  std::int64_t disabled = -1;
  try {
    pg_result exists = co_await query_.query(
        "SELECT to_regprocedure('queuecast.capture_status()') IS NOT NULL", {}, 10s);
    if (std::string_view(PQgetvalue(exists.get(), 0, 0)) == "t") {
      pg_result status = co_await query_.query(
          "SELECT table_name, coalesce(detail, '') FROM queuecast.capture_status() "
          "WHERE capture_enabled IS NOT TRUE ORDER BY table_name",
          {}, 10s);
      disabled = PQntuples(status.get());
      std::string tables;
      for (int i = 0; i < disabled; ++i) {
        std::string table = PQgetvalue(status.get(), i, 0);
        tables += (i ? ", " : "") + table;
        if (capture_problem_.find(table) == std::string::npos) {
          log(log_level::warn, "capture_disabled",
              {{"table", table}, {"detail", PQgetvalue(status.get(), i, 1)}});
        }
      }
      if (disabled > 0) {
        problem = "capture is disabled on " + tables +
                  ": changes are not recorded (see queuecast.capture_status())";
      }
    }
  } catch (const pg_failure& e) {
    if (!query_.connected()) throw;  // the connection is gone: the caller reconnects
    // The statement failed (no privilege, say): unknown, not a reason to stop.
    log(log_level::warn, "capture_status_unknown", {{"error", e.what()}});
  }
  if (problem.empty() && !capture_problem_.empty()) {
    log(log_level::info, "capture_enabled", {{"meaning", "every captured table records again"}});
  }
  capture_problem_ = std::move(problem);
  process_metrics().capture_disabled_tables = disabled;
}

asio::awaitable<void> feed::listen_loop() {
  while (true) {
    if (!replays_.empty()) {
      co_await serve_one_replay();
      // Live changes first: whatever rang meanwhile is applied before the
      // next replay (take_notifications does not block).
      if (std::size_t rung = listen_.take_notifications().size(); rung > 0) {
        process_metrics().notifications += rung;
        co_await catch_up();
      }
      continue;
    }
    wake_.expires_after(probe_interval);
    auto woke = co_await (listen_.wait_readable(probe_interval) ||
                          wake_.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (woke.index() == 1) {
      if (!replays_.empty()) continue;  // woken for a replay
      woke =
          std::variant<bool, std::tuple<boost::system::error_code>>(std::in_place_index<0>, false);
    }
    bool readable = std::get<0>(woke);
    if (!readable) {
      co_await probe();
    } else if (std::size_t rung = listen_.take_notifications().size(); rung > 0) {
      // A doorbell: whatever the notifications say (anyone may NOTIFY this
      // channel), their content is neither parsed nor trusted. All that have
      // arrived are drained and answered with one read of the history.
      process_metrics().notifications += rung;
      co_await catch_up();
    }
    // After the delivery, not before it; on a timer, not only when idle.
    if (std::chrono::steady_clock::now() >= next_capture_check_) co_await check_capture();
  }
}

asio::awaitable<void> feed::run(std::function<void(const std::string&)> on_fatal) {
  auto started = std::chrono::steady_clock::now();
  auto backoff = 100ms;
  bool ever_connected = false;
  while (true) {
    try {
      co_await connect_both();
      log(log_level::info, "db_connected", {{"seq", std::to_string(state_.seq())}});
      if (!state_.loaded()) {
        co_await load("startup");
      } else if (!reload_reason_.empty()) {
        co_await load(reload_reason_);
        reload_reason_.clear();
      } else {
        co_await resync_after_reconnect();
      }
      co_await check_capture();
      ever_connected = true;
      ready_ = true;
      reason_.clear();
      backoff = 100ms;
      hub_.set_live(true, "");
      co_await listen_loop();
    } catch (const state_diverged& e) {
      // History does not fit our state (a renamed queue, say): reload it.
      log(log_level::warn, "state_diverged", {{"error", e.what()}, {"action", "reloading"}});
      reload_reason_ = std::string("state reloaded: ") + e.what();
      continue;
    } catch (const std::exception& e) {
      std::string error = e.what();
      if (!ever_connected && std::chrono::steady_clock::now() - started > cfg_.startup_timeout) {
        on_fatal("cannot use the database: " + error + " — " + hint_for(error));
        co_return;
      }
      log(log_level::warn, "db_connection_lost",
          {{"error", error},
           {"hint", hint_for(error)},
           {"retry_in_ms", std::to_string(backoff.count())}});
    }
    ready_ = false;
    while (!replays_.empty()) {  // cannot answer them now: fresh starts
      hub_.finish_replay(replays_.front(), std::nullopt);
      replays_.pop_front();
    }
    reason_ = "database connection lost; reconnecting";
    process_metrics().db_connected = false;
    if (ever_connected) process_metrics().db_reconnects++;
    hub_.set_live(false, "database connection lost; serving the last known state");
    listen_.close();
    query_.close();
    // Exponential backoff with +-25 % jitter, so many daemons do not retry in step.
    auto jittered = backoff * (75 + static_cast<int>(jitter_() % 51)) / 100;
    asio::steady_timer timer(executor_, jittered);
    co_await timer.async_wait(asio::use_awaitable);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
}

}  // namespace queuecast
