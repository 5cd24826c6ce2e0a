// NOTIFY is a doorbell, the history table is the truth (DESIGN.md, Trust):
// a login role with no grants at all can pg_notify('queuecast', ...), and
// nothing it sends may reach a dashboard, stall one, or stop the daemon. The
// daemon also works as a non-superuser member of queuecast_reader, and says
// it is not ready while a captured table does not record its changes.
#include <gtest/gtest.h>

#include "../../common/sample_rows.hpp"
#include "daemon_fixture.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;

bool extension_has(pg_session& s, const std::string& what) {
  return s.value("SELECT " + what + " IS NOT NULL") == "t";
}

// Waits until /readyz answers `status` (up to `wait`); returns {status, body}.
std::pair<int, std::string> readyz_becomes(int port, int status, std::chrono::seconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto answer = http_get(port, "/readyz");
  while (answer.first != status && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    answer = http_get(port, "/readyz");
  }
  return answer;
}

class doorbell_test : public ::testing::Test {
 protected:
  static constexpr const char* db = "queuecast_doorbell";
  static constexpr const char* queue = "f";

  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    s.exec("SELECT queuecast.create_queue('f')");
    s.exec("SELECT queuecast.enqueue('f', 'one')");
    s.exec("SELECT queuecast.enqueue('f', 'two')");
    // A login role and nothing else: no grants, not a member of any group.
    s.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mallory') THEN "
        "CREATE ROLE mallory LOGIN; END IF; END $$");
    daemon_ = new daemon_process(db);
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }

  void SetUp() override {
    client_ = std::make_unique<ws_client>(daemon_->port());
    client_->send_json({{"type", "subscribe"}, {"topic", "queue:f"}, {"mode", "delta"}});
    auto first = client_->read_until("snapshot", "queue:f");
    ASSERT_TRUE(first) << "no first snapshot";
    last_seq_ = first->at("seq").as_int64();
    ASSERT_EQ(last_seq_, sql_.number("SELECT queuecast.current_seq()"));
    client_->set_timeout(10s);
  }

  // mallory NOTIFYs each payload (one transaction per statement), and we
  // wait until the daemon has taken every notification off its connection.
  void forge(const std::vector<std::string>& payload_sql, int notifications) {
    pg_session mallory(conninfo(db) + " user=mallory");
    ASSERT_EQ(mallory.value("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"), "f");
    double before = metric(daemon_->port(), "queuecast_notifications_total");
    for (const std::string& sql : payload_sql) mallory.exec(sql);
    double seen = before;
    for (int i = 0; i < 200 && seen < before + notifications; ++i) {
      std::this_thread::sleep_for(25ms);
      seen = metric(daemon_->port(), "queuecast_notifications_total");
    }
    ASSERT_GE(seen, before + notifications) << "the daemon did not receive the notifications";
  }

  // A real commit after the forgery: the subscriber's NEXT message must be
  // exactly it (seq chain from the previous real commit), and HTTP must
  // serve SQL's state. A forged change shown, a real one dropped or a
  // reload all fail here.
  void expect_only_the_real_commit_follows(const std::string& title) {
    sql_.exec("SELECT queuecast.enqueue('f', '" + title + "')");
    std::int64_t real_seq = sql_.number("SELECT queuecast.current_seq()");
    auto next = client_->read_json();
    ASSERT_TRUE(next) << "no message after the real commit at seq " << real_seq;
    ASSERT_EQ(next->at("type").as_string(), "delta") << json::serialize(*next);
    EXPECT_EQ(next->at("seq").as_int64(), real_seq) << json::serialize(*next);
    EXPECT_EQ(next->at("prev_seq").as_int64(), last_seq_) << json::serialize(*next);
    const json::array& ops = next->at("ops").as_array();
    ASSERT_EQ(ops.size(), 1u) << json::serialize(*next);
    EXPECT_EQ(ops[0].at("phase").at("title").as_string(), title) << json::serialize(*next);
    EXPECT_EQ(ops[0].at("phase").at("status").as_string(), "queued") << json::serialize(*next);
    last_seq_ = real_seq;

    auto [status, body] = http_get(daemon_->port(), "/api/v1/queues/f");
    ASSERT_EQ(status, 200) << body;
    json::object served = json::parse(body).as_object();
    EXPECT_EQ(served.at("seq").as_int64(), real_seq);
    json::object expected = sql_snapshot(sql_, queue);
    EXPECT_EQ(served.at("phases"), expected.at("phases"));
    EXPECT_EQ(served.at("total"), expected.at("total"));
    EXPECT_EQ(served.at("paused"), expected.at("paused"));

    EXPECT_TRUE(daemon_->alive());
    auto ready = http_get(daemon_->port(), "/readyz");
    EXPECT_EQ(ready.first, 200) << ready.second;
    EXPECT_EQ(metric(daemon_->port(), "queuecast_db_reloads_total"), 0)
        << "a notification must not make the daemon start its clients over";
  }

  // A v1-style payload announcing the next seq with an invented phase.
  std::string forged_v1(std::int64_t phase_id, const std::string& status) {
    std::int64_t next = sql_.number("SELECT queuecast.current_seq()") + 1;
    json::object phase = sample_phase(phase_id, queue, status, 100, nullptr, "forged");
    json::object change{{"seq", next},          {"topic", "queue:f"},
                        {"entity", "phase"},    {"key", std::to_string(phase_id)},
                        {"op", "INSERT"},       {"old_status", nullptr},
                        {"new_status", status}, {"data", phase}};
    return json::serialize(json::object{{"v", 1},
                                        {"first", next},
                                        {"last", next},
                                        {"n", 1},
                                        {"at", 1795612990123456},
                                        {"changes", json::array{change}}});
  }

  static std::string notify(const std::string& payload) {
    return "SELECT pg_notify('queuecast', $qc$" + payload + "$qc$)";
  }

  static daemon_process* daemon_;
  pg_session sql_{conninfo(db)};
  std::unique_ptr<ws_client> client_;
  std::int64_t last_seq_ = 0;
};
daemon_process* doorbell_test::daemon_ = nullptr;

