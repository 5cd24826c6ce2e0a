// queuecastd as a real process over real sockets against a real PostgreSQL:
// snapshots equal SQL, every commit reaches the subscribers of its topic and
// no other, seq chains hold under concurrent writers, bulk statements
// converge, compatibility endpoints, bad input, graceful shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "../../common/workload.hpp"
#include "daemon_fixture.hpp"
#include "queue_ops.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;

const std::string db = "queuecast_daemon";

json::object sql_json(pg_session& s, const std::string& sql) {
  return json::parse(s.value(sql)).as_object();
}

json::object without_seq(json::object doc) {
  doc.erase("seq");
  return doc;
}

class daemon_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    for (const char* q : {"q0", "q1", "q2", "default"})
      s.exec(std::string("SELECT queuecast.create_queue('") + q + "')");
    s.exec("SELECT queuecast.enqueue('q0', 'first')");
    daemon_ = new daemon_process(db);
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  static daemon_process* daemon_;
  pg_session sql_{conninfo(db)};
};
daemon_process* daemon_test::daemon_ = nullptr;

TEST_F(daemon_test, snapshot_on_connect_equals_sql) {
  ws_client client(daemon_->port());
  client.send_json({{"type", "subscribe"}, {"topic", "queue:q0"}});
  auto subscribed = client.read_until("subscribed");
  ASSERT_TRUE(subscribed);
  EXPECT_FALSE(subscribed->at("resumed").as_bool());
  auto snapshot = client.read_until("snapshot");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->at("data").as_object(),
            without_seq(sql_json(sql_, "SELECT queuecast.snapshot('q0')")));
}

TEST_F(daemon_test, http_snapshot_equals_sql_after_a_random_workload) {
  std::mt19937_64 rng(7);
  std::atomic<int> commits{0};
  for (int i = 0; i < 150; ++i) run_transaction(sql_, rng, 0, commits);
  ASSERT_TRUE(caught_up(daemon_->port(), sql_));
  for (const char* q : {"q0", "q1", "q2"}) {
    auto [status, body] = http_get(daemon_->port(), std::string("/api/v1/queues/") + q);
    ASSERT_EQ(status, 200);
    EXPECT_EQ(json::parse(body).as_object(),
              sql_json(sql_, std::string("SELECT queuecast.snapshot('") + q + "')"))
        << "queue " << q;
  }
  auto [status, body] = http_get(daemon_->port(), "/api/v1/workflows");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(json::parse(body).as_object(), sql_json(sql_, "SELECT queuecast.workflows_snapshot()"));
  EXPECT_EQ(http_get(daemon_->port(), "/api/v1/queues/none").first, 404);
  auto queues =
      json::parse(http_get(daemon_->port(), "/api/v1/queues").second).at("queues").as_array();
  EXPECT_EQ(queues.size(),
            static_cast<std::size_t>(sql_.number("SELECT count(*) FROM queuecast.queues")));
}

TEST_F(daemon_test, a_commit_reaches_its_topic_and_no_other) {
  ws_client on_q1(daemon_->port()), on_q2(daemon_->port());
  on_q1.send_json({{"type", "subscribe"}, {"topic", "queue:q1"}, {"mode", "delta"}});
  on_q2.send_json({{"type", "subscribe"}, {"topic", "queue:q2"}, {"mode", "delta"}});
  ASSERT_TRUE(on_q1.read_until("snapshot"));
  auto q2_snapshot = on_q2.read_until("snapshot");
  ASSERT_TRUE(q2_snapshot);
  sql_.exec("SELECT queuecast.enqueue('q1', 'for q1 only')");
  auto delta = on_q1.read_until("delta");
  ASSERT_TRUE(delta);
  EXPECT_EQ(delta->at("ops").as_array()[0].at("phase").at("title").as_string(), "for q1 only");
  // The barrier: a later commit on q2. Delivery is in seq order, so once it
  // has arrived, q1's change would have arrived before it; the very next
  // message must be q2's own, chained to its snapshot.
  sql_.exec("SELECT queuecast.enqueue('q2', 'marker for q2')");
  auto next = on_q2.read_json();
  ASSERT_TRUE(next) << "the marker commit on q2 did not arrive";
  ASSERT_EQ(next->at("type").as_string(), "delta")
      << "q2's subscriber got something before its own change: " << json::serialize(*next);
  EXPECT_EQ(next->at("topic").as_string(), "queue:q2") << json::serialize(*next);
  EXPECT_EQ(next->at("prev_seq").as_int64(), q2_snapshot->at("seq").as_int64())
      << "q2's chain must go straight from its snapshot to its own change";
  const json::array& ops = next->at("ops").as_array();
  ASSERT_EQ(ops.size(), 1u) << json::serialize(*next);
  EXPECT_EQ(ops[0].at("phase").at("title").as_string(), "marker for q2");
}

