// Capture through real commits, the way applications run it. The capture
// trigger only buffers each change; the history rows and the doorbell are
// written at pre-commit, after every deferred trigger has fired, whatever SET
// CONSTRAINTS says. Each test commits, then checks the history rows against
// the statements that ran, their seqs and the one NOTIFY.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "pg_session.hpp"

namespace {

using namespace std::chrono_literals;
using qc_test::pg_session;
namespace json = boost::json;

const std::string db_name = "queuecast_commit_path";
using lines = std::vector<std::string>;

class commit_path_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    qc_test::create_database(db_name);
    pg_session setup(qc_test::conninfo(db_name));
    // A user's deferred check that refuses phases titled 'poison' at commit.
    // Deferred triggers fire before pre-commit: the commit fails before any
    // history is written.
    setup.exec(
        "CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'poison phase %', NEW.id USING ERRCODE = 'check_violation'; END $$");
    setup.exec(
        "CREATE CONSTRAINT TRIGGER zz_refuse_poison AFTER INSERT ON queuecast.phases DEFERRABLE "
        "INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.title = 'poison') EXECUTE FUNCTION "
        "public.refuse_poison()");
  }

  void SetUp() override {
    listener_ = std::make_unique<pg_session>(qc_test::conninfo(db_name));
    writer_ = std::make_unique<pg_session>(qc_test::conninfo(db_name));
    listener_->exec("LISTEN queuecast");
    mark_ = writer_->number("SELECT coalesce(max(seq), 0) FROM queuecast.changes");
  }

  // The history written after SetUp, as "entity op key" in seq order.
  lines history() {
    lines out;
    for (auto& v : writer_->column("SELECT entity || ' ' || op || ' ' || key FROM "
                                   "queuecast.changes WHERE seq > " +
                                   std::to_string(mark_) + " ORDER BY seq"))
      out.push_back(v.value_or("?"));
    return out;
  }

  // History rows the writer's open transaction has written so far.
  long long written_so_far() {
    return writer_->number(
        "SELECT count(*) FROM queuecast.changes WHERE txid = pg_current_xact_id()");
  }

  // The rows after SetUp are one transaction's: contiguous seqs (all are
  // drawn at pre-commit, rolled-back savepoints draw none), one txid and
  // commit time, and exactly one NOTIFY whose first/last/n describe them.
  void expect_one_transaction_and_its_doorbell() {
    long long first = writer_->number("SELECT min(seq) FROM queuecast.changes WHERE seq > " +
                                      std::to_string(mark_));
    long long last = writer_->number("SELECT max(seq) FROM queuecast.changes WHERE seq > " +
                                     std::to_string(mark_));
    long long n = writer_->number("SELECT count(*) FROM queuecast.changes WHERE seq > " +
                                  std::to_string(mark_));
    EXPECT_EQ(last - first + 1, n) << "a transaction's seqs are contiguous";
    EXPECT_EQ(writer_->value("SELECT count(DISTINCT txid) || ' ' || count(DISTINCT committed_at) "
                             "FROM queuecast.changes WHERE seq > " +
                             std::to_string(mark_)),
              "1 1")
        << "one transaction, one commit time";
    auto notes = listener_->notifications(300ms, false);
    ASSERT_EQ(notes.size(), 1u) << "exactly one NOTIFY for the transaction";
    json::object payload = json::parse(notes[0]).as_object();
    EXPECT_EQ(payload.at("first").as_int64(), first) << notes[0];
    EXPECT_EQ(payload.at("last").as_int64(), last) << notes[0];
    EXPECT_EQ(payload.at("n").as_int64(), n) << notes[0];
  }

  std::string insert_phase(const std::string& queue, const std::string& title,
                           const std::string& workflow = "NULL") {
    return writer_->value("INSERT INTO queuecast.phases (queue, workflow_id, title) VALUES ('" +
                          queue + "', " + workflow + ", '" + title + "') RETURNING id");
  }

  std::unique_ptr<pg_session> listener_;
  std::unique_ptr<pg_session> writer_;
  long long mark_ = 0;
};

TEST_F(commit_path_test, a_committed_transaction_is_recorded_at_commit_in_statement_order) {
  writer_->exec("BEGIN");
  writer_->exec("INSERT INTO queuecast.queues (name) VALUES ('c1')");
  std::string wf = writer_->value(
      "INSERT INTO queuecast.workflows (queue, title) VALUES ('c1', 'flow') RETURNING id");
  std::string a = insert_phase("c1", "a", wf);
  writer_->exec("SAVEPOINT kept");
  writer_->exec("UPDATE queuecast.phases SET priority = 5 WHERE id = " + a);
  writer_->exec("UPDATE queuecast.workflows SET status = 'running' WHERE id = " + wf);
  writer_->exec("RELEASE SAVEPOINT kept");
  writer_->exec("SAVEPOINT dropped");
  insert_phase("c1", "dropped");
  writer_->exec("UPDATE queuecast.phases SET priority = 9 WHERE id = " + a);
  writer_->exec("DELETE FROM queuecast.workflows WHERE id = " + wf);  // and phase a (cascade)
  writer_->exec("ROLLBACK TO SAVEPOINT dropped");
  std::string b = insert_phase("c1", "b");
  writer_->exec("UPDATE queuecast.queues SET paused = true WHERE name = 'c1'");
  writer_->exec("DELETE FROM queuecast.phases WHERE id = " + a);
  writer_->exec("UPDATE queuecast.workflows SET status = 'completed' WHERE id = " + wf);
  EXPECT_EQ(written_so_far(), 0) << "history is written at commit, not per statement";
  writer_->exec("COMMIT");

  EXPECT_EQ(history(), lines({"queue INSERT c1", "workflow INSERT " + wf, "phase INSERT " + a,
                              "phase UPDATE " + a, "workflow UPDATE " + wf, "phase INSERT " + b,
                              "queue UPDATE c1", "phase DELETE " + a, "workflow UPDATE " + wf}));
  EXPECT_EQ(writer_->value("SELECT data->>'priority' FROM queuecast.changes WHERE seq > " +
                           std::to_string(mark_) + " AND entity = 'phase' AND op = 'UPDATE'"),
            "5")
      << "the kept savepoint's value, not the rolled-back one's";
  expect_one_transaction_and_its_doorbell();
}