TEST_F(doorbell_test, a_forged_inline_change_never_reaches_a_dashboard) {
  forge({notify(forged_v1(990001, "<img src=x onerror=alert(1)>"))}, 1);
  expect_only_the_real_commit_follows("real after forged v1");
  forge({notify(forged_v1(990002, "running"))}, 1);  // a status that would pass a check
  expect_only_the_real_commit_follows("real after plausible v1");
}

TEST_F(doorbell_test, a_v2_payload_with_a_huge_last_changes_nothing) {
  std::int64_t next = sql_.number("SELECT queuecast.current_seq()") + 1;
  forge({notify(R"({"v":2,"first":)" + std::to_string(next) +
                R"(,"last":9223372036854775807,"n":1,"at":0})")},
        1);
  expect_only_the_real_commit_follows("real after huge last");
}

TEST_F(doorbell_test, garbage_and_an_oversize_payload_change_nothing) {
  forge({notify("}{ not json"), notify("[1,2,3]"), notify(R"({"first":"x"})"),
         "SELECT pg_notify('queuecast', repeat('x', 7999))"},
        4);
  expect_only_the_real_commit_follows("real after garbage");
}

TEST_F(doorbell_test, a_burst_of_forged_notifications_costs_at_most_a_read_each) {
  double reads_before = metric(daemon_->port(), "queuecast_catchup_queries_total");
  std::int64_t next = sql_.number("SELECT queuecast.current_seq()") + 1;
  // 1000 distinct payloads in one transaction (identical ones would be
  // folded into one by PostgreSQL): each a v1 change for the next seq.
  forge({"SELECT pg_notify('queuecast', format('{\"v\":1,\"first\":%s,\"last\":%s,\"n\":1,"
         "\"at\":0,\"changes\":[{\"seq\":%s,\"topic\":\"queue:f\",\"entity\":\"phase\","
         "\"key\":\"%s\",\"op\":\"INSERT\",\"data\":{\"id\":%s,\"queue\":\"f\",\"title\":"
         "\"burst\",\"status\":\"running\",\"priority\":100,\"position\":1}}]}', " +
         std::to_string(next) + ", " + std::to_string(next) + ", " + std::to_string(next) +
         ", 880000 + i, 880000 + i)) FROM generate_series(1, 1000) AS i"},
        1000);
  double reads = metric(daemon_->port(), "queuecast_catchup_queries_total") - reads_before;
  EXPECT_GE(reads, 1) << "a doorbell is answered with a read of the history";
  EXPECT_LE(reads, 1000) << "at most one history read per notification";
  expect_only_the_real_commit_follows("real after burst");
}