// --max-subscriptions bounds the topics of one connection, exactly: N
// existing topics are accepted, the N+1-th is refused with
// too_many_subscriptions (and really not subscribed), a refused unknown
// topic takes no slot, and unsubscribing gives one back.
TEST_F(daemon_test, max_subscriptions_bounds_the_topics_of_a_connection) {
  daemon_process bounded(db, {"--max-subscriptions", "3"});
  ASSERT_TRUE(caught_up(bounded.port(), sql_));
  ws_client client(bounded.port());
  ASSERT_TRUE(client.read_until("welcome"));
  // The next message must be the answer to this subscribe: a subscribed
  // (then its snapshot), or an error with `code`.
  auto subscribe = [&](const std::string& topic, const std::string& code) {
    client.send_json({{"type", "subscribe"}, {"topic", topic}, {"mode", "delta"}});
    auto reply = client.read_json();
    if (!reply) return ::testing::AssertionFailure() << topic << ": no answer";
    std::string type(reply->at("type").as_string());
    std::string got = type == "error" ? std::string(reply->at("code").as_string()) : type;
    if (got != code)
      return ::testing::AssertionFailure()
             << topic << ": expected " << code << ", got " << json::serialize(*reply);
    if (type == "subscribed" && !client.read_until("snapshot", topic))
      return ::testing::AssertionFailure() << topic << ": no snapshot after subscribed";
    return ::testing::AssertionSuccess();
  };
  ASSERT_TRUE(subscribe("queue:q0", "subscribed"));
  ASSERT_TRUE(subscribe("queue:q1", "subscribed"));
  ASSERT_TRUE(subscribe("queue:nope", "unknown_topic"));
  ASSERT_TRUE(subscribe("queue:q2", "subscribed")) << "an unknown topic must not take a slot";
  ASSERT_TRUE(subscribe("queue:default", "too_many_subscriptions"));
  // Subscribing again to a topic it holds replaces it; it is not a 4th.
  ASSERT_TRUE(subscribe("queue:q1", "subscribed"));

  // The refused topic is not subscribed: a commit on it, then a marker on
  // q0 (delivered in seq order after it): the next message is q0's.
  sql_.exec("SELECT queuecast.enqueue('default', 'not for a refused subscription')");
  sql_.exec("SELECT queuecast.enqueue('q0', 'marker after the refused topic')");
  auto next = client.read_json();
  ASSERT_TRUE(next) << "the marker commit on q0 did not arrive";
  EXPECT_EQ(next->at("topic").as_string(), "queue:q0") << json::serialize(*next);
  EXPECT_EQ(next->at("type").as_string(), "delta") << json::serialize(*next);

  client.send_json({{"type", "unsubscribe"}, {"topic", "queue:q0"}});
  auto unsubscribed = client.read_json();
  ASSERT_TRUE(unsubscribed);
  EXPECT_EQ(unsubscribed->at("type").as_string(), "unsubscribed") << json::serialize(*unsubscribed);
  ASSERT_TRUE(subscribe("queue:default", "subscribed")) << "unsubscribing must free a slot";
  ASSERT_TRUE(subscribe("queue:q0", "too_many_subscriptions")) << "and only one";
}

