// The crash test: writers run capturing commits through the SQL API
// (enqueue, claim, complete) with synchronous_commit = on and record every
// commit acknowledged to them; mid-load the cluster is killed, once with
// `pg_ctl stop -m immediate` and once with SIGKILL of the postmaster (its
// orphaned children are killed too: PostgreSQL refuses to start while one
// still holds the old shared memory). After the restart:
//   - every acknowledged commit is in queuecast.changes, and each writer's
//     acknowledged commits have increasing seqs in the order it saw them;
//   - the tables reflect them (a phase is at its last acknowledged status,
//     or at the status of the one commit that was in flight at the crash);
//   - seqs are unique, and commits after the recovery get higher seqs than
//     every commit before it;
//   - replaying the history from empty tables reproduces the tables;
//   - a queuecastd that served delta-mode subscribers across the crash
//     brings each of them to the database's state (nothing missed).
//
// tests/extension/run.sh gives this test a cluster of its own with
// fsync = on (tests/harness/with_cluster.sh --conf). A process kill does not lose what the kernel
// already has, so fsync matters here only for the timing of commits; what a kill loses is WAL still
// in PostgreSQL's shared buffers, which is where an asynchronous commit's record waits
// (QUEUECAST_CRASH_WRITER_SYNC=off shows that this test notices).
//
// Environment: PGHOST/PGPORT/PGUSER, PGCLUSTER_DATA, PGCLUSTER_LOG, PG_BINDIR
// (tests/harness/pgcluster.sh), QUEUECASTD, QUEUECAST_TEST_SEED,
// QUEUECAST_CRASH_WRITER_SYNC (default on), QUEUECAST_CRASH_ALLOW_GOING_BACK
// (default 1, see the daemon check), QUEUECAST_PRELOAD.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "../chaos/daemon_process.hpp"
#include "../chaos/subscriber.hpp"
#include "../common/replay.hpp"
#include "cluster_crash.hpp"
#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;
using namespace qc_test::cluster;

const std::string db_name = "queuecast_crash";
constexpr int writer_count = 4;
// Bounds of the load: a writer stops after this many cycles (three commits
// each) even if the crash never came.
constexpr int max_cycles = 3000;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// A commit the server acknowledged: phase `id` now has `status`.
struct ack {
  long long id;
  std::string status;
};

// What one writer knows at the end: its acknowledged commits in order, and
// the commit that was in flight when its connection died (its outcome is
// unknown; for an enqueue the id is unknown too, -1).
struct writer_log {
  std::vector<ack> acks;
  std::optional<ack> in_flight;
  std::string error;
};

std::string queue_of(int writer) {
  return "cw" + std::to_string(writer);
}

// One commit in its own transaction; its result's first value, or nullopt
// when the statement gave no row. Throws when the connection is lost.
std::optional<std::string> commit_one(pg_session& db, const std::string& sql) {
  db.exec("BEGIN");
  auto values = db.column(sql);
  db.exec("COMMIT");
  if (values.empty() || !values.front()) return std::nullopt;
  return values.front();
}

// enqueue, claim, complete on the writer's own queue until the connection
// dies (the crash) or `stop`; every COMMIT that returned is recorded.
void run_writer(int w, const std::string& sync, std::atomic<bool>& stop, std::atomic<int>& acked,
                writer_log& log) {
  try {
    pg_session db(qc_test::conninfo(db_name));
    db.exec("SET synchronous_commit = " + sync);
    const std::string queue = "'" + queue_of(w) + "'";
    for (int cycle = 0; cycle < max_cycles && !stop; ++cycle) {
      log.in_flight = ack{-1, "queued"};
      auto id = commit_one(db, "SELECT queuecast.enqueue(" + queue + ", 'w" + std::to_string(w) +
                                   "-" + std::to_string(cycle) + "')");
      log.acks.push_back({std::stoll(*id), "queued"});
      acked++;
      // The queue holds no other claimable phase: earlier cycles completed
      // theirs, so the claim takes this one.
      log.in_flight = ack{std::stoll(*id), "running"};
      auto claimed = commit_one(db, "SELECT id FROM queuecast.claim(" + queue + ", 'w')");
      if (!claimed || *claimed != *id)
        throw std::runtime_error("claim did not hand out the phase just enqueued");
      log.acks.push_back({std::stoll(*claimed), "running"});
      acked++;
      log.in_flight = ack{std::stoll(*claimed), "completed"};
      commit_one(db, "SELECT (queuecast.complete(" + *claimed + ")).status");
      log.acks.push_back(*log.in_flight);
      acked++;
      log.in_flight.reset();
    }
  } catch (const std::exception& e) {
    log.error = e.what();
  }
}