// The daemon as documented for production: a login role in queuecast_reader.
TEST(doorbell_roles, the_daemon_works_as_a_non_superuser_reader) {
  const std::string db = "queuecast_reader_role";
  create_database(db);
  pg_session s(conninfo(db));
  if (!extension_has(s, "to_regrole('queuecast_reader')"))
    GTEST_SKIP() << "extension < 0.2.0: no queuecast_reader role";
  s.exec("SELECT queuecast.create_queue('r')");
  s.exec("SELECT queuecast.enqueue('r', 'before')");
  s.exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qc_daemon') THEN "
      "CREATE ROLE qc_daemon LOGIN IN ROLE queuecast_reader; END IF; END $$");
  // daemon_process prefixes "dbname=": the rest of the string is conninfo.
  daemon_process d(db + " user=qc_daemon");
  EXPECT_EQ(s.value("SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE "
                    "application_name LIKE 'queuecastd-%' AND datname = '" +
                    db + "'"),
            "qc_daemon");
  ws_client client(d.port());
  client.send_json({{"type", "subscribe"}, {"topic", "queue:r"}, {"mode", "delta"}});
  auto first = client.read_until("snapshot", "queue:r");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("data").as_object(), sql_snapshot(s, "r"));
  s.exec("SELECT queuecast.enqueue('r', 'after')");
  std::int64_t seq = s.number("SELECT queuecast.current_seq()");
  client.set_timeout(10s);
  auto delta = client.read_until("delta", "queue:r");
  ASSERT_TRUE(delta);
  EXPECT_EQ(delta->at("seq").as_int64(), seq);
  EXPECT_EQ(delta->at("ops").at(0).at("phase").at("title").as_string(), "after");
  json::object served = json::parse(http_get(d.port(), "/api/v1/queues/r").second).as_object();
  served.erase("seq");
  EXPECT_EQ(served, sql_snapshot(s, "r"));
  EXPECT_EQ(http_get(d.port(), "/readyz").first, 200);
  EXPECT_EQ(metric(d.port(), "queuecast_capture_disabled_tables"), 0)
      << "a reader may call capture_status()";
}

// Capture turned off on a captured table: commits there neither reach the
// history nor ring the doorbell, so the daemon must not claim to be ready.
TEST(doorbell_capture, readyz_is_503_while_capture_is_off) {
  const std::string db = "queuecast_capture_off";
  create_database(db);
  pg_session s(conninfo(db));
  if (!extension_has(s, "to_regprocedure('queuecast.capture_status()')"))
    GTEST_SKIP() << "extension < 0.2.0: no capture_status()";
  s.exec("SELECT queuecast.create_queue('c')");
  daemon_process d(db);
  EXPECT_EQ(metric(d.port(), "queuecast_capture_disabled_tables"), 0);
  for (const char* off : {"DISABLE TRIGGER capture", "ENABLE REPLICA TRIGGER capture"}) {
    s.exec(std::string("ALTER TABLE queuecast.phases ") + off);
    auto [status, body] = readyz_becomes(d.port(), 503, 10s);
    EXPECT_EQ(status, 503) << off << ": " << body;
    EXPECT_NE(body.find("queuecast.phases"), std::string::npos) << off << ": " << body;
    EXPECT_EQ(body.find("queuecast.queues"), std::string::npos) << off << ": " << body;
    EXPECT_EQ(metric(d.port(), "queuecast_capture_disabled_tables"), 1) << off;
    s.exec("ALTER TABLE queuecast.phases ENABLE TRIGGER capture");
    auto again = readyz_becomes(d.port(), 200, 10s);
    EXPECT_EQ(again.first, 200) << "after re-enabling (" << off << "): " << again.second;
    EXPECT_EQ(metric(d.port(), "queuecast_capture_disabled_tables"), 0) << off;
  }
  EXPECT_TRUE(d.alive());
}

}  // namespace