TEST_F(daemon_test, seq_chain_holds_under_concurrent_writers_and_bulk_updates) {
  ws_client client(daemon_->port());
  client.send_json({{"type", "subscribe"}, {"topic", "queue:q0"}, {"mode", "delta"}});
  ASSERT_TRUE(client.read_until("subscribed"));
  auto first = client.read_until("snapshot");
  ASSERT_TRUE(first);
  json::object state = first->at("data").as_object();
  std::int64_t last = first->at("seq").as_int64();
  std::vector<std::thread> writers;
  std::atomic<int> commits{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      pg_session s(conninfo(db));
      std::mt19937_64 rng(100 + w);
      for (int i = 0; i < 60; ++i) run_transaction(s, rng, w, commits);
    });
  }
  for (auto& w : writers) w.join();
  sql_.exec(
      "INSERT INTO queuecast.phases (queue, title) SELECT 'q0', 'bulk' FROM generate_series(1, "
      "10000)");
  sql_.exec("UPDATE queuecast.phases SET priority = priority + 1 WHERE queue = 'q0'");
  json::object expected = without_seq(sql_json(sql_, "SELECT queuecast.snapshot('q0')"));
  auto target = sql_.number("SELECT max(seq) FROM queuecast.changes WHERE topic = 'queue:q0'");
  // Two 10 000-row statements: a sanitized daemon (tests/sanitize) on a
  // busy machine took more than the default 5 s to read and send them.
  // This test is about the chain, not about speed.
  client.set_timeout(std::chrono::seconds(30));
  while (last < target) {
    auto message = client.read_json();
    ASSERT_TRUE(message) << "stream stopped at seq " << last << " before " << target;
    std::string type(message->at("type").as_string());
    if (type != "delta" && type != "snapshot") continue;
    ASSERT_EQ(message->at("prev_seq").as_int64(), last) << "gap or duplicate in the seq chain";
    ASSERT_GT(message->at("seq").as_int64(), last);
    if (type == "delta") {
      apply_ops(state, message->at("ops").as_array());
    } else {
      state = message->at("data").as_object();
    }
    last = message->at("seq").as_int64();
  }
  EXPECT_EQ(state.at("total"), expected.at("total"));
  EXPECT_EQ(state.at("paused"), expected.at("paused"));
  EXPECT_EQ(by_id(state.at("phases").as_array()), by_id(expected.at("phases").as_array()))
      << "deltas must rebuild the state SQL has";
}

TEST_F(daemon_test, compat_endpoint_speaks_queue_update_and_text_ping) {
  ws_client client(daemon_->port(), "/api/v1/ws/queue?queue=default");
  auto first = client.read_json();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("type").as_string(), "queue_update");
  EXPECT_EQ(first->at("data").as_object(),
            without_seq(sql_json(sql_, "SELECT queuecast.snapshot('default')")));
  sql_.exec("SELECT queuecast.pause('default')");
  auto update = client.read_json();
  ASSERT_TRUE(update);
  EXPECT_TRUE(update->at("data").at("paused").as_bool()) << "pause shows at once";
  client.send_text("ping");
  EXPECT_EQ(client.read_text(), "pong");
  ws_client legacy(daemon_->port(), "/ws/queue?queue=default");
  auto legacy_first = legacy.read_json();
  ASSERT_TRUE(legacy_first) << "nothing on the legacy path";
  EXPECT_EQ(legacy_first->at("type").as_string(), "queue_update");
}

TEST_F(daemon_test, workflow_subscribers_get_job_events) {
  sql_.exec("SELECT queuecast.create_queue('events')");
  std::int64_t wf =
      sql_.number("SELECT queuecast.create_workflow('events', 'events', ARRAY['one'])");
  ASSERT_TRUE(caught_up(daemon_->port(), sql_));
  ws_client client(daemon_->port(), "/ws/workflow?id=" + std::to_string(wf));
  sql_.exec("SELECT queuecast.claim('events', 'w')");
  auto started = client.read_until("phase_started");
  ASSERT_TRUE(started);
  EXPECT_EQ(started->at("workflow").at("id").as_int64(), wf);
  EXPECT_TRUE(started->contains("timestamp"));
}

