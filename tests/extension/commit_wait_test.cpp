// The commit-order lock is held only until a commit is visible, never while
// it waits for durability; and who holds it can be seen.
//
// With synchronous_standby_names naming a standby that never connects, a
// commit with synchronous_commit = on waits for it forever: exactly the
// longest possible "wait for durability". While one capturing writer waits
// there, its change must already be visible, other capturing writers must
// commit, and its own COMMIT must not have returned. (Before 0.2.0's
// pre-commit writer the waiting commit held the commit-order lock and was
// invisible, so every other capturing writer queued behind it.) Cancelling
// the wait ends it with PostgreSQL's own warning.
//
// A holder that stalls inside its commit (here: in the history's uniqueness
// check, behind a transaction that wrote the seq it drew) is shown by
// queuecast.commit_order_holder(), and idle_in_transaction_session_timeout
// ends the stall. A waiter can be cancelled, obeys lock_timeout, and the
// lock survives a holder's termination. A writer never holds the lock while
// it waits for a table lock. All of it with the lock in the library's shared
// memory (preloaded) and in PostgreSQL's lock manager (not).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "../chaos/daemon_process.hpp"
#include "../common/seq_blocker.hpp"
#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;

const std::string db_name = "queuecast_commit_wait";

// Polls `sql` (one value) until it equals `expected` or 10 s pass.
bool eventually(pg_session& db, const std::string& sql, const std::string& expected) {
  for (int i = 0; i < 200; ++i) {
    auto v = db.column(sql);
    if (!v.empty() && v.front() && *v.front() == expected) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void set_cluster(const std::string& setting, const std::string& value) {
  pg_session admin(qc_test::conninfo("postgres"));
  admin.exec("ALTER SYSTEM SET " + setting + " = '" + value + "'");
  admin.exec("SELECT pg_reload_conf()");
  if (!eventually(admin, "SELECT current_setting('" + setting + "')", value))
    throw std::runtime_error(setting + " did not become " + value);
}

class commit_wait_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    qc_test::create_database(db_name);
    pg_session setup(qc_test::conninfo(db_name));
    setup.exec("SELECT queuecast.create_queue('w')");
  }

  void SetUp() override { observer_ = std::make_unique<pg_session>(qc_test::conninfo(db_name)); }

  // Empties synchronous_standby_names whatever happened: PostgreSQL then
  // releases every commit still waiting for a standby.
  void TearDown() override { set_cluster("synchronous_standby_names", ""); }

  long long seq_of(const std::string& title) {
    return observer_->number(
        "SELECT coalesce(max(seq), -1) FROM queuecast.changes WHERE "
        "data->>'title' = '" +
        title + "'");
  }

  std::unique_ptr<pg_session> observer_;
};