std::unique_ptr<pg_session> connect_after_restart() {
  for (int attempt = 0;; ++attempt) {
    try {
      return std::make_unique<pg_session>(qc_test::conninfo(db_name));
    } catch (const std::exception&) {
      if (attempt == 100) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
}

bool wait_ready(qc_chaos::daemon_process& d, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (d.get("/readyz").first == 200) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// The acknowledged commits as SQL rows (writer, n, id, status), n their
// order for that writer.
std::string acks_values(const std::vector<writer_log>& logs) {
  std::string values;
  for (std::size_t w = 0; w < logs.size(); ++w) {
    for (std::size_t n = 0; n < logs[w].acks.size(); ++n) {
      values += (values.empty() ? "" : ",") + std::string("(") + std::to_string(w) + "," +
                std::to_string(n) + "," + std::to_string(logs[w].acks[n].id) + ",'" +
                logs[w].acks[n].status + "')";
    }
  }
  return values;
}

void crash_and_check(crash_kind kind) {
  std::uint64_t seed =
      std::stoull(env_or("QUEUECAST_TEST_SEED", std::to_string(std::random_device{}())));
  const std::string sync = env_or("QUEUECAST_CRASH_WRITER_SYNC", "on");
  std::mt19937_64 rng(seed);
  auto load_time = std::chrono::milliseconds(800 + rng() % 1700);
  std::cout << "crash_test seed=" << seed << " writers' synchronous_commit=" << sync
            << " crash after " << load_time.count() << " ms" << std::endl;

  qc_test::create_database(db_name);
  {
    pg_session setup(qc_test::conninfo(db_name));
    ASSERT_EQ(setup.value("SHOW fsync"), "on")
        << "the crash cluster must flush (run.sh: --conf \"fsync = on\")";
    for (int w = 0; w < writer_count; ++w)
      setup.exec("SELECT queuecast.create_queue('" + queue_of(w) + "')");
  }

  // A daemon with one delta-mode subscriber per writer's queue, and one in
  // snapshot mode, across the crash.
  std::string conninfo = "host=" + env_or("PGHOST", "127.0.0.1") +
                         " port=" + env_or("PGPORT", "5432") +
                         " user=" + env_or("PGUSER", "postgres") + " dbname=" + db_name;
  qc_chaos::daemon_process daemon(env_or("QUEUECASTD", "build/queuecastd"), conninfo,
                                  qc_chaos::free_port(),
                                  env_or("QUEUECAST_TEST_LOGS", "/tmp") + "/crash-daemon.log");
  daemon.start();
  ASSERT_TRUE(wait_ready(daemon, 30s)) << "the daemon never became ready";
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::shared_ptr<qc_chaos::subscriber>> subs;
  for (int i = 0; i <= writer_count; ++i) {
    qc_chaos::subscriber_options o;
    o.topic = "queue:" + queue_of(i % writer_count);
    o.delta_mode = i < writer_count;
    subs.push_back(std::make_shared<qc_chaos::subscriber>(
        ioc, o, [&daemon](int) { return daemon.port(); }, seed + i));
  }
  for (auto& s : subs) s->start();
  std::thread io_thread([&] { ioc.run(); });
  // A failed step (an exception, or the return below) must not leave the
  // I/O thread running: its std::thread would end the process.
  struct io_stopper {
    std::function<void()> stop;
    ~io_stopper() { stop(); }
  } io_guard{[&] {
    work.reset();
    ioc.stop();
    if (io_thread.joinable()) io_thread.join();
  }};

  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<writer_log> logs(writer_count);
  std::vector<std::thread> writers;
  for (int w = 0; w < writer_count; ++w)
    writers.emplace_back(run_writer, w, sync, std::ref(stop), std::ref(acked), std::ref(logs[w]));
  std::this_thread::sleep_for(load_time);
  int acked_before_crash = acked;
  int orphans = 0;
  bool restarted = false;
  try {
    orphans = crash(kind);
    start_cluster();
    restarted = true;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "crash or restart: " << e.what();
  }
  stop = true;
  for (auto& w : writers) w.join();
  if (!restarted) return;
  std::cout << "acknowledged commits: " << acked << " (" << acked_before_crash
            << " when the kill started), orphans killed after the postmaster: " << orphans
            << std::endl;
  EXPECT_GT(acked_before_crash, 20) << "too little load before the crash to test anything";
  for (int w = 0; w < writer_count; ++w) {
    EXPECT_FALSE(logs[w].error.empty()) << "writer " << w << " ended before the crash";
  }

  auto db = connect_after_restart();
  std::string values = acks_values(logs);
  ASSERT_FALSE(values.empty()) << "no commit was acknowledged";
  db->exec("CREATE TEMP TABLE acks (writer int, n int, id bigint, status text)");
  db->exec("INSERT INTO acks VALUES " + values);
  db->exec(
      "CREATE TEMP TABLE ack_seqs AS SELECT a.*, (SELECT min(c.seq) FROM queuecast.changes c "
      "WHERE c.entity = 'phase' AND c.key = a.id::text AND c.new_status = a.status) AS seq "
      "FROM acks a");
  long long missing = db->number("SELECT count(*) FROM ack_seqs WHERE seq IS NULL");
  EXPECT_EQ(missing, 0) << "acknowledged commits missing from the history, first ones: "
                        << db->value(
                               "SELECT coalesce(string_agg(format('writer %s #%s phase %s "
                               "%s', writer, n, id, status), '; '), '') FROM (SELECT * "
                               "FROM ack_seqs WHERE seq IS NULL ORDER BY writer, n "
                               "LIMIT 5) m");
  EXPECT_EQ(db->number("SELECT count(*) FROM (SELECT seq < lag(seq) OVER (PARTITION BY writer "
                       "ORDER BY n) AS back FROM ack_seqs) s WHERE back"),
            0)
      << "a writer's later acknowledged commit has a smaller seq than an earlier one";

  // The tables: each phase at its last acknowledged status, or at the status
  // its in-flight commit would have given it.
  std::string in_flight = "(-1,'none',-1)";
  for (int w = 0; w < writer_count; ++w) {
    if (logs[w].in_flight)
      in_flight += ",(" + std::to_string(w) + ",'" + logs[w].in_flight->status + "'," +
                   std::to_string(logs[w].in_flight->id) + ")";
  }
  EXPECT_EQ(db->number("SELECT count(*) FROM (SELECT DISTINCT ON (id) * FROM acks ORDER BY id, "
                       "writer, n DESC) last LEFT JOIN queuecast.phases p USING (id) "
                       "WHERE p.status IS DISTINCT FROM last.status AND NOT EXISTS (SELECT FROM "
                       "(VALUES " +
                       in_flight +
                       ") f(writer, status, id) WHERE f.id = last.id AND f.status = p.status)"),
            0)
      << "a phase's row does not reflect its last acknowledged commit";
  // Phases nobody acknowledged: at most the one enqueue in flight per writer.
  EXPECT_LE(db->number("SELECT count(*) FROM queuecast.phases p WHERE NOT EXISTS (SELECT FROM "
                       "acks a WHERE a.id = p.id)"),
            writer_count);

  // Seqs: unique, and new commits come after everything before the crash.
  // The doorbell rings for them (with the library preloaded, that is the
  // extension's worker, which must have come back with the cluster).
  EXPECT_EQ(db->number("SELECT count(*) - count(DISTINCT seq) FROM queuecast.changes"), 0);
  if (env_or("QUEUECAST_PRELOAD", "0") == "1") {
    EXPECT_NE(db->value("SHOW shared_preload_libraries").find("queuecast"), std::string::npos)
        << "QUEUECAST_PRELOAD=1 but the library is not preloaded";
  }
  pg_session listener(qc_test::conninfo(db_name));
  listener.exec("LISTEN queuecast");
  long long before = db->number("SELECT max(seq) FROM queuecast.changes");
  for (int i = 0; i < 10; ++i) {
    long long id = std::stoll(*commit_one(
        *db, "SELECT queuecast.enqueue('" + queue_of(i % writer_count) + "', 'after')"));
    EXPECT_GT(db->number("SELECT min(seq) FROM queuecast.changes WHERE entity = 'phase' AND key = "
                         "'" +
                         std::to_string(id) + "'"),
              before)
        << "a commit after the recovery got a seq at or below the history before it";
  }
  EXPECT_FALSE(listener.notifications(5s, true).empty())
      << "no NOTIFY queuecast for the commits after the recovery";

  db->exec(qc_test::replay_sql);
  EXPECT_EQ(qc_test::replay_differences(*db, "queues", "r_queues"), 0) << "replayed queues differ";
  EXPECT_EQ(qc_test::replay_differences(*db, "phases", "r_phases"), 0) << "replayed phases differ";
  EXPECT_EQ(qc_test::replay_differences(*db, "workflows", "r_workflows"), 0)
      << "replayed workflows differ";

  // The daemon: every subscriber reaches the database's state (bounded),
  // each on an unbroken seq chain or after an explicit fresh start. A fresh
  // start at a smaller seq than the subscriber had means the daemon served a
  // change the crash then lost. The capture allows that (docs/capture.md: a
  // commit is visible before its flush, as with asynchronous commit; only
  // what was acknowledged is durable), so by default it is counted, not a
  // failure; the subscriber must then converge all the same.
  // QUEUECAST_CRASH_ALLOW_GOING_BACK=0 makes it a failure.
  const bool allow_going_back = env_or("QUEUECAST_CRASH_ALLOW_GOING_BACK", "1") == "1";
  std::map<std::string, qc_chaos::json::object> expected;
  for (int w = 0; w < writer_count; ++w) {
    expected["queue:" + queue_of(w)] = qc_chaos::topic_state::canonical_of(
        "queue:" + queue_of(w),
        qc_chaos::json::parse(db->value("SELECT queuecast.snapshot('" + queue_of(w) + "')"))
            .as_object());
  }
  auto converged = [&] {
    std::promise<bool> done;
    boost::asio::post(ioc, [&] {
      bool all = true;
      for (auto& s : subs)
        all = all && s->has_state() && s->canonical_state() == expected[s->options().topic];
      done.set_value(all);
    });
    return done.get_future().get();
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool all_converged = converged();
  while (!all_converged && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    all_converged = converged();
  }
  std::promise<std::vector<std::string>> collected;
  boost::asio::post(ioc, [&] {
    std::vector<std::string> problems;
    long stale = 0, deltas = 0, resumed = 0, fresh = 0, went_back = 0;
    for (auto& s : subs) {
      for (const std::string& v : s->violations()) {
        if (allow_going_back && v.find("fresh snapshot went back") != std::string::npos) {
          went_back++;
        } else {
          problems.push_back(v);
        }
      }
      if (!(s->has_state() && s->canonical_state() == expected[s->options().topic]))
        problems.push_back(s->describe() + ": differs from queuecast.snapshot() (last seq " +
                           std::to_string(s->last_seq()) + ")");
      stale += s->counts().stale;
      deltas += s->counts().deltas;
      resumed += s->counts().resumed;
      fresh += s->counts().fresh_snapshots;
      s->stop();
    }
    std::cout << "daemon subscribers: deltas=" << deltas << " resumed=" << resumed
              << " fresh_snapshots=" << fresh << " (of them going back: " << went_back
              << ") stale_notices=" << stale << std::endl;
    if (stale == 0) problems.push_back("no subscriber was told that the stream went stale");
    if (deltas == 0) problems.push_back("no subscriber received a delta");
    collected.set_value(problems);
  });
  auto problems = collected.get_future().get();
  EXPECT_TRUE(all_converged) << "the daemon's subscribers did not converge within 30 s";
  for (const auto& p : problems) ADD_FAILURE() << "daemon: " << p;
  EXPECT_EQ(daemon.terminate(), 0) << "SIGTERM should exit 0";
}

TEST(crash, pg_ctl_stop_immediate) {
  crash_and_check(crash_kind::immediate);
}

TEST(crash, sigkill_of_the_postmaster) {
  crash_and_check(crash_kind::sigkill);
}

}  // namespace