// The jobs endpoint of ORIGIN.md: one event per phase change of the queue,
// each with the queue's counts after it, and stats_updated for what changes
// no phase (a removal, a pause). Every count is checked against SQL.
TEST_F(daemon_test, jobs_endpoint_sends_one_event_per_phase_change_with_the_stats) {
  sql_.exec("SELECT queuecast.create_queue('jobs')");
  sql_.exec("SELECT queuecast.enqueue('jobs', 'before')");
  ASSERT_TRUE(caught_up(daemon_->port(), sql_));
  ws_client client(daemon_->port(), "/api/ws/jobs?queue=jobs");
  auto count = [&](const std::string& status) {
    return sql_.number("SELECT count(*) FROM queuecast.phases WHERE queue = 'jobs' AND status = '" +
                       status + "'");
  };
  auto expect_stats = [&](const json::object& message) {
    const json::object& stats = message.at("stats").as_object();
    for (const char* status : {"queued", "running", "completed", "failed", "cancelled"})
      EXPECT_EQ(stats.at(status).as_int64(), count(status)) << status << " in " << message;
    EXPECT_EQ(stats.at("total").as_int64(),
              sql_.number("SELECT count(*) FROM queuecast.phases WHERE queue = 'jobs'"));
    EXPECT_TRUE(message.at("timestamp").is_string());
  };
  auto next = [&](const std::string& type) {
    auto message = client.read_json();
    if (!message) throw std::runtime_error("no " + type);
    EXPECT_EQ(message->at("type").as_string(), type) << json::serialize(*message);
    return *message;
  };

  json::object first = next("stats_updated");
  ASSERT_EQ(first.at("jobs").as_array().size(), 1u) << "the queue's jobs on connect";
  expect_stats(first);

  std::int64_t a = sql_.number("SELECT queuecast.enqueue('jobs', 'a')");
  json::object created = next("job_created");
  EXPECT_EQ(created.at("job").at("id").as_int64(), a);
  EXPECT_EQ(created.at("job").at("title").as_string(), "a");
  expect_stats(created);
  sql_.exec("SELECT queuecast.claim('jobs', 'w1')");  // the oldest: 'before'
  expect_stats(next("job_started"));
  sql_.exec("SELECT queuecast.complete(id) FROM queuecast.phases WHERE title = 'before'");
  expect_stats(next("job_completed"));
  sql_.exec("SELECT queuecast.claim('jobs', 'w2')");
  next("job_started");
  sql_.exec("SELECT queuecast.fail(" + std::to_string(a) + ", 'boom')");
  json::object failed = next("job_failed");
  EXPECT_EQ(failed.at("job").at("error").as_string(), "boom");
  expect_stats(failed);
  sql_.exec("UPDATE queuecast.phases SET title = 'renamed' WHERE id = " + std::to_string(a));
  expect_stats(next("job_updated"));
  sql_.exec("DELETE FROM queuecast.phases WHERE id = " + std::to_string(a));
  expect_stats(next("stats_updated"));
  sql_.exec("SELECT queuecast.pause('jobs')");
  EXPECT_TRUE(next("stats_updated").at("stats").at("paused").as_bool());
  sql_.exec("SELECT queuecast.resume('jobs')");
  EXPECT_FALSE(next("stats_updated").at("stats").at("paused").as_bool());

  // A queue that does not exist: an error, as on the queue endpoint.
  ws_client missing(daemon_->port(), "/api/ws/jobs?queue=no-such-queue");
  auto error = missing.read_json();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->at("code").as_string(), "unknown_topic");
  // Another queue's changes are not this endpoint's.
  sql_.exec("SELECT queuecast.enqueue('default', 'elsewhere')");
  sql_.exec("SELECT queuecast.enqueue('jobs', 'marker')");
  EXPECT_EQ(next("job_created").at("job").at("title").as_string(), "marker");
}

TEST_F(daemon_test, bad_input_gets_errors_and_disturbs_no_one) {
  ws_client bystander(daemon_->port());
  bystander.send_json({{"type", "subscribe"}, {"topic", "queue:q1"}, {"mode", "delta"}});
  ASSERT_TRUE(bystander.read_until("snapshot"));

  ws_client bad(daemon_->port());
  auto error_code = [&](const std::string& text) {
    bad.send_text(text);
    auto reply = bad.read_until("error");
    return reply ? std::string(reply->at("code").as_string()) : std::string("no error");
  };
  EXPECT_EQ(error_code("{oops"), "bad_json");
  EXPECT_EQ(error_code(R"({"type":"explode"})"), "unknown_type");
  EXPECT_EQ(error_code(R"({"type":"subscribe","topic":"queue:nope"})"), "unknown_topic");
  EXPECT_EQ(error_code(R"({"type":"subscribe","topic":"tables"})"), "unknown_topic");
  EXPECT_EQ(error_code(R"({"type":"unsubscribe","topic":"queue:q2"})"), "not_subscribed");
  bad.send_binary("\x01\x02");
  auto binary = bad.read_until("error");
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->at("code").as_string(), "binary_frame");
  // A flood of 150 subscribes at once, more than the burst of 100 messages
  // the rate limit allows: each gets exactly one error, unknown_topic while
  // the burst lasts, rate_limited after it, and the connection stays open.
  constexpr int flood = 150;
  for (int i = 0; i < flood; ++i) {
    bad.send_json({{"type", "subscribe"}, {"topic", "workflow:" + std::to_string(900000 + i)}});
  }
  std::map<std::string, int> codes;
  for (int i = 0; i < flood; ++i) {
    auto reply = bad.read_json();
    ASSERT_TRUE(reply) << "no answer to subscribe " << i << " of the flood";
    ASSERT_EQ(reply->at("type").as_string(), "error") << json::serialize(*reply);
    codes[std::string(reply->at("code").as_string())]++;
  }
  EXPECT_GT(codes["unknown_topic"], 0);
  EXPECT_GT(codes["rate_limited"], 0) << "150 messages at once exceed the burst of 100";
  EXPECT_EQ(codes["unknown_topic"] + codes["rate_limited"], flood);
  EXPECT_TRUE(bad.is_open());
  // Someone else's garbage on our channel.
  sql_.exec("NOTIFY queuecast, 'this is not ours'");
  sql_.exec("NOTIFY queuecast, '{\"v\":1,\"first\":-5}'");
  // A 10 MB frame: the connection is closed with 1009, the daemon lives on.
  // The frame header announces 10 MB; the daemon refuses it from the header.
  ws_client huge(daemon_->port());
  ASSERT_TRUE(huge.read_until("welcome"));
  std::string header = {
      '\x81', static_cast<char>(0x80 | 127), 0, 0, 0, 0, 0, static_cast<char>(0xa0), 0, 0, 1, 2, 3,
      4};
  huge.send_raw(header + std::string(4096, 'x'));
  EXPECT_FALSE(huge.read_text());
  EXPECT_EQ(huge.close_code(), 1009) << huge.error().message();

  sql_.exec("SELECT queuecast.enqueue('q1', 'still flowing')");
  auto delta = bystander.read_until("delta");
  ASSERT_TRUE(delta) << "the bystander must keep receiving";
  EXPECT_EQ(delta->at("ops").as_array()[0].at("phase").at("title").as_string(), "still flowing");
  EXPECT_TRUE(daemon_->alive());
  EXPECT_EQ(http_get(daemon_->port(), "/healthz").first, 200);
}

