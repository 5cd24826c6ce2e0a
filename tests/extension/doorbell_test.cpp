// The doorbell worker (extension/doorbell.hpp), against a cluster started
// with shared_preload_libraries = 'queuecast' (tests/extension/run.sh starts
// one): writers hand their commits to a per-database background worker that
// rings NOTIFY queuecast, so a writer never waits for PostgreSQL's NOTIFY
// lock; bursts ring far fewer times than they commit, and no bell is lost;
// the worker comes back after it is killed and after a restart.
//
// Environment (tests/harness/pgcluster.sh): PGHOST, PGPORT, PGUSER,
// PGCLUSTER_DATA, PGCLUSTER_LOG, PG_BINDIR.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;
namespace json = boost::json;

const std::string db_name = "queuecast_doorbell";

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

// Polls until pred() holds; false if `limit` passed first.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// A connection once the server accepts them again (after a crash or restart).
std::unique_ptr<pg_session> connect_when_up(const std::string& database) {
  std::unique_ptr<pg_session> session;
  wait_until(
      [&] {
        try {
          session = std::make_unique<pg_session>(qc_test::conninfo(database));
          return session->value("SELECT pg_is_in_recovery()") == "f";
        } catch (const std::exception&) {
          return false;
        }
      },
      60s);
  if (!session) throw std::runtime_error("the server did not come back");
  return session;
}

// The pid of the doorbell worker of `database`, 0 if none runs.
int worker_pid(pg_session& any, const std::string& database) {
  auto pids = any.column(
      "SELECT pid FROM pg_stat_activity WHERE backend_type = 'queuecast doorbell' AND datname = '" +
      database + "'");
  return pids.empty() ? 0 : std::stoi(*pids.front());
}

struct bell {
  int sender_pid;
  long long first, last, n;
};

bell parse(const pg_session::notification& note) {
  json::object payload = json::parse(note.payload).as_object();
  EXPECT_EQ(payload.size(), 5u) << note.payload;
  EXPECT_EQ(payload.at("v").as_int64(), 2) << note.payload;
  EXPECT_GT(payload.at("at").as_int64(), 1700000000000000) << note.payload;
  return {note.sender_pid, payload.at("first").as_int64(), payload.at("last").as_int64(),
          payload.at("n").as_int64()};
}

// Bells until one announces `seq` (or `limit` passes).
std::vector<bell> bells_until(pg_session& listener, long long seq,
                              std::chrono::milliseconds limit = 10s) {
  std::vector<bell> bells;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& note : listener.notifications_from(200ms, true)) bells.push_back(parse(note));
    if (!bells.empty() && bells.back().last >= seq) break;
  }
  return bells;
}

long long newest_seq(pg_session& db) {
  return db.number("SELECT coalesce(max(seq), 0) FROM queuecast.changes");
}

// Sets a cluster-wide setting for a scope (ALTER SYSTEM, reload); resets it
// however the scope is left.
class system_setting {
 public:
  system_setting(const std::string& name, const std::string& value) : name_(name) {
    pg_session admin("dbname=postgres");
    admin.exec("ALTER SYSTEM SET " + name + " = '" + value + "'");
    admin.exec("SELECT pg_reload_conf()");
  }
  ~system_setting() {
    try {
      pg_session admin("dbname=postgres");
      admin.exec("ALTER SYSTEM RESET " + name_);
      admin.exec("SELECT pg_reload_conf()");
    } catch (const std::exception& e) {
      std::cerr << "could not reset " << name_ << ": " << e.what() << std::endl;
    }
  }
  system_setting(const system_setting&) = delete;
  system_setting& operator=(const system_setting&) = delete;

 private:
  std::string name_;
};