TEST_F(commit_wait_test, a_commit_waiting_for_its_standby_holds_no_lock_and_is_visible) {
  set_cluster("synchronous_standby_names", "nonexistent");
  // The checkpointer publishes the new standby list after the reload.
  std::this_thread::sleep_for(1s);

  pg_session waiting(qc_test::conninfo(db_name));
  waiting.exec("SET synchronous_commit = on");
  waiting.send("SELECT queuecast.enqueue('w', 'waits for a standby')");
  std::string pid = std::to_string(waiting.pid());
  ASSERT_TRUE(eventually(*observer_, "SELECT wait_event FROM pg_stat_activity WHERE pid = " + pid,
                         "SyncRep"))
      << "the writer never waited for the standby";

  // (a) Its change is visible: history row and table row.
  EXPECT_GT(seq_of("waits for a standby"), 0) << "the waiting commit's history is not visible";
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.phases WHERE title = 'waits for a "
                              "standby'"),
            1);

  // (b) Another capturing writer commits meanwhile (local flush only, so it
  // does not wait for the missing standby itself), after the waiting one.
  pg_session other(qc_test::conninfo(db_name));
  other.exec("SET synchronous_commit = local");
  // lock_timeout, not statement_timeout: a commit's own waits run after
  // PostgreSQL has disabled the statement timeout.
  other.exec("SET lock_timeout = '5s'");
  EXPECT_EQ(other.exec_sqlstate("SELECT queuecast.enqueue('w', 'commits meanwhile')"), "")
      << "another capturing writer could not commit while one waited for its standby";
  EXPECT_GT(seq_of("commits meanwhile"), seq_of("waits for a standby"));

  // (c) The waiting writer has not been told of its commit.
  EXPECT_TRUE(waiting.busy()) << "COMMIT returned before the standby confirmed";

  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_holder()"), 0)
      << "the waiting commit still holds the commit-order lock";

  // A cancel ends the wait as it does for any commit waiting for a standby:
  // the commit stands, with a warning.
  observer_->exec("SELECT pg_cancel_backend(" + pid + ")");
  EXPECT_EQ(waiting.finish(10s), "") << "the statement failed instead of committing";
  bool warned = false;
  for (const std::string& n : waiting.notices()) {
    if (n.find("canceling wait for synchronous replication") != std::string::npos &&
        n.find("committed locally") != std::string::npos)
      warned = true;
  }
  EXPECT_TRUE(warned) << "no warning that the commit may be local only";
  EXPECT_EQ(observer_->number(
                "SELECT count(*) FROM queuecast.changes WHERE data->>'title' = 'waits for a "
                "standby'"),
            1);
  // The session's setting is intact after the deferred wait.
  waiting.exec("SELECT 1");
  EXPECT_EQ(waiting.notices().size(), 1u);
}

// Holds the next seq in an open transaction (seq_blocker.hpp); its idle
// timeout ends the stall it causes.
class seq_blocker {
 public:
  explicit seq_blocker(const std::string& db) : session_(qc_test::conninfo(db)) {
    session_.exec("SET idle_in_transaction_session_timeout = '6s'");
    session_.exec("BEGIN");
    session_.exec(qc_test::hold_next_seq_sql);
  }

 private:
  pg_session session_;
};

TEST_F(commit_wait_test, a_stalled_holder_is_shown_and_idle_in_transaction_timeout_ends_it) {
  seq_blocker blocker(db_name);
  pg_session holder(qc_test::conninfo(db_name + " application_name=stalled-writer"));
  holder.send("SELECT queuecast.enqueue('w', 'stalled')");
  std::string pid = std::to_string(holder.pid());
  ASSERT_TRUE(eventually(*observer_, "SELECT pid FROM queuecast.commit_order_holder()", pid))
      << "commit_order_holder() does not show the stalled writer";
  pg_session behind(qc_test::conninfo(db_name));
  behind.send("SELECT queuecast.enqueue('w', 'behind')");
  ASSERT_TRUE(eventually(*observer_, "SELECT waiters FROM queuecast.commit_order_holder()", "1"))
      << "the second writer is not counted as waiting";
  EXPECT_EQ(observer_->value("SELECT role_name || ' ' || application_name || ' ' || "
                             "wait_event_type || ' ' || wait_event || ' ' || "
                             "(held_at_most > interval '0') FROM queuecast.commit_order_holder()"),
            "postgres stalled-writer Lock transactionid true");

  // The idle transaction is ended by its timeout; both commits go through.
  EXPECT_EQ(holder.finish(20s), "");
  EXPECT_EQ(behind.finish(10s), "");
  EXPECT_LT(seq_of("stalled"), seq_of("behind"));
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_holder()"), 0);
}

