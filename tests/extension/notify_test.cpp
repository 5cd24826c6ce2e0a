// The NOTIFY doorbell, seen by a real second connection: at most one per
// transaction, never for work that did not commit, and never row data (any
// login role may LISTEN): the seq range, the count and the commit time.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;
namespace json = boost::json;

const std::string db_name = "queuecast_notify";

class notify_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    qc_test::create_database(db_name);
    pg_session setup(qc_test::conninfo(db_name));
    // Listening before the setup's commit, its bell is awaited here: rung by
    // the doorbell worker (library preloaded), it could otherwise arrive
    // after the first test's LISTEN and be taken for that test's bell.
    pg_session listener(qc_test::conninfo(db_name));
    listener.exec("LISTEN queuecast");
    setup.exec("SELECT queuecast.create_queue('n')");
    ASSERT_FALSE(listener.notifications(10s, true).empty()) << "no bell for the setup";
  }

  void SetUp() override {
    listener_ = std::make_unique<pg_session>(qc_test::conninfo(db_name));
    writer_ = std::make_unique<pg_session>(qc_test::conninfo(db_name));
    listener_->exec("LISTEN queuecast");
  }

  // Notifications that arrive within a short while after the writer's work.
  std::vector<std::string> received() { return listener_->notifications(300ms, false); }

  std::unique_ptr<pg_session> listener_;
  std::unique_ptr<pg_session> writer_;
};

// The whole payload, field by field: nothing else may be in it.
void expect_doorbell(const std::string& text, long long first, long long last, long long n) {
  json::object payload = json::parse(text).as_object();
  EXPECT_EQ(payload.size(), 5u) << "expected only v, first, last, n, at in " << text;
  EXPECT_EQ(payload.at("v").as_int64(), 2) << text;
  EXPECT_EQ(payload.at("first").as_int64(), first) << text;
  EXPECT_EQ(payload.at("last").as_int64(), last) << text;
  EXPECT_EQ(payload.at("n").as_int64(), n) << text;
  EXPECT_GT(payload.at("at").as_int64(), 1700000000000000) << "commit time in Unix us: " << text;
}

TEST_F(notify_test, one_notification_per_transaction_with_the_seq_range) {
  writer_->exec("BEGIN");
  for (int i = 0; i < 5; ++i)
    writer_->exec("SELECT queuecast.enqueue('n', 'p" + std::to_string(i) + "')");
  writer_->exec("COMMIT");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u) << "expected exactly one NOTIFY for one transaction";
  long long last = writer_->number("SELECT max(seq) FROM queuecast.changes");
  expect_doorbell(notes[0], last - 4, last, 5);
}

TEST_F(notify_test, the_payload_carries_no_row_data) {
  writer_->exec("SELECT queuecast.enqueue('n', 'title-s3cr3t', '{\"card\": \"s3cr3t\"}')");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].find("s3cr3t"), std::string::npos) << notes[0];
  long long last = writer_->number("SELECT max(seq) FROM queuecast.changes");
  expect_doorbell(notes[0], last, last, 1);
}

TEST_F(notify_test, big_values_keep_the_payload_small) {
  writer_->exec(
      "SELECT queuecast.enqueue('n', repeat('t', 1000000), jsonb_build_object('b', repeat('x', "
      "1000000)))");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_LT(notes[0].size(), 200u);
  long long last = writer_->number("SELECT max(seq) FROM queuecast.changes");
  expect_doorbell(notes[0], last, last, 1);
}

TEST_F(notify_test, a_bulk_update_rings_once_with_the_range) {
  writer_->exec(
      "INSERT INTO queuecast.phases (queue, title) SELECT 'n', 'bulk' FROM generate_series(1, "
      "10000)");
  received();
  writer_->exec("UPDATE queuecast.phases SET priority = priority + 1 WHERE title = 'bulk'");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_LT(notes[0].size(), 8000u);
  json::object payload = json::parse(notes[0]).as_object();
  EXPECT_EQ(payload.at("n").as_int64(), 10000);
  EXPECT_EQ(payload.at("last").as_int64() - payload.at("first").as_int64(), 9999);
}