// The server log from a point on, to find what a test made the server say.
class log_watch {
 public:
  log_watch() : path_(env_or("PGCLUSTER_LOG", "")) {
    std::ifstream log(path_, std::ios::ate);
    start_ = log ? static_cast<std::streamoff>(log.tellg()) : 0;
  }
  // Lines since construction that contain `a` and `b`.
  std::vector<std::string> lines_with(const std::string& a, const std::string& b) const {
    std::ifstream log(path_);
    log.seekg(start_);
    std::vector<std::string> found;
    for (std::string line; std::getline(log, line);)
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos)
        found.push_back(line);
    return found;
  }

 private:
  std::string path_;
  std::streamoff start_ = 0;
};

void restart_postgres() {
  std::string pg_ctl = env_or("PG_BINDIR", "/usr/lib/postgresql/15/bin") + "/pg_ctl";
  std::string command = pg_ctl + " -D " + env_or("PGCLUSTER_DATA", "") + " -l " +
                        env_or("PGCLUSTER_LOG", "/dev/null") + " -o '-p " + env_or("PGPORT", "") +
                        "' -w -t 60 -m fast restart >/dev/null";
  if (geteuid() == 0) command = "runuser -u postgres -- " + command;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("restart failed: " + command);
}

class doorbell_worker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_session admin("dbname=postgres");
    ASSERT_EQ(admin.value("SHOW shared_preload_libraries"), "queuecast")
        << "these tests need a cluster with the doorbell worker";
    qc_test::create_database(db_name);
    pg_session setup(qc_test::conninfo(db_name));
    setup.exec("SELECT queuecast.create_queue('n')");
    // That commit started the worker; let it ring before the tests listen.
    ASSERT_TRUE(wait_until([&] { return worker_pid(setup, db_name) != 0; }, 10s));
  }

  void SetUp() override {
    listener_ = connect_when_up(db_name);
    writer_ = connect_when_up(db_name);
    listener_->exec("LISTEN queuecast");
    // Bells of earlier commits (of other tests) may still come.
    listener_->notifications_from(300ms, false);
  }

  // Commits one change and returns its seq.
  long long enqueue(pg_session& writer, const std::string& title = "t") {
    writer.exec("SELECT queuecast.enqueue('n', '" + title + "')");
    return writer.number("SELECT max(seq) FROM queuecast.changes");
  }

  std::unique_ptr<pg_session> listener_;
  std::unique_ptr<pg_session> writer_;
};

TEST_F(doorbell_worker, commits_within_the_interval_share_one_ring) {
  // queuecast.doorbell_interval: after a ring the worker waits that long
  // before the next, so a burst of commits costs one NOTIFY transaction,
  // not one each. Set to 0 the worker rings as soon as it is woken.
  // Returns the rings and how long the burst took (a loaded machine makes
  // commits slow, and the bound on rings follows the time they took).
  auto ring_for_each_of = [&](int commits, std::chrono::milliseconds apart) {
    long long first = 0, last = 0;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < commits; ++i) {
      last = enqueue(*writer_, "burst " + std::to_string(i));
      if (i == 0) first = last;
      if (i + 1 < commits) std::this_thread::sleep_for(apart);
    }
    auto took = std::chrono::steady_clock::now() - started;
    auto bells = bells_until(*listener_, last);
    long long announced = 0;
    for (const bell& b : bells) {
      if (b.last < first) continue;
      EXPECT_GE(b.first, first) << "a bell for a change of before: " << b.first << ".." << b.last
                                << " n " << b.n << ", burst from " << first;
      announced += b.n;
    }
    EXPECT_EQ(announced, commits) << "every change announced exactly once";
    return std::pair{bells.size(), took};
  };
  {
    system_setting slow("queuecast.doorbell_interval", "1s");
    // The worker reads the setting when woken; its ring comes before the burst.
    bells_until(*listener_, enqueue(*writer_, "wake"));
    auto [rings, took] = ring_for_each_of(10, 10ms);
    // One ring per started second of the burst, and the first at once.
    auto bound = static_cast<std::size_t>(took / 1s) + 2;
    EXPECT_LE(rings, bound) << "10 commits within " << (took / 1ms) << " ms rang " << rings
                            << " times with a 1 s interval";
  }
  system_setting immediate("queuecast.doorbell_interval", "0");
  bells_until(*listener_, enqueue(*writer_, "wake"));
  std::this_thread::sleep_for(1100ms);  // the last interval of 1 s is over
  std::size_t rings = ring_for_each_of(10, 200ms).first;
  EXPECT_GE(rings, 5u) << "10 commits 200 ms apart without an interval rang " << rings << " times";
}