// A waiter for the lock can be cancelled and obeys lock_timeout, and neither
// leaves anything behind: the writers after them commit in order.
TEST_F(commit_wait_test, a_waiter_obeys_lock_timeout_and_cancel) {
  long long rows_before = observer_->number("SELECT count(*) FROM queuecast.changes");
  auto blocker = std::make_unique<seq_blocker>(db_name);
  pg_session holder(qc_test::conninfo(db_name));
  holder.send("SELECT queuecast.enqueue('w', 'holds the lock')");
  std::string pid = std::to_string(holder.pid());
  ASSERT_TRUE(eventually(*observer_, "SELECT pid FROM queuecast.commit_order_holder()", pid));

  pg_session impatient(qc_test::conninfo(db_name));
  impatient.exec("SET lock_timeout = '300ms'");
  std::string message;
  EXPECT_EQ(impatient.exec_sqlstate("SELECT queuecast.enqueue('w', 'gives up')", &message),
            "55P03");
  EXPECT_NE(message.find("lock timeout"), std::string::npos) << message;

  pg_session cancelled(qc_test::conninfo(db_name));
  cancelled.send("SELECT queuecast.enqueue('w', 'is cancelled')");
  ASSERT_TRUE(eventually(*observer_, "SELECT waiters FROM queuecast.commit_order_holder()", "1"));
  observer_->exec("SELECT pg_cancel_backend(" + std::to_string(cancelled.pid()) + ")");
  EXPECT_EQ(cancelled.finish(10s), "57014");
  EXPECT_TRUE(eventually(*observer_, "SELECT waiters FROM queuecast.commit_order_holder()", "0"))
      << "a cancelled waiter is still counted";

  blocker.reset();  // ends the stall
  EXPECT_EQ(holder.finish(10s), "");
  pg_session after(qc_test::conninfo(db_name));
  after.exec("SET lock_timeout = '5s'");
  EXPECT_EQ(after.exec_sqlstate("SELECT queuecast.enqueue('w', 'after them')"), "");
  EXPECT_EQ(seq_of("gives up"), -1);
  EXPECT_EQ(seq_of("is cancelled"), -1);
  EXPECT_LT(seq_of("holds the lock"), seq_of("after them"));
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.changes"), rows_before + 2);
}

// The one cycle the commit-order lock can be part of: a transaction wrote the
// next seq into the history by hand (uncommitted) and then commits a
// captured change itself. The holder waits for that transaction in the
// uniqueness check; that transaction waits for the holder's lock. One of the
// two must fail with deadlock_detected, and the other commit: PostgreSQL's
// detector sees the advisory lock (not preloaded); the lock in shared memory
// checks for the cycle itself (commit_lock.cpp).
TEST_F(commit_wait_test, a_deadlock_through_the_commit_order_lock_is_broken) {
  pg_session cycle(qc_test::conninfo(db_name));
  cycle.exec("SET deadlock_timeout = '200ms'");
  cycle.exec("BEGIN");
  cycle.exec(qc_test::hold_next_seq_sql);
  pg_session holder(qc_test::conninfo(db_name));
  holder.exec("SET deadlock_timeout = '200ms'");
  holder.send("SELECT queuecast.enqueue('w', 'holder in a cycle')");
  std::string pid = std::to_string(holder.pid());
  ASSERT_TRUE(eventually(*observer_, "SELECT pid FROM queuecast.commit_order_holder()", pid));
  cycle.exec("SELECT queuecast.enqueue('w', 'closes the cycle')");
  cycle.send("COMMIT");
  std::string cycle_state = cycle.finish(20s);
  std::string holder_state = holder.finish(20s);
  EXPECT_TRUE((cycle_state == "40P01" && holder_state == "") ||
              (cycle_state == "" && holder_state == "40P01"))
      << "closing writer: '" << cycle_state << "', holder: '" << holder_state << "'";
  EXPECT_EQ(seq_of("holder in a cycle") > 0, holder_state.empty());
  EXPECT_EQ(seq_of("closes the cycle") > 0, cycle_state.empty());
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_holder()"), 0);
}

