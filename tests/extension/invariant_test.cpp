// The ordering invariant under a random concurrent workload: several writers
// (API calls, plain DML and TRUNCATEs, savepoints, aborts, all isolation
// levels) while a reader polls `seq > last`. Proven here:
//   - the reader never later finds a seq smaller than one it has seen
//     (every seq in the final history was seen by the poller, in order);
//   - committed_at never decreases along seq;
//   - every NOTIFY's range holds exactly its transaction's changes;
//   - replaying the history from empty tables reproduces the final tables
//     (TRUNCATE rows included: the replay fails without them).
// The seed is printed; rerun with QUEUECAST_TEST_SEED=<seed> to replay it.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

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

void run_writer(int writer, std::uint64_t seed, std::atomic<int>& commits) {
  std::mt19937_64 rng(seed + writer);
  pg_session db(qc_test::conninfo(db_name));
  for (int t = 0; t < transactions_per_writer; ++t)
    qc_test::run_transaction(db, rng, writer, commits);
}

const char* replay_sql = R"SQL(
CREATE TEMP TABLE r_queues (LIKE queuecast.queues);
CREATE TEMP TABLE r_workflows (LIKE queuecast.workflows);
CREATE TEMP TABLE r_phases (LIKE queuecast.phases);
DO $$
DECLARE
    c queuecast.changes;
    tbl text;
    keycol text;
    cur jsonb;
BEGIN
    FOR c IN SELECT * FROM queuecast.changes ORDER BY seq LOOP
        tbl := CASE c.entity WHEN 'phase' THEN 'r_phases' WHEN 'workflow' THEN 'r_workflows' ELSE 'r_queues' END;
        keycol := CASE c.entity WHEN 'queue' THEN 'name' ELSE 'id' END;
        IF c.op = 'TRUNCATE' THEN
            EXECUTE format('TRUNCATE %I', tbl);
            CONTINUE;
        END IF;
        EXECUTE format('SELECT to_jsonb(t) FROM %I t WHERE %I::text = $1', tbl, keycol) INTO cur USING c.key;
        EXECUTE format('DELETE FROM %I WHERE %I::text = $1', tbl, keycol) USING c.key;
        IF c.op <> 'DELETE' THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1)', tbl, tbl)
                USING coalesce(cur, '{}'::jsonb) || c.data::jsonb;
        END IF;
    END LOOP;
END $$;
)SQL";

long long differences(pg_session& db, const std::string& table, const std::string& replica) {
  return db.number("SELECT count(*) FROM ((SELECT to_jsonb(t) FROM queuecast." + table +
                   " t EXCEPT SELECT to_jsonb(r) FROM " + replica +
                   " r) UNION ALL (SELECT to_jsonb(r) FROM " + replica +
                   " r EXCEPT SELECT to_jsonb(t) FROM queuecast." + table + " t)) d");
}

TEST(ordering_invariant, holds_under_random_concurrent_writers) {
  std::uint64_t seed = test_seed();
  std::cout << "invariant_test seed=" << seed << " (QUEUECAST_TEST_SEED to replay)" << std::endl;
  qc_test::create_database(db_name);
  pg_session setup(qc_test::conninfo(db_name));
  pg_session listener(qc_test::conninfo(db_name));
  listener.exec("LISTEN queuecast");
  for (int q = 0; q < 3; ++q)
    setup.exec("SELECT queuecast.create_queue('q" + std::to_string(q) + "')");
  // The setup's bells, before the count starts: the doorbell worker (when
  // the library is preloaded) may ring them some milliseconds later.
  long long setup_last = setup.number("SELECT max(seq) FROM queuecast.changes");
  for (auto until = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < until;) {
    auto batch = listener.notifications(100ms, true);
    if (!batch.empty() &&
        boost::json::parse(batch.back()).as_object().at("last").as_int64() >= setup_last)
      break;
  }
  std::atomic<bool> writers_done{false};
  std::atomic<int> commits{0};
  std::vector<long long> seen;
  std::vector<std::string> notes;
  std::thread poller([&] {
    pg_session reader(qc_test::conninfo(db_name));
    long long last = 0;
    bool final_round = false;
    while (true) {
      for (auto& s : reader.column("SELECT seq FROM queuecast.changes WHERE seq > " +
                                   std::to_string(last) + " ORDER BY seq")) {
        seen.push_back(std::stoll(*s));
        last = seen.back();
      }
      auto batch = listener.notifications(1ms, false);
      notes.insert(notes.end(), batch.begin(), batch.end());
      if (final_round) break;
      final_round = writers_done.load();
    }
    auto rest = listener.notifications(300ms, false);
    notes.insert(notes.end(), rest.begin(), rest.end());
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < writer_count; ++w)
    writers.emplace_back(run_writer, w, seed, std::ref(commits));
  for (auto& w : writers) w.join();
  writers_done = true;
  poller.join();

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

  db.exec(replay_sql);
  EXPECT_EQ(differences(db, "queues", "r_queues"), 0) << "replayed queues differ";
  EXPECT_EQ(differences(db, "workflows", "r_workflows"), 0) << "replayed workflows differ";
  EXPECT_EQ(differences(db, "phases", "r_phases"), 0) << "replayed phases differ";
}

}  // namespace