TEST_F(doorbell_worker, a_commit_is_rung_by_the_worker_with_its_seq) {
  long long seq = enqueue(*writer_);
  auto bells = bells_until(*listener_, seq);
  for (auto& note : listener_->notifications_from(300ms, false)) bells.push_back(parse(note));
  ASSERT_EQ(bells.size(), 1u) << "one commit, one bell";
  EXPECT_EQ(bells[0].first, seq);
  EXPECT_EQ(bells[0].last, seq);
  EXPECT_EQ(bells[0].n, 1);
  int worker = worker_pid(*writer_, db_name);
  EXPECT_NE(worker, 0) << "no doorbell worker in pg_stat_activity";
  EXPECT_EQ(bells[0].sender_pid, worker) << "the bell must come from the worker";
  EXPECT_NE(bells[0].sender_pid, writer_->number("SELECT pg_backend_pid()"));
}

// A transaction that NOTIFYs holds PostgreSQL's NOTIFY lock from pre-commit
// until after its commit record is flushed (and, with synchronous
// replication, confirmed). Here one waits forever for a standby that does
// not exist; a writer with the in-transaction doorbell would queue behind it.
class notify_lock_holder {
 public:
  notify_lock_holder() : phantom_("synchronous_standby_names", "queuecast_test_phantom") {
    session_.exec("SET synchronous_commit = local");  // until the commit that should wait
    session_.exec("CREATE TABLE IF NOT EXISTS notify_lock_holder (a int)");
    pid_ = static_cast<int>(session_.number("SELECT pg_backend_pid()"));
    // The checkpointer notices the new standby setting a little later: until
    // then commits do not wait. Try until one does.
    for (int attempt = 0; attempt < 50 && !holding_; ++attempt) {
      session_.exec("SET synchronous_commit = on");
      session_.exec("BEGIN");
      session_.exec("INSERT INTO notify_lock_holder VALUES (1)");
      session_.exec("NOTIFY some_other_channel");
      session_.send("COMMIT");
      std::this_thread::sleep_for(200ms);
      if (!session_.busy()) {
        session_.finish();
        continue;
      }
      holding_ = true;
    }
  }
  ~notify_lock_holder() { release(); }
  bool holding() const { return holding_; }
  // Cancels the wait: the commit completes locally (with a WARNING).
  void release() {
    if (!holding_) return;
    pg_session admin("dbname=postgres");
    admin.exec("SELECT pg_cancel_backend(" + std::to_string(pid_) + ")");
    session_.finish();
    holding_ = false;
  }

 private:
  system_setting phantom_;
  pg_session session_{qc_test::conninfo(db_name)};
  int pid_ = 0;
  bool holding_ = false;
};

TEST_F(doorbell_worker, a_writer_commits_while_another_transaction_holds_the_notify_lock) {
  writer_->exec("SET synchronous_commit = local");  // the writer itself must not wait
  writer_->exec("SET lock_timeout = '3s'");
  long long seq = 0;
  {
    notify_lock_holder holder;
    ASSERT_TRUE(holder.holding()) << "could not make a commit wait holding the NOTIFY lock";
    std::string message;
    EXPECT_EQ(writer_->exec_sqlstate("SELECT queuecast.enqueue('n', 'during')", &message), "")
        << "the writer waited for the NOTIFY lock: " << message;
    seq = newest_seq(*writer_);
    // The worker's NOTIFY waits for the lock instead; the bell comes later.
    EXPECT_TRUE(listener_->notifications_from(500ms, false).empty());
  }
  auto bells = bells_until(*listener_, seq);
  ASSERT_FALSE(bells.empty());
  EXPECT_EQ(bells.back().last, seq) << "the bell of the commit made during the wait";
}

