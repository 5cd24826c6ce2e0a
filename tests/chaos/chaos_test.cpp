// The chaos test (issue 4): writers run a random workload (API calls, plain
// DML and TRUNCATEs, savepoints, aborts) while two daemons serve many
// subscribers in both modes, some slow, some reconnecting at random with
// resume, some moving between the daemons; meanwhile backends are
// terminated, PostgreSQL is restarted (fast and immediate) and daemons are
// killed with SIGKILL and restarted. At the end every subscriber's state must equal
// queuecast.snapshot() for its topic, and every subscriber must have seen a
// gap-free, duplicate-free seq chain (or an explicit fresh snapshot).
//
// Environment: PGHOST/PGPORT/PGUSER (tests/harness), PGCLUSTER_DATA,
// PGCLUSTER_LOG, PG_BINDIR (to restart the server), QUEUECASTD (binary),
// QUEUECAST_TEST_SEED (replay a run), QUEUECAST_CHAOS_SECONDS (default 45).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <sstream>
#include <iostream>
#include <thread>

#include "../common/workload.hpp"
#include "daemon_process.hpp"
#include "subscriber.hpp"

namespace {

using namespace std::chrono_literals;
using namespace qc_chaos;
using qc_test::pg_session;

const std::string db_name = "queuecast_chaos";
const std::vector<std::string> topics = {"queue:q0", "queue:q1", "queue:q2", "workflows"};

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// queuecast_db_reconnects_total of a daemon, or -1 when unreadable.
long reconnects_of(const daemon_process& d) {
  auto [status, body] = d.get("/metrics");
  auto at = body.find("\nqueuecast_db_reconnects_total ");
  if (status != 200 || at == std::string::npos) return -1;
  return std::stol(body.substr(at + 31));
}

struct fault_counts {
  int terminated_backends = 0, pg_fast_restarts = 0, pg_crash_restarts = 0, daemon_kills = 0,
      subscriber_reconnects = 0;
};

// Restarts the cluster with pg_ctl, as its owner when we are root.
void restart_postgres(bool crash) {
  std::string pg_ctl = env_or("PG_BINDIR", "/usr/lib/postgresql/15/bin") + "/pg_ctl";
  std::string command = pg_ctl + " -D " + env_or("PGCLUSTER_DATA", "") + " -l " +
                        env_or("PGCLUSTER_LOG", "/dev/null") + " -o '-p " + env_or("PGPORT", "") +
                        "' -w -t 60 -m " + (crash ? "immediate" : "fast") + " restart >/dev/null";
  if (geteuid() == 0) command = "runuser -u postgres -- " + command;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("restart failed: " + command);
}

void run_writers(std::uint64_t seed, std::atomic<bool>& stop, std::atomic<int>& commits) {
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(seed * 31 + w);
      while (!stop) {
        try {
          pg_session db(qc_test::conninfo(db_name));
          while (!stop) {
            qc_test::run_transaction(db, rng, w, commits);
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
          }
        } catch (const std::exception&) {
          std::this_thread::sleep_for(200ms);  // the server is restarting or killed us
        }
      }
    });
  }
  for (auto& w : writers) w.join();
}

// One value from the database once it accepts connections again (the last
// fault may have been a restart): retried for up to a minute. An exception
// from here would pass the running I/O thread and end the process in
// std::terminate, saying nothing; a failure is reported and "" returned.
std::string value_when_up(const std::string& sql) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (true) {
    try {
      pg_session db(qc_test::conninfo(db_name));
      return db.value(sql);
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the database did not answer after the faults: " << e.what();
        return {};
      }
      std::this_thread::sleep_for(500ms);
    }
  }
}