// The daemon reads a client message in pieces that grow (ws_session's
// reader keeps no read buffer between messages): a message many times the
// first piece, in three frames with a control frame between them, arrives
// whole, and the next message is read on its own.
TEST_F(daemon_test, a_long_message_in_several_frames_is_read_whole) {
  ws_client client(daemon_->port());
  ASSERT_TRUE(client.read_until("welcome"));
  std::string id(5000, 'x');  // a ping's id is any JSON value, echoed in its pong
  std::string message = R"({"type":"ping","id":")" + id + R"("})";
  // A masked client frame with a zero key (the payload goes as it is) and a
  // 16-bit length.
  auto frame = [](char first_byte, const std::string& payload) {
    std::string f = {first_byte, static_cast<char>(0x80 | 126)};
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
    return f + std::string(4, '\0') + payload;
  };
  std::size_t third = message.size() / 3;
  client.send_raw(frame('\x01', message.substr(0, third)));      // text, more to come
  client.send_raw(std::string{'\x89', '\x80', 0, 0, 0, 0});      // a WebSocket ping
  client.send_raw(frame('\x00', message.substr(third, third)));  // continuation
  client.send_raw(frame('\x80', message.substr(2 * third)));     // continuation, final
  auto pong = client.read_until("pong");
  ASSERT_TRUE(pong) << client.error().message();
  EXPECT_EQ(pong->at("id").as_string(), id);
  client.send_json({{"type", "ping"}, {"id", 7}});
  auto next = client.read_until("pong");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->at("id").as_int64(), 7);
}

TEST_F(daemon_test, ping_pong_and_metrics) {
  ws_client client(daemon_->port());
  client.send_json({{"type", "ping"}, {"id", 42}});
  auto pong = client.read_until("pong");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->at("id").as_int64(), 42);
  auto [status, body] = http_get(daemon_->port(), "/metrics");
  EXPECT_EQ(status, 200);
  for (const char* name :
       {"queuecast_connections_open", "queuecast_messages_sent_total",
        "queuecast_db_reconnects_total", "queuecast_commit_to_send_seconds_bucket",
        "queuecast_notify_queue_usage", "queuecast_notifications_total",
        "queuecast_capture_disabled_tables"}) {
    EXPECT_NE(body.find(name), std::string::npos) << name;
  }
}

TEST(daemon_lifecycle, sigterm_sends_going_away_and_exits_zero) {
  create_database("queuecast_lifecycle");
  daemon_process d("queuecast_lifecycle");
  ws_client client(d.port());
  ASSERT_TRUE(client.read_until("welcome"));
  EXPECT_EQ(d.terminate(), 0);
  EXPECT_FALSE(client.read_text());
  EXPECT_EQ(client.close_code(), 1001);
}

}  // namespace