// What the fallback costs (and what the test above would see without the
// worker): a writer that rings in its own transaction queues for the lock.
TEST_F(doorbell_worker, an_in_transaction_writer_waits_for_the_notify_lock) {
  writer_->exec("SET synchronous_commit = local");
  writer_->exec("SET lock_timeout = '1s'");
  writer_->exec("SET queuecast.doorbell = in_transaction");
  notify_lock_holder holder;
  ASSERT_TRUE(holder.holding());
  EXPECT_EQ(writer_->exec_sqlstate("SELECT queuecast.enqueue('n', 'blocked')"), "55P03")
      << "lock_not_available: the commit queued for the NOTIFY lock";
}

TEST_F(doorbell_worker, a_burst_rings_far_fewer_bells_and_loses_none) {
  constexpr int writers = 8, commits_each = 125;
  long long before = newest_seq(*writer_);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      try {
        pg_session writer(qc_test::conninfo(db_name));
        for (int i = 0; i < commits_each; ++i) writer.exec("SELECT queuecast.enqueue('n', 'b')");
      } catch (const std::exception& e) {
        std::cerr << e.what() << std::endl;
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures, 0);
  long long newest = newest_seq(*writer_);
  ASSERT_EQ(writer_->number("SELECT count(*) FROM queuecast.changes WHERE seq > " +
                            std::to_string(before)),
            writers * commits_each)
      << "one change per commit";
  auto bells = bells_until(*listener_, newest, 30s);
  for (auto& note : listener_->notifications_from(300ms, false)) bells.push_back(parse(note));
  std::cout << writers * commits_each << " commits rang " << bells.size() << " bells" << std::endl;
  ASSERT_FALSE(bells.empty());
  long long announced = 0, highest = 0;
  for (const bell& b : bells) {
    announced += b.n;
    highest = std::max(highest, b.last);
    EXPECT_GT(b.first, before) << "a bell of an earlier commit";
    EXPECT_EQ(b.last - b.first + 1, b.n) << "no commit of this burst failed: a range is its count";
  }
  EXPECT_EQ(highest, newest) << "the newest commit was never announced";
  EXPECT_EQ(announced, writers * commits_each) << "every commit is in exactly one bell";
  // 8 writers on 2 cores rang about 420 bells for 1000 commits; one bell per
  // commit would be 1000.
  EXPECT_LT(bells.size(), static_cast<std::size_t>(writers * commits_each * 8 / 10))
      << "bursts are not coalesced";
}

TEST_F(doorbell_worker, two_databases_have_their_own_workers_and_bells) {
  const std::string other = "queuecast_doorbell_other";
  qc_test::create_database(other);
  pg_session other_writer(qc_test::conninfo(other));
  other_writer.exec("SELECT queuecast.create_queue('n')");
  ASSERT_TRUE(wait_until([&] { return worker_pid(other_writer, other) != 0; }, 10s));
  pg_session other_listener(qc_test::conninfo(other));
  other_listener.exec("LISTEN queuecast");
  other_listener.notifications_from(300ms, false);  // a late bell of create_queue

  long long here = enqueue(*writer_);
  auto bells = bells_until(*listener_, here);
  ASSERT_FALSE(bells.empty());
  EXPECT_EQ(bells.back().last, here);
  EXPECT_TRUE(other_listener.notifications_from(300ms, false).empty())
      << "a bell of another database";

  long long there = enqueue(other_writer);
  auto other_bells = bells_until(other_listener, there);
  ASSERT_FALSE(other_bells.empty());
  EXPECT_EQ(other_bells.back().last, there);
  EXPECT_TRUE(listener_->notifications_from(300ms, false).empty()) << "a bell of another database";

  int mine = worker_pid(*writer_, db_name), theirs = worker_pid(*writer_, other);
  EXPECT_NE(mine, 0);
  EXPECT_NE(theirs, 0);
  EXPECT_NE(mine, theirs);
  EXPECT_EQ(other_bells.back().sender_pid, theirs);
}

