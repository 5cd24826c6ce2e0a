// The ordering invariant under a random concurrent workload: several writers
// (API calls, plain DML and TRUNCATEs, savepoints, aborts, all isolation
// levels) while a reader polls `seq > last`. Proven here:
//   - the reader never later finds a seq smaller than one it has seen
//     (every seq in the final history was seen by the poller, in order);
//   - committed_at never decreases along seq;
//   - every NOTIFY's range holds exactly its transaction's changes;
//   - replaying the history from empty tables reproduces the final tables
//     (TRUNCATE rows included: the replay fails without them).
// Each run is one mode: the writers' synchronous_commit (off, on,
// remote_apply) and their constraints (deferred as declared, or SET
// CONSTRAINTS ALL IMMEDIATE at the start of every transaction, as ORMs do).
// With STANDBY_PORT set (tests/extension/standby.sh starts a synchronous
// streaming standby, tests/harness/pgcluster.sh) a second poller reads the
// standby, whose visibility order is WAL replay order, and the same
// invariant must hold there; with remote_apply a probe's acknowledged
// commits must be visible on the standby at once.
// The seed is printed; rerun with QUEUECAST_TEST_SEED=<seed> to replay it.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <functional>
#include <memory>
#include <iostream>
#include <random>
#include <thread>

#include "../common/replay.hpp"
#include "../common/workload.hpp"
#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;

const std::string db_name = "queuecast_invariant";
constexpr int writer_count = 4;
constexpr int transactions_per_writer = 150;