// A holder whose backend is terminated inside its commit lets the lock go.
TEST_F(commit_wait_test, a_terminated_holder_lets_the_lock_go) {
  auto blocker = std::make_unique<seq_blocker>(db_name);
  auto holder = std::make_unique<pg_session>(qc_test::conninfo(db_name));
  holder->send("SELECT queuecast.enqueue('w', 'terminated')");
  std::string pid = std::to_string(holder->pid());
  ASSERT_TRUE(eventually(*observer_, "SELECT pid FROM queuecast.commit_order_holder()", pid));
  pg_session behind(qc_test::conninfo(db_name));
  behind.send("SELECT queuecast.enqueue('w', 'behind the terminated')");
  ASSERT_TRUE(eventually(*observer_, "SELECT waiters FROM queuecast.commit_order_holder()", "1"));

  observer_->exec("SELECT pg_terminate_backend(" + pid + ", 5000)");
  EXPECT_EQ(behind.finish(10s), "") << "the lock stayed taken after its holder was terminated";
  EXPECT_EQ(seq_of("terminated"), -1);
  EXPECT_GT(seq_of("behind the terminated"), 0);
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_holder()"), 0);
  holder.reset();
  blocker.reset();
}

// The writer takes every lock its history write needs before the commit-order
// lock (history_writer.hpp): blocked behind LOCK TABLE queuecast.changes it
// waits where PostgreSQL sees it, holding nothing that stops other writers.
TEST_F(commit_wait_test, a_writer_behind_a_table_lock_does_not_hold_the_commit_order_lock) {
  pg_session idle(qc_test::conninfo(db_name));
  idle.exec("SET idle_in_transaction_session_timeout = '4s'");
  idle.exec("BEGIN");
  idle.exec("LOCK TABLE queuecast.changes IN ACCESS EXCLUSIVE MODE");

  pg_session writer(qc_test::conninfo(db_name));
  writer.send("SELECT queuecast.enqueue('w', 'behind a table lock')");
  std::string pid = std::to_string(writer.pid());
  ASSERT_TRUE(eventually(*observer_,
                         "SELECT wait_event_type || ' ' || wait_event FROM pg_stat_activity "
                         "WHERE pid = " +
                             pid,
                         "Lock relation"));
  EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_holder()"), 0)
      << "the writer holds the commit-order lock while it waits for a table lock";
  EXPECT_EQ(writer.finish(20s), "");
  EXPECT_GT(seq_of("behind a table lock"), 0);
}