TEST_F(notify_test, rolled_back_work_rings_nothing) {
  writer_->exec("BEGIN");
  writer_->exec("SELECT queuecast.enqueue('n', 'never')");
  writer_->exec("ROLLBACK");
  writer_->exec("UPDATE queuecast.queues SET paused = paused WHERE name = 'n'");  // changes nothing
  writer_->exec("SELECT count(*) FROM queuecast.phases");  // no change at all
  EXPECT_TRUE(received().empty());
  EXPECT_EQ(
      writer_->number("SELECT count(*) FROM queuecast.changes WHERE data->>'title' = 'never'"), 0);
}

TEST_F(notify_test, a_rolled_back_savepoint_is_left_out_of_the_payload) {
  writer_->exec("BEGIN");
  writer_->exec("SET CONSTRAINTS ALL IMMEDIATE");
  writer_->exec("SELECT queuecast.enqueue('n', 'kept')");
  writer_->exec("SAVEPOINT s");
  writer_->exec("SELECT queuecast.enqueue('n', 'dropped')");
  writer_->exec("ROLLBACK TO SAVEPOINT s");
  writer_->exec("COMMIT");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u);
  long long kept = writer_->number(
      "SELECT seq FROM queuecast.changes WHERE data->>'title' = 'kept' AND op = 'INSERT'");
  expect_doorbell(notes[0], kept, kept, 1);
}

TEST_F(notify_test, the_history_is_visible_when_the_notification_arrives) {
  writer_->exec("SELECT queuecast.enqueue('n', 'visible')");
  auto notes = listener_->notifications(2000ms, true);
  ASSERT_EQ(notes.size(), 1u);
  long long last = json::parse(notes[0]).at("last").as_int64();
  EXPECT_EQ(listener_->number("SELECT count(*) FROM queuecast.changes WHERE seq = " +
                              std::to_string(last)),
            1);
}

TEST_F(notify_test, prepare_transaction_fails_with_a_clear_message) {
  std::string message;
  writer_->exec("BEGIN");
  writer_->exec("SELECT queuecast.enqueue('n', 'prepared')");
  EXPECT_EQ(writer_->exec_sqlstate("PREPARE TRANSACTION 'qc_test'", &message), "0A000");
  EXPECT_NE(message.find("cannot PREPARE a transaction that changed queuecast tables"),
            std::string::npos)
      << message;
  EXPECT_EQ(writer_->number("SELECT count(*) FROM queuecast.phases WHERE title = 'prepared'"), 0);
  EXPECT_TRUE(received().empty());
  EXPECT_EQ(writer_->number("SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'qc_test'"), 0);
  // The refused transaction left nothing in the session: the next one is
  // captured and rings with only its own change.
  writer_->exec("SELECT queuecast.enqueue('n', 'after the refused prepare')");
  auto notes = received();
  ASSERT_EQ(notes.size(), 1u);
  long long last = writer_->number("SELECT max(seq) FROM queuecast.changes");
  EXPECT_EQ(writer_->value("SELECT data->>'title' FROM queuecast.changes WHERE seq = " +
                           std::to_string(last)),
            "after the refused prepare");
  expect_doorbell(notes[0], last, last, 1);
  // A transaction that did not touch queuecast prepares as usual, and
  // committing it rings nothing.
  writer_->exec("BEGIN");
  writer_->exec("SELECT count(*) FROM queuecast.phases");
  writer_->exec("PREPARE TRANSACTION 'qc_plain'");
  EXPECT_EQ(writer_->number("SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'qc_plain'"), 1);
  writer_->exec("COMMIT PREPARED 'qc_plain'");
  EXPECT_TRUE(received().empty());
}

TEST_F(notify_test, foreign_notifications_on_the_channel_do_not_break_capture) {
  writer_->exec("NOTIFY queuecast, 'not json at all'");
  writer_->exec("SELECT queuecast.enqueue('n', 'after garbage')");
  auto notes = received();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0], "not json at all");
  EXPECT_EQ(json::parse(notes[1]).at("n").as_int64(), 1);
}

}  // namespace