// SET CONSTRAINTS (which ORMs issue) no longer decides when history is
// written or the commit-order lock taken: nothing before COMMIT.
TEST_F(commit_path_test, set_constraints_writes_nothing_and_takes_no_lock_before_commit) {
  writer_->exec("SELECT queuecast.create_queue('c2')");
  listener_->notifications(300ms, false);
  mark_ = writer_->number("SELECT max(seq) FROM queuecast.changes");
  pg_session observer(qc_test::conninfo(db_name));
  auto holders = [&] {
    return observer.number("SELECT count(*) FROM queuecast.commit_order_holder()");
  };

  writer_->exec("BEGIN");
  std::string d1 = insert_phase("c2", "d1");
  writer_->exec("SET CONSTRAINTS ALL IMMEDIATE");
  std::string d2 = insert_phase("c2", "d2");
  EXPECT_EQ(written_so_far(), 0) << "immediate constraints wrote history before COMMIT";
  EXPECT_EQ(holders(), 0) << "immediate constraints took the commit-order lock before COMMIT";
  writer_->exec("SET CONSTRAINTS ALL DEFERRED");
  std::string d3 = insert_phase("c2", "d3");
  writer_->exec("UPDATE queuecast.phases SET priority = 1 WHERE id = " + d1);
  writer_->exec("SET CONSTRAINTS ALL IMMEDIATE");
  writer_->exec("DELETE FROM queuecast.phases WHERE id = " + d2);
  EXPECT_EQ(written_so_far(), 0);
  EXPECT_EQ(holders(), 0);
  writer_->exec("COMMIT");

  EXPECT_EQ(history(), lines({"phase INSERT " + d1, "phase INSERT " + d2, "phase INSERT " + d3,
                              "phase UPDATE " + d1, "phase DELETE " + d2}));
  expect_one_transaction_and_its_doorbell();
}

TEST_F(commit_path_test, a_commit_that_fails_leaves_no_history_and_no_notification) {
  writer_->exec("SELECT queuecast.create_queue('c3')");
  insert_phase("c3", "survivor");
  listener_->notifications(300ms, false);
  mark_ = writer_->number("SELECT max(seq) FROM queuecast.changes");

  writer_->exec("BEGIN");
  writer_->exec("TRUNCATE queuecast.phases");
  insert_phase("c3", "p1");
  writer_->exec("UPDATE queuecast.queues SET paused = true WHERE name = 'c3'");
  insert_phase("c3", "poison");
  std::string message;
  EXPECT_EQ(writer_->exec_sqlstate("COMMIT", &message), "23514");
  EXPECT_NE(message.find("poison phase"), std::string::npos) << message;

  EXPECT_TRUE(history().empty()) << "history of a failed commit";
  EXPECT_TRUE(listener_->notifications(300ms, false).empty()) << "NOTIFY of a failed commit";
  EXPECT_EQ(writer_->value("SELECT string_agg(title, ',') FROM queuecast.phases WHERE queue = "
                           "'c3'"),
            "survivor");

  // The deferred check failed before pre-commit: no seq was drawn and the
  // commit-order lock was never taken; another session commits (or times
  // out) and gets the next seq.
  pg_session other(qc_test::conninfo(db_name));
  other.exec("SET statement_timeout = '5s'");
  std::string after = other.value(
      "INSERT INTO queuecast.phases (queue, title) VALUES ('c3', 'after') RETURNING id");
  EXPECT_EQ(history(), lines({"phase INSERT " + after}));
  EXPECT_EQ(writer_->number("SELECT max(seq) FROM queuecast.changes"), mark_ + 1)
      << "the failed commit drew seqs: history was written before the deferred check ran";
  expect_one_transaction_and_its_doorbell();
}

// A new session loads the library at its first captured change. When that
// happens inside nested savepoints, the buffer has seen no savepoint start:
// it must still cut at the outer savepoint when that is rolled back.
TEST_F(commit_path_test, the_library_loaded_inside_savepoints_still_honours_them) {
  writer_->exec("SELECT queuecast.create_queue('c4')");
  listener_->notifications(300ms, false);
  mark_ = writer_->number("SELECT max(seq) FROM queuecast.changes");

  pg_session fresh(qc_test::conninfo(db_name));
  fresh.exec("BEGIN");
  fresh.exec("SAVEPOINT outer_sp");
  fresh.exec("SAVEPOINT inner_sp");
  fresh.exec("INSERT INTO queuecast.phases (queue, title) VALUES ('c4', 'loaded here')");
  fresh.exec("RELEASE SAVEPOINT inner_sp");
  fresh.exec("INSERT INTO queuecast.phases (queue, title) VALUES ('c4', 'also dropped')");
  fresh.exec("ROLLBACK TO SAVEPOINT outer_sp");
  std::string kept =
      fresh.value("INSERT INTO queuecast.phases (queue, title) VALUES ('c4', 'kept') RETURNING id");
  fresh.exec("COMMIT");

  EXPECT_EQ(history(), lines({"phase INSERT " + kept}));
  expect_one_transaction_and_its_doorbell();
}

}  // namespace