TEST_F(doorbell_worker, an_idle_worker_exits_quietly_and_the_next_bell_starts_another) {
  log_watch log;
  system_setting short_idle("queuecast.doorbell_idle_timeout", "1s");
  const std::string dropped = "queuecast_doorbell_dropped";
  qc_test::create_database(dropped);
  {
    pg_session db(qc_test::conninfo(dropped));
    db.exec("SELECT queuecast.create_queue('n')");
    ASSERT_TRUE(wait_until([&] { return worker_pid(db, dropped) != 0; }, 10s));
    db.exec("DROP EXTENSION queuecast CASCADE");
    // Its worker exits after a second without bells; so does ours.
    ASSERT_TRUE(wait_until([&] { return worker_pid(db, dropped) == 0; }, 10s))
        << "the worker of a database without the extension stays";
  }
  ASSERT_TRUE(wait_until([&] { return worker_pid(*writer_, db_name) == 0; }, 10s));
  // Nothing holds the database: it drops without FORCE.
  pg_session admin("dbname=postgres");
  EXPECT_EQ(admin.exec_sqlstate("DROP DATABASE " + dropped), "");

  long long seq = enqueue(*writer_);
  auto bells = bells_until(*listener_, seq);
  ASSERT_FALSE(bells.empty()) << "no bell from a restarted worker";
  EXPECT_EQ(bells.back().last, seq);
  EXPECT_EQ(bells.back().sender_pid, worker_pid(*writer_, db_name));
  for (const char* level : {"WARNING", "ERROR", "FATAL"})
    EXPECT_TRUE(log.lines_with(level, "doorbell").empty())
        << level << " in the server log: " << log.lines_with(level, "doorbell").front();
}

TEST_F(doorbell_worker, a_terminated_worker_is_replaced) {
  enqueue(*writer_);
  int old_pid = 0;
  ASSERT_TRUE(wait_until([&] { return (old_pid = worker_pid(*writer_, db_name)) != 0; }, 10s));
  writer_->exec("SELECT pg_terminate_backend(" + std::to_string(old_pid) + ")");
  ASSERT_TRUE(wait_until([&] { return worker_pid(*writer_, db_name) != old_pid; }, 10s));
  long long seq = enqueue(*writer_);
  auto bells = bells_until(*listener_, seq);
  ASSERT_FALSE(bells.empty());
  EXPECT_EQ(bells.back().last, seq);
  EXPECT_NE(bells.back().sender_pid, old_pid);
}

// SIGKILL of the worker makes the postmaster restart the whole cluster (it
// cannot know what a killed process left in shared memory).
TEST_F(doorbell_worker, bells_ring_again_after_a_crash_of_the_cluster) {
  enqueue(*writer_);
  int pid = 0;
  ASSERT_TRUE(wait_until([&] { return (pid = worker_pid(*writer_, db_name)) != 0; }, 10s));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(500ms);
  listener_ = connect_when_up(db_name);
  writer_ = connect_when_up(db_name);
  listener_->exec("LISTEN queuecast");
  long long seq = enqueue(*writer_);
  auto bells = bells_until(*listener_, seq, 20s);
  ASSERT_FALSE(bells.empty()) << "no bell after the crash";
  EXPECT_EQ(bells.back().last, seq);
  EXPECT_EQ(bells.back().sender_pid, worker_pid(*writer_, db_name));
}

TEST_F(doorbell_worker, bells_ring_again_after_a_restart) {
  enqueue(*writer_);
  listener_.reset();
  writer_.reset();
  restart_postgres();
  listener_ = connect_when_up(db_name);
  writer_ = connect_when_up(db_name);
  listener_->exec("LISTEN queuecast");
  long long seq = enqueue(*writer_);
  auto bells = bells_until(*listener_, seq, 20s);
  ASSERT_FALSE(bells.empty()) << "no bell after the restart";
  EXPECT_EQ(bells.back().last, seq);
  EXPECT_EQ(bells.back().sender_pid, worker_pid(*writer_, db_name));
}

}  // namespace