bool wait_ready(daemon_process& d, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (d.get("/readyz").first == 200) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(chaos, every_subscriber_converges_without_gaps_or_duplicates) {
  std::uint64_t seed =
      std::stoull(env_or("QUEUECAST_TEST_SEED", std::to_string(std::random_device{}())));
  int seconds = std::stoi(env_or("QUEUECAST_CHAOS_SECONDS", "45"));
  std::cout << "chaos seed=" << seed << " seconds=" << seconds
            << " (QUEUECAST_TEST_SEED / QUEUECAST_CHAOS_SECONDS to replay)" << std::endl;
  std::mt19937_64 rng(seed);

  qc_test::create_database(db_name);
  {
    pg_session setup(qc_test::conninfo(db_name));
    for (int q = 0; q < 3; ++q)
      setup.exec("SELECT queuecast.create_queue('q" + std::to_string(q) + "')");
  }
  std::string binary = env_or("QUEUECASTD", "build/queuecastd");
  std::string conninfo = "host=" + env_or("PGHOST", "127.0.0.1") +
                         " port=" + env_or("PGPORT", "5432") +
                         " user=" + env_or("PGUSER", "postgres") + " dbname=" + db_name;
  std::string log_dir = env_or("QUEUECAST_TEST_LOGS", "/tmp");
  std::vector<std::unique_ptr<daemon_process>> daemons;
  for (int i = 0; i < 2; ++i) {
    daemons.push_back(std::make_unique<daemon_process>(
        binary, conninfo, free_port(), log_dir + "/chaos-daemon-" + std::to_string(i) + ".log"));
    daemons.back()->start();
  }
  for (auto& d : daemons)
    ASSERT_TRUE(wait_ready(*d, 30s)) << "daemon on port " << d->port() << " never ready";

  asio::io_context ioc;
  auto work = asio::make_work_guard(ioc);
  std::vector<std::shared_ptr<subscriber>> subs;
  for (int i = 0; i < 48; ++i) {
    subscriber_options o;
    o.topic = topics[i % topics.size()];
    o.delta_mode = (i / 4) % 2 == 0;
    o.slow = i % 7 == 0;
    o.wanders = i % 3 == 0;
    o.home = i % 2;
    o.sse = i % 5 == 1;  // every fifth follows the topic over Server-Sent Events
    subs.push_back(std::make_shared<subscriber>(
        ioc, o, [&daemons](int d) { return daemons[d]->port(); }, seed + 1000 + i));
  }
  for (auto& s : subs) s->start();
  std::thread io_thread([&] { ioc.run(); });

  std::atomic<bool> stop_writers{false};
  std::atomic<int> commits{0};
  std::thread writers([&] { run_writers(seed, stop_writers, commits); });

  fault_counts faults;
  std::vector<int> db_faults_since_start(daemons.size(), 0);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  // A fault that cannot be injected fails the test with its reason; the
  // writer and I/O threads are still stopped and joined (an exception past
  // them would end the process in std::terminate, saying nothing).
  while (std::chrono::steady_clock::now() < end) {
    try {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 2000));
      switch (rng() % 6) {
        case 0:
        case 1: {
          pg_session admin("dbname=postgres");
          admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                     db_name + "' AND pid <> pg_backend_pid()");
          faults.terminated_backends++;
          for (auto& n : db_faults_since_start) n++;
          break;
        }
        case 2: {
          bool crash = rng() % 2 == 0;
          restart_postgres(crash);
          (crash ? faults.pg_crash_restarts : faults.pg_fast_restarts)++;
          for (auto& n : db_faults_since_start) n++;
          break;
        }
        case 3: {
          std::size_t index = rng() % 2;
          auto& victim = daemons[index];
          victim->kill_now();
          db_faults_since_start[index] = 0;
          std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 800));
          victim->start();
          faults.daemon_kills++;
          break;
        }
        default:
          asio::post(ioc, [&subs, pick = rng()] {
            std::mt19937_64 choose(pick);
            for (auto& s : subs) {
              if (choose() % 4 == 0) s->reconnect_now();
            }
          });
          faults.subscriber_reconnects++;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "injecting a fault failed: " << e.what();
      break;
    }
  }
  stop_writers = true;
  writers.join();

  for (auto& d : daemons)
    EXPECT_TRUE(wait_ready(*d, 60s)) << "daemon on port " << d->port() << " did not recover";
  std::map<std::string, json::object> expected;
  for (const auto& topic : topics) {
    std::string sql = topic == "workflows" ? "SELECT queuecast.workflows_snapshot()"
                                           : "SELECT queuecast.snapshot('" + topic.substr(6) + "')";
    std::string text = value_when_up(sql);
    if (!text.empty())
      expected[topic] = topic_state::canonical_of(topic, json::parse(text).as_object());
  }
  // Every subscriber converges to SQL's state (bounded wait).
  auto converge_deadline = std::chrono::steady_clock::now() + 60s;
  std::atomic<int> converged{0};
  while (std::chrono::steady_clock::now() < converge_deadline) {
    std::promise<int> done;
    asio::post(ioc, [&] {
      int n = 0;
      for (auto& s : subs)
        n += s->has_state() && s->canonical_state() == expected[s->options().topic];
      done.set_value(n);
    });
    converged = done.get_future().get();
    if (converged == static_cast<int>(subs.size())) break;
    std::this_thread::sleep_for(200ms);
  }

  subscriber_counts total;
  long sse_subscribers = 0, sse_messages = 0, sse_resumed = 0;
  std::vector<std::string> violations;
  long went_back = 0;
  std::promise<void> collected;
  asio::post(ioc, [&] {
    for (auto& s : subs) {
      const auto& c = s->counts();
      total.messages += c.messages, total.deltas += c.deltas, total.snapshots += c.snapshots;
      total.connects += c.connects, total.resumed += c.resumed,
          total.fresh_snapshots += c.fresh_snapshots;
      total.server_closes += c.server_closes;
      total.stale += c.stale, total.live += c.live;
      if (s->options().sse) sse_subscribers++, sse_messages += c.messages, sse_resumed += c.resumed;
      for (const std::string& v : s->violations()) {
        // A commit is visible before its WAL is flushed (docs/capture.md),
        // so an immediate restart can take back a change the daemon served:
        // the daemon must then start its clients over, which they may see
        // going back. Only then, and only after such a restart.
        if (faults.pg_crash_restarts > 0 &&
            v.find("fresh snapshot went back") != std::string::npos) {
          went_back++;
        } else {
          violations.push_back(v);
        }
      }
      if (!(s->has_state() && s->canonical_state() == expected[s->options().topic])) {
        violations.push_back(s->describe() +
                             ": did not converge to queuecast.snapshot() (last seq " +
                             std::to_string(s->last_seq()) + ")");
      }
      s->stop();
    }
    collected.set_value();
  });
  collected.get_future().wait();
  work.reset();
  io_thread.join();

  std::cout << "faults: terminated_backends=" << faults.terminated_backends
            << " pg_fast_restarts=" << faults.pg_fast_restarts
            << " pg_crash_restarts=" << faults.pg_crash_restarts
            << " daemon_kills=" << faults.daemon_kills
            << " subscriber_reconnect_rounds=" << faults.subscriber_reconnects << "\n"
            << "writers: committed_transactions=" << commits
            << " history_rows=" << value_when_up("SELECT count(*) FROM queuecast.changes")
            << " truncate_rows="
            << value_when_up("SELECT count(*) FROM queuecast.changes WHERE op = 'TRUNCATE'") << "\n"
            << "subscribers: " << subs.size() << " converged=" << converged
            << " messages=" << total.messages << " deltas=" << total.deltas
            << " snapshots=" << total.snapshots << " connects=" << total.connects
            << " resumed=" << total.resumed << " fresh_snapshots=" << total.fresh_snapshots
            << " server_closes=" << total.server_closes << " stale_notices=" << total.stale
            << " live_notices=" << total.live
            << " fresh_starts_going_back_after_a_crash=" << went_back << "\n"
            << "of them over Server-Sent Events: " << sse_subscribers
            << " messages=" << sse_messages << " resumed=" << sse_resumed << "\n";
  EXPECT_GT(sse_messages, 0) << "the SSE subscribers heard nothing";
  if (faults.pg_fast_restarts + faults.pg_crash_restarts > 0) {
    EXPECT_GT(total.stale, 0) << "subscribers must be told when the stream goes stale";
    EXPECT_GT(total.live, 0) << "and when it is live again";
  }
  for (std::size_t i = 0; i < daemons.size(); ++i) {
    long reconnects = reconnects_of(*daemons[i]);
    std::cout << "daemon " << i << ": starts=" << daemons[i]->starts()
              << " db_reconnects_total=" << reconnects
              << " database faults since its last start=" << db_faults_since_start[i] << "\n";
    EXPECT_GE(reconnects, db_faults_since_start[i])
        << "the daemon's metrics must account for every reconnect";
  }
  for (size_t i = 0; i < violations.size() && i < 20; ++i)
    std::cout << "VIOLATION " << violations[i] << "\n";
  EXPECT_TRUE(violations.empty()) << violations.size() << " violations (first ones printed above)";
  for (auto& d : daemons) EXPECT_EQ(d->terminate(), 0) << "SIGTERM should exit 0";
}

}  // namespace
