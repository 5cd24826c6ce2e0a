// TRUNCATE capture through real commits: the TRUNCATE is buffered like any
// row change and written at pre-commit in statement order, savepoints included.
// Each test checks the history against the tables by replaying it.
#include <gtest/gtest.h>

#include "pg_session.hpp"

namespace {

using qc_test::pg_session;

const std::string db_name = "queuecast_truncate";

class truncate_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { qc_test::create_database(db_name); }

  void SetUp() override {
    s_ = std::make_unique<pg_session>(qc_test::conninfo(db_name));
    s_->exec("TRUNCATE queuecast.queues CASCADE");
    s_->exec("SELECT queuecast.create_queue('t')");
    for (int i = 0; i < 3; ++i) s_->exec("SELECT queuecast.enqueue('t', 'before')");
    mark_ = s_->number("SELECT queuecast.current_seq()");
  }

  // The history written after SetUp, as "op entity[ key]" in seq order.
  std::vector<std::string> history() {
    std::vector<std::string> out;
    for (auto& v : s_->column("SELECT op || ' ' || entity || CASE WHEN key = '' THEN '' ELSE ' ' "
                              "|| (data->>'title') END FROM queuecast.changes WHERE seq > " +
                              std::to_string(mark_) + " ORDER BY seq"))
      out.push_back(v.value_or("?"));
    return out;
  }

  long long phases() { return s_->number("SELECT count(*) FROM queuecast.phases"); }

  std::unique_ptr<pg_session> s_;
  long long mark_ = 0;
};

using lines = std::vector<std::string>;

TEST_F(truncate_test, a_transaction_that_only_truncates_writes_one_row) {
  s_->exec("TRUNCATE queuecast.phases");
  EXPECT_EQ(history(), lines({"TRUNCATE phase"}));
  EXPECT_EQ(phases(), 0);
}

TEST_F(truncate_test, truncate_then_insert_is_recorded_in_that_order) {
  s_->exec("BEGIN");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("SELECT queuecast.enqueue('t', 'after')");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"TRUNCATE phase", "INSERT phase after"}));
  EXPECT_EQ(phases(), 1);
}

TEST_F(truncate_test, immediate_insert_then_truncate_is_recorded_in_that_order) {
  s_->exec("BEGIN");
  s_->exec("SET CONSTRAINTS ALL IMMEDIATE");
  s_->exec("SELECT queuecast.enqueue('t', 'gone')");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("SELECT queuecast.enqueue('t', 'after')");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"INSERT phase gone", "TRUNCATE phase", "INSERT phase after"}));
  EXPECT_EQ(phases(), 1);
}

// Capture was deferred before 0.2.0's pre-commit writer: PostgreSQL refused
// this TRUNCATE with "pending trigger events".
TEST_F(truncate_test, insert_then_truncate_without_set_constraints_is_recorded_in_that_order) {
  s_->exec("BEGIN");
  s_->exec("SELECT queuecast.enqueue('t', 'gone')");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("SELECT queuecast.enqueue('t', 'after')");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"INSERT phase gone", "TRUNCATE phase", "INSERT phase after"}));
  EXPECT_EQ(phases(), 1);
}

TEST_F(truncate_test, a_truncate_in_a_rolled_back_savepoint_leaves_no_history) {
  s_->exec("BEGIN");
  s_->exec("SAVEPOINT s");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("ROLLBACK TO SAVEPOINT s");
  s_->exec("SELECT queuecast.enqueue('t', 'kept')");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"INSERT phase kept"}));
  EXPECT_EQ(phases(), 4);
}

TEST_F(truncate_test, a_truncate_in_a_released_savepoint_is_kept) {
  s_->exec("BEGIN");
  s_->exec("SAVEPOINT s");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("RELEASE SAVEPOINT s");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"TRUNCATE phase"}));
}

TEST_F(truncate_test, a_savepoint_rolled_back_after_a_truncate_keeps_the_truncate) {
  // The TRUNCATE runs in the top transaction, then a savepoint buffers a
  // change and is rolled back: the buffer is cut after the TRUNCATE.
  s_->exec("BEGIN");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("SAVEPOINT s");
  s_->exec("SET CONSTRAINTS ALL IMMEDIATE");
  s_->exec("SELECT queuecast.enqueue('t', 'dropped')");
  s_->exec("ROLLBACK TO SAVEPOINT s");
  s_->exec("COMMIT");
  EXPECT_EQ(history(), lines({"TRUNCATE phase"}));
  EXPECT_EQ(phases(), 0);
}

TEST_F(truncate_test, truncate_cascade_records_every_table) {
  s_->exec("TRUNCATE queuecast.queues CASCADE");
  lines got = history();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, lines({"TRUNCATE phase", "TRUNCATE queue", "TRUNCATE workflow"}));
}

TEST_F(truncate_test, an_aborted_truncate_leaves_nothing) {
  s_->exec("BEGIN");
  s_->exec("TRUNCATE queuecast.phases");
  s_->exec("ROLLBACK");
  EXPECT_TRUE(history().empty());
  EXPECT_EQ(phases(), 3);
}

TEST_F(truncate_test, prepare_transaction_after_truncate_is_refused) {
  s_->exec("BEGIN");
  s_->exec("TRUNCATE queuecast.phases");
  EXPECT_EQ(s_->exec_sqlstate("PREPARE TRANSACTION 'qc_truncate'"), "0A000");
  EXPECT_EQ(phases(), 3);
  EXPECT_TRUE(history().empty());
}

}  // namespace