// queuecast.commit_order_stats() and the daemon's counters from it.
// Preloaded, the lock counts every capturing commit (and nothing else), a
// writer that waits behind a stalled holder with the time it waited, and the
// stall as a long hold; queuecastd exports the same figures. Not preloaded,
// PostgreSQL's lock manager keeps no figures: no row, no counters.
TEST_F(commit_wait_test, the_lock_counts_what_it_costs) {
  auto env_or = [](const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return std::string(value && *value ? value : fallback);
  };
  qc_chaos::daemon_process daemon(
      env_or("QUEUECASTD", "build/queuecastd"), qc_test::conninfo(db_name), qc_chaos::free_port(),
      env_or("QUEUECAST_TEST_LOGS", "/tmp") + "/commit-wait-daemon.log");
  daemon.start();
  auto metrics = [&] {
    for (int i = 0; i < 300; ++i) {
      auto [status, body] = daemon.get("/metrics");
      if (status == 200) return body;
      std::this_thread::sleep_for(100ms);
    }
    return std::string();
  };
  // The value of one metric line, or nullopt when the daemon exports none.
  auto metric = [&](const std::string& body, const std::string& name) -> std::optional<double> {
    std::size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(body.substr(at + name.size() + 2));
  };
  ASSERT_NE(metrics(), "") << "the daemon never answered /metrics";

  bool preloaded =
      observer_->value("SELECT current_setting('shared_preload_libraries') ~ 'queuecast'") == "t";
  if (!preloaded) {
    EXPECT_EQ(observer_->number("SELECT count(*) FROM queuecast.commit_order_stats()"), 0);
    std::string body = metrics();
    EXPECT_NE(body.find("queuecast_commit_order_waiters"), std::string::npos) << body;
    EXPECT_EQ(metric(body, "queuecast_commit_order_acquisitions_total"), std::nullopt)
        << "counters exported without figures behind them";
    return;
  }
  // acquisitions, contended, wait_ms, hold_ms, long_holds
  auto row = [&] {
    std::istringstream in(observer_->value(
        "SELECT concat_ws(' ', acquisitions, contended, wait_ms, hold_ms, long_holds) "
        "FROM queuecast.commit_order_stats()"));
    std::vector<double> values;
    for (double v; in >> v;) values.push_back(v);
    return values;
  };
  auto field = [](const std::vector<double>& r, std::size_t i) { return r.at(i); };
  const std::string since = "SELECT counting_since FROM queuecast.commit_order_stats()";
  std::string counting_since = observer_->value(since);
  auto before = row();
  ASSERT_EQ(before.size(), 5u);

  // Three capturing commits and one transaction that captures nothing.
  pg_session writer(qc_test::conninfo(db_name));
  for (int i = 0; i < 3; ++i)
    writer.exec("SELECT queuecast.enqueue('w', 'counted " + std::to_string(i) + "')");
  writer.exec("BEGIN");
  writer.exec("SELECT count(*) FROM queuecast.phases");
  writer.exec("COMMIT");
  auto after_three = row();
  EXPECT_EQ(field(after_three, 0) - field(before, 0), 3) << "acquisitions";
  EXPECT_EQ(field(after_three, 1), field(before, 1)) << "nobody waited";
  EXPECT_EQ(observer_->value(since), counting_since) << "counting_since moved";

  // A holder stalled for at least 300 ms with a writer waiting behind it.
  auto blocker = std::make_unique<seq_blocker>(db_name);
  pg_session holder(qc_test::conninfo(db_name));
  holder.send("SELECT queuecast.enqueue('w', 'stalled and counted')");
  ASSERT_TRUE(eventually(*observer_, "SELECT pid FROM queuecast.commit_order_holder()",
                         std::to_string(holder.pid())));
  pg_session behind(qc_test::conninfo(db_name));
  behind.send("SELECT queuecast.enqueue('w', 'waited and counted')");
  ASSERT_TRUE(eventually(*observer_, "SELECT waiters FROM queuecast.commit_order_holder()", "1"));
  std::this_thread::sleep_for(300ms);
  blocker.reset();
  EXPECT_EQ(holder.finish(10s), "");
  EXPECT_EQ(behind.finish(10s), "");
  auto after = row();
  EXPECT_EQ(field(after, 0) - field(after_three, 0), 2) << "acquisitions";
  EXPECT_EQ(field(after, 1) - field(after_three, 1), 1) << "contended";
  EXPECT_GE(field(after, 2) - field(after_three, 2), 300) << "wait_ms";
  EXPECT_GE(field(after, 3) - field(after_three, 3), 300) << "hold_ms";
  EXPECT_GE(field(after, 4) - field(after_three, 4), 1) << "long_holds";
  EXPECT_LT(field(after, 4) - field(after_three, 4), 3) << "long_holds";

  // The daemon exports the same figures at its next probe.
  double acquisitions = field(after, 0);
  std::optional<double> exported;
  for (int i = 0; i < 100 && exported != acquisitions; ++i) {
    exported = metric(metrics(), "queuecast_commit_order_acquisitions_total");
    if (exported != acquisitions) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(exported, acquisitions);
  std::string body = metrics();
  EXPECT_EQ(metric(body, "queuecast_commit_order_contended_total"), field(after, 1));
  EXPECT_GE(metric(body, "queuecast_commit_order_wait_seconds_total").value_or(0), 0.3);
  EXPECT_GE(metric(body, "queuecast_commit_order_hold_seconds_total").value_or(0), 0.3);
  EXPECT_EQ(metric(body, "queuecast_commit_order_long_holds_total"), field(after, 4));
}

}  // namespace