std::uint64_t test_seed() {
  if (const char* env = std::getenv("QUEUECAST_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

struct invariant_mode {
  std::string synchronous_commit;  // of the writers
  bool immediate_constraints;
};

void run_writer(int writer, std::uint64_t seed, const invariant_mode& mode,
                std::atomic<int>& commits) {
  std::mt19937_64 rng(seed + writer);
  pg_session db(qc_test::conninfo(db_name));
  db.exec("SET synchronous_commit = " + mode.synchronous_commit);
  // Writers deadlock now and then (row locks against each other and, with
  // immediate constraints, against the commit-order lock); the default 1 s
  // before PostgreSQL looks for a deadlock would be most of the test's time.
  db.exec("SET deadlock_timeout = '20ms'");
  for (int t = 0; t < transactions_per_writer; ++t)
    qc_test::run_transaction(db, rng, writer, commits,
                             mode.immediate_constraints ? "SET CONSTRAINTS ALL IMMEDIATE" : "");
}

void PrintTo(const invariant_mode& mode, std::ostream* out) {
  *out << "synchronous_commit=" << mode.synchronous_commit
       << (mode.immediate_constraints ? " immediate" : " deferred");
}

std::string mode_name(const ::testing::TestParamInfo<invariant_mode>& info) {
  return info.param.synchronous_commit +
         (info.param.immediate_constraints ? "_immediate" : "_deferred");
}

// The standby's conninfo, or "" without one (STANDBY_PORT unset).
std::string standby_conninfo() {
  const char* port = std::getenv("STANDBY_PORT");
  if (!port || !*port) return "";
  return "host=127.0.0.1 port=" + std::string(port) + " dbname=" + db_name;
}

// A session on the standby; the database was just created on the primary,
// so the first attempts may come before the standby has replayed that.
std::unique_ptr<pg_session> connect_standby() {
  for (int attempt = 0;; ++attempt) {
    try {
      return std::make_unique<pg_session>(standby_conninfo());
    } catch (const std::exception&) {
      if (attempt == 100) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
}

// Polls `seq > last` until told to stop; `caught_up` decides when the final
// round may end (the standby may still be replaying the last commits).
void poll_history(pg_session& reader, std::vector<long long>& seen, std::atomic<bool>& stop,
                  const std::function<bool(long long)>& caught_up) {
  long long last = 0;
  auto give_up = std::chrono::steady_clock::time_point::max();
  while (true) {
    for (auto& s : reader.column("SELECT seq FROM queuecast.changes WHERE seq > " +
                                 std::to_string(last) + " ORDER BY seq")) {
      seen.push_back(std::stoll(*s));
      last = seen.back();
    }
    if (stop.load()) {
      if (caught_up(last)) break;
      if (give_up == std::chrono::steady_clock::time_point::max())
        give_up = std::chrono::steady_clock::now() + 30s;
      if (std::chrono::steady_clock::now() > give_up) break;  // the test then fails
    }
    // Not a busy loop: on 2 cores it would take the writers' CPU.
    std::this_thread::sleep_for(1ms);
  }
}

class ordering_invariant : public ::testing::TestWithParam<invariant_mode> {};

TEST_P(ordering_invariant, holds_under_random_concurrent_writers) {
  const invariant_mode& mode = GetParam();
  std::uint64_t seed = test_seed();
  std::cout << "invariant_test seed=" << seed << " (QUEUECAST_TEST_SEED to replay)"
            << " synchronous_commit=" << mode.synchronous_commit
            << " constraints=" << (mode.immediate_constraints ? "immediate" : "deferred")
            << " standby=" << (standby_conninfo().empty() ? "none" : "yes") << std::endl;
  qc_test::create_database(db_name);
  pg_session setup(qc_test::conninfo(db_name));
  const bool with_standby = !standby_conninfo().empty();
  if (with_standby) {
    // The modes on and remote_apply mean something only with a standby the
    // primary waits for.
    ASSERT_EQ(setup.number("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' "
                           "AND state = 'streaming'"),
              1)
        << "STANDBY_PORT is set but no synchronous standby streams";
  }
  for (int q = 0; q < 3; ++q)
    setup.exec("SELECT queuecast.create_queue('q" + std::to_string(q) + "')");
  if (with_standby) {
    // The standby poller starts once the standby has replayed the setup
    // (the extension's tables and the queues).
    std::string lsn = setup.value("SELECT pg_current_wal_insert_lsn()");
    auto standby = connect_standby();
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (standby->value("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'") != "t") {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the standby does not replay";
      std::this_thread::sleep_for(10ms);
    }
  }

  pg_session listener(qc_test::conninfo(db_name));
  listener.exec("LISTEN queuecast");
  std::atomic<bool> writers_done{false};
  std::atomic<int> commits{0};
  std::vector<long long> seen, seen_on_standby;
  std::vector<std::string> notes;
  std::thread poller([&] {
    pg_session reader(qc_test::conninfo(db_name));
    bool final_round = false;
    poll_history(reader, seen, writers_done, [&](long long) {
      // One more round after the writers are done (all their commits are
      // visible on the primary by then).
      bool last_round = final_round;
      final_round = true;
      return last_round;
    });
  });
  // The primary's max(seq) once the writers are done: the standby poller's
  // final round ends when it has seen that far.
  std::atomic<long long> primary_last{-1};
  std::string standby_error;
  std::thread standby_poller;
  if (with_standby) {
    standby_poller = std::thread([&] {
      try {
        auto reader = connect_standby();
        poll_history(*reader, seen_on_standby, writers_done,
                     [&](long long last) { return primary_last >= 0 && last >= primary_last; });
      } catch (const std::exception& e) {
        standby_error = e.what();  // reported below, after the joins
      }
    });
  }
  // The listener's own thread: NOTIFYs are read while they arrive.
  std::thread notifier([&] {
    while (!writers_done) {
      auto batch = listener.notifications(5ms, false);
      notes.insert(notes.end(), batch.begin(), batch.end());
    }
  });
  // With remote_apply, a commit returns only once the standby has applied
  // it: a probe enqueued next to the writers must be in the standby's
  // history at once, read on a connection that is already open. (An
  // asynchronous standby on loopback misses some of them.)
  int probes = 0, probe_misses = 0;
  std::string probe_error;
  std::thread prober;
  if (with_standby && mode.synchronous_commit == "remote_apply") {
    prober = std::thread([&] {
      try {
        pg_session primary(qc_test::conninfo(db_name));
        primary.exec("SET synchronous_commit = remote_apply");
        auto standby = connect_standby();
        // The workload's TRUNCATE of the queues makes an enqueue fail now
        // and then (TRUNCATE is not MVCC-safe); those probes do not count.
        for (int attempt = 0; attempt < 100; ++attempt) {
          std::string id;
          try {
            id = primary.value("SELECT queuecast.enqueue('q0', 'probe')");
          } catch (const std::runtime_error&) {
            continue;
          }
          probes++;
          probe_misses += standby->number(
                              "SELECT count(*) FROM queuecast.changes WHERE entity = 'phase' AND "
                              "op = 'INSERT' AND key = '" +
                              id + "'") == 0;
        }
      } catch (const std::exception& e) {
        probe_error = e.what();
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < writer_count; ++w)
    writers.emplace_back(run_writer, w, seed, std::cref(mode), std::ref(commits));
  for (auto& w : writers) w.join();
  if (prober.joinable()) prober.join();
  {
    pg_session primary(qc_test::conninfo(db_name));
    primary_last = primary.number("SELECT coalesce(max(seq), 0) FROM queuecast.changes");
  }
  writers_done = true;
  notifier.join();
  poller.join();
  if (standby_poller.joinable()) standby_poller.join();
  auto rest = listener.notifications(300ms, false);
  notes.insert(notes.end(), rest.begin(), rest.end());

  pg_session db(qc_test::conninfo(db_name));
  std::vector<long long> all;
  for (auto& s : db.column("SELECT seq FROM queuecast.changes ORDER BY seq"))
    all.push_back(std::stoll(*s));
  std::cout << "committed transactions=" << commits << " history rows=" << all.size()
            << " notifications=" << notes.size() << std::endl;
  ASSERT_GT(all.size(), 100u) << "the workload should have produced history";
  // Every TRUNCATE form of the workload empties phases; without one the
  // replay below would not test TRUNCATE rows at all.
  std::cout << "TRUNCATE rows: "
            << db.value(
                   "SELECT coalesce(string_agg(entity || '=' || n, ' '), 'none') FROM "
                   "(SELECT entity, count(*) n FROM queuecast.changes WHERE op = 'TRUNCATE' "
                   "GROUP BY entity ORDER BY entity) t")
            << " phases at the end=" << db.value("SELECT count(*) FROM queuecast.phases")
            << std::endl;
  ASSERT_GT(db.number("SELECT count(*) FROM queuecast.changes WHERE op = 'TRUNCATE' AND entity = "
                      "'phase'"),
            0)
      << "the workload committed no TRUNCATE";
  EXPECT_EQ(seen, all) << "a seq appeared behind the poller's position: the invariant is broken";
  if (with_standby && mode.synchronous_commit == "remote_apply") {
    EXPECT_EQ(probe_error, "") << "the remote_apply probe failed";
    EXPECT_GE(probes, 50) << "too few probes committed";
    EXPECT_EQ(probe_misses, 0) << "remote_apply commits returned before the standby applied them";
  }
  if (with_standby) {
    EXPECT_EQ(standby_error, "") << "the standby poller failed";
    EXPECT_EQ(seen_on_standby, all)
        << "on the standby a seq appeared behind the poller's position (or it never caught up)";
  }
  EXPECT_EQ(db.number("SELECT count(*) FROM (SELECT committed_at < lag(committed_at) OVER (ORDER "
                      "BY seq) AS back "
                      "FROM queuecast.changes) s WHERE back"),
            0)
      << "committed_at decreased along seq";

  long long noted = 0;
  for (const std::string& note : notes) {
    boost::json::object payload = boost::json::parse(note).as_object();
    long long first = payload.at("first").as_int64(), last = payload.at("last").as_int64();
    long long n = payload.at("n").as_int64();
    noted += n;
    EXPECT_EQ(db.number("SELECT count(*) FROM queuecast.changes WHERE seq BETWEEN " +
                        std::to_string(first) + " AND " + std::to_string(last)),
              n)
        << "NOTIFY range " << first << ".." << last << " does not match its transaction";
  }
  EXPECT_EQ(noted, static_cast<long long>(all.size()) - 3)
      << "every change after setup was announced";

  db.exec(qc_test::replay_sql);
  EXPECT_EQ(qc_test::replay_differences(db, "queues", "r_queues"), 0) << "replayed queues differ";
  EXPECT_EQ(qc_test::replay_differences(db, "workflows", "r_workflows"), 0)
      << "replayed workflows differ";
  EXPECT_EQ(qc_test::replay_differences(db, "phases", "r_phases"), 0) << "replayed phases differ";
}

// Without a standby, remote_apply commits like on; tests/extension/run.sh runs
// all six modes against a synchronous standby (standby.sh).
INSTANTIATE_TEST_SUITE_P(modes, ordering_invariant,
                         ::testing::Values(invariant_mode{"off", false},
                                           invariant_mode{"on", false},
                                           invariant_mode{"remote_apply", false},
                                           invariant_mode{"off", true}, invariant_mode{"on", true},
                                           invariant_mode{"remote_apply", true}),
                         mode_name);

}  // namespace
