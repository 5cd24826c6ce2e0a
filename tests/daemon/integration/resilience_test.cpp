// A database that changes under the daemon (issue 4): history pruned past
// its position while it was cut off, the extension dropped and re-created,
// history that went backwards (a restored backup), a deleted queue. Each
// must end with subscribers holding SQL's state after an explicit fresh
// start (or a topic_deleted), never a silently wrong state.
#include <gtest/gtest.h>

#include "daemon_fixture.hpp"
#include "queue_ops.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;

// Subscribes in delta mode and returns the client after its first snapshot.
std::unique_ptr<ws_client> subscribed_client(int port, const std::string& topic) {
  auto client = std::make_unique<ws_client>(port);
  client->send_json({{"type", "subscribe"}, {"topic", topic}, {"mode", "delta"}});
  if (!client->read_until("snapshot", topic)) throw std::runtime_error("no first snapshot");
  client->set_timeout(std::chrono::seconds(20));
  return client;
}

// The next fresh start the daemon sends: `subscribed` with resumed false.
// `seq`, when given, gets the fresh snapshot's seq.
std::string expect_fresh_start(ws_client& client, json::object& snapshot,
                               std::int64_t* seq = nullptr) {
  auto subscribed = client.read_until("subscribed");
  if (!subscribed) return "no subscribed message";
  if (subscribed->at("resumed").as_bool()) return "resumed, expected a fresh start";
  auto fresh = client.read_until("snapshot");
  if (!fresh) return "no snapshot after subscribed";
  if (fresh->contains("prev_seq")) return "a fresh snapshot must not carry prev_seq";
  snapshot = fresh->at("data").as_object();
  if (seq) *seq = fresh->at("seq").as_int64();
  return std::string(
      subscribed->if_contains("reason") ? subscribed->at("reason").as_string().c_str() : "");
}

// The newest seq of `topic` in SQL's history.
std::int64_t topic_seq(pg_session& s, const std::string& topic) {
  return s.number("SELECT coalesce(max(seq), 0) FROM queuecast.changes WHERE topic = '" + topic +
                  "'");
}

// Reads `client`'s stream from (state, seq) until it reaches the newest seq
// SQL has for `topic`, applying each delta; every delta and in-chain
// snapshot must continue the chain (prev_seq = the seq before it), a fresh
// start (a snapshot without prev_seq, after `subscribed`) restarts it. Then
// the state must equal queuecast.snapshot(queue).
::testing::AssertionResult follows_to_sql(ws_client& client, json::object state, std::int64_t seq,
                                          pg_session& s, const std::string& queue) {
  const std::string topic = "queue:" + queue;
  std::int64_t target = topic_seq(s, topic);
  while (seq < target) {
    auto message = client.read_json();
    if (!message)
      return ::testing::AssertionFailure() << "the stream stopped at seq " << seq << " before "
                                           << target << " (" << client.error().message() << ")";
    std::string type(message->at("type").as_string());
    if (type != "delta" && type != "snapshot") continue;
    if (type == "snapshot" && !message->contains("prev_seq")) {
      state = message->at("data").as_object();  // a fresh start
    } else {
      if (message->at("prev_seq").as_int64() != seq)
        return ::testing::AssertionFailure()
               << "gap or duplicate: prev_seq " << message->at("prev_seq").as_int64()
               << " after seq " << seq << ": " << json::serialize(*message);
      if (type == "delta")
        apply_ops(state, message->at("ops").as_array());
      else
        state = message->at("data").as_object();
    }
    seq = message->at("seq").as_int64();
  }
  if (seq != target)
    return ::testing::AssertionFailure() << "went past SQL's seq " << target << " to " << seq;
  json::object expected = sql_snapshot(s, queue);
  if (state.at("paused") != expected.at("paused") || state.at("total") != expected.at("total") ||
      by_id(state.at("phases").as_array()) != by_id(expected.at("phases").as_array())) {
    // The documents can hold megabytes of titles: their starts say enough.
    auto start = [](const json::object& doc) { return json::serialize(doc).substr(0, 1000); };
    return ::testing::AssertionFailure() << "the client's state at seq " << seq
                                         << " differs from SQL's:\n  client: " << start(state)
                                         << "\n  SQL:    " << start(expected);
  }
  return ::testing::AssertionSuccess();
}

void terminate_daemon_connections(pg_session& s, const std::string& db) {
  s.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db +
         "' AND application_name LIKE 'queuecastd-%'");
}

// A fresh database with one queue holding `phases` phases, and a session on it.
std::string database_with_queue(const std::string& db, const std::string& queue, int phases) {
  create_database(db);
  pg_session s(conninfo(db));
  s.exec("SELECT queuecast.create_queue('" + queue + "')");
  for (int i = 0; i < phases; ++i)
    s.exec("SELECT queuecast.enqueue('" + queue + "', 'p" + std::to_string(i) + "')");
  return db;
}

TEST(resilience, history_pruned_past_a_cut_off_daemon_starts_clients_over) {
  const std::string db = database_with_queue("queuecast_prune", "p", 1);
  pg_session s(conninfo(db));
  daemon_process d(db);
  auto client = subscribed_client(d.port(), "queue:p");
  d.freeze();
  terminate_daemon_connections(s, db);
  for (const char* title : {"b", "c"})
    s.exec(std::string("SELECT queuecast.enqueue('p', '") + title + "')");
  s.exec("SELECT queuecast.prune('0 seconds', 1)");
  s.exec("SELECT queuecast.enqueue('p', 'd')");
  d.thaw();
  json::object snapshot;
  std::string reason = expect_fresh_start(*client, snapshot);
  EXPECT_NE(reason.find("pruned"), std::string::npos) << reason;
  EXPECT_EQ(snapshot, sql_snapshot(s, "p"));
}

TEST(resilience, a_recreated_extension_starts_clients_over) {
  const std::string db = database_with_queue("queuecast_recreate", "r", 5);
  pg_session s(conninfo(db));
  daemon_process d(db);
  auto client = subscribed_client(d.port(), "queue:r");
  s.exec("DROP EXTENSION queuecast");
  s.exec("CREATE EXTENSION queuecast");
  s.exec("SELECT queuecast.create_queue('r')");
  for (int i = 0; i < 9; ++i)
    s.exec("SELECT queuecast.enqueue('r', 'new')");  // seq passes the old one
  json::object snapshot;
  std::int64_t seq = 0;
  std::string reason = expect_fresh_start(*client, snapshot, &seq);
  // Noticed either by identity (replaced) or because seq went back,
  // depending on which comes first; both start clients over.
  EXPECT_TRUE(reason.find("replaced") != std::string::npos ||
              reason.find("went back") != std::string::npos)
      << reason;
  // The fresh start may come before all 9 commits: the subscriber catches
  // up with the new history through its chain, and so does HTTP.
  EXPECT_TRUE(follows_to_sql(*client, snapshot, seq, s, "r"));
  ASSERT_TRUE(caught_up(d.port(), s));
  json::object served = json::parse(http_get(d.port(), "/api/v1/queues/r").second).as_object();
  served.erase("seq");
  EXPECT_EQ(served, sql_snapshot(s, "r"));
}

TEST(resilience, history_that_went_backwards_starts_clients_over) {
  const std::string db = database_with_queue("queuecast_backwards", "w", 4);
  pg_session s(conninfo(db));
  daemon_process d(db);
  auto client = subscribed_client(d.port(), "queue:w");
  // What a restored backup looks like from here: the newest history is gone.
  s.exec(
      "BEGIN; ALTER TABLE queuecast.phases DISABLE TRIGGER capture; "
      "DELETE FROM queuecast.phases WHERE id > 2; DELETE FROM queuecast.changes WHERE seq > 3; "
      "ALTER TABLE queuecast.phases ENABLE TRIGGER capture; COMMIT");
  json::object snapshot;
  std::string reason = expect_fresh_start(*client, snapshot);
  EXPECT_NE(reason.find("went back"), std::string::npos) << reason;
  EXPECT_EQ(snapshot, sql_snapshot(s, "w"));
}

// Reconnects with `since` and checks the daemon resumed (no fresh snapshot)
// with ops that rebuild SQL's state from the client's old one.
void expect_resumed(int port, const std::string& topic, json::object state, std::int64_t since,
                    const json::object& expected, std::int64_t expected_seq) {
  ws_client client(port);
  client.send_json({{"type", "subscribe"}, {"topic", topic}, {"mode", "delta"}, {"since", since}});
  auto subscribed = client.read_until("subscribed");
  ASSERT_TRUE(subscribed);
  ASSERT_TRUE(subscribed->at("resumed").as_bool()) << json::serialize(*subscribed);
  EXPECT_EQ(subscribed->at("seq").as_int64(), since);
  auto delta = client.read_until("delta");
  ASSERT_TRUE(delta);
  EXPECT_EQ(delta->at("prev_seq").as_int64(), since);
  // One delta for all that was missed (the caller waited until the daemon
  // had applied every commit): it ends at SQL's newest change of the topic.
  EXPECT_EQ(delta->at("seq").as_int64(), expected_seq);
  apply_ops(state, delta->at("ops").as_array());
  EXPECT_EQ(state.at("paused"), expected.at("paused"));
  EXPECT_EQ(state.at("total"), expected.at("total"));
  EXPECT_EQ(by_id(state.at("phases").as_array()), by_id(expected.at("phases").as_array()));
}

TEST(resilience, resume_beyond_the_window_and_after_a_restart_replays_from_history) {
  const std::string db = database_with_queue("queuecast_replay", "x", 3);
  pg_session s(conninfo(db));
  s.exec("SELECT queuecast.create_queue('y')");
  auto d = std::make_unique<daemon_process>(db, std::vector<std::string>{"--window", "2"});
  json::object state;
  std::int64_t since = 0;
  {
    ws_client client(d->port());
    client.send_json({{"type", "subscribe"}, {"topic", "queue:x"}, {"mode", "delta"}});
    auto first = client.read_until("snapshot");
    ASSERT_TRUE(first);
    state = first->at("data").as_object();
    since = first->at("seq").as_int64();
  }
  // More changes than the window holds: claims, a completion, a delete, a
  // phase moved to another queue, a pause.
  s.exec("SELECT queuecast.enqueue('x', 'after', '{}', 5)");
  s.exec("SELECT queuecast.claim('x', 'w')");
  s.exec("SELECT queuecast.complete(id) FROM queuecast.claim('x', 'w')");
  s.exec(
      "DELETE FROM queuecast.phases WHERE id = (SELECT min(id) FROM queuecast.phases WHERE status "
      "= 'queued')");
  s.exec(
      "UPDATE queuecast.phases SET queue = 'y' WHERE id = (SELECT max(id) FROM queuecast.phases "
      "WHERE queue = 'x' AND status = 'queued')");
  s.exec("SELECT queuecast.pause('x')");
  ASSERT_TRUE(caught_up(d->port(), s));
  json::object expected = sql_snapshot(s, "x");
  std::int64_t expected_seq = topic_seq(s, "queue:x");
  expect_resumed(d->port(), "queue:x", state, since, expected, expected_seq);
  // A restarted daemon has an empty window: it replays from history too.
  d.reset();
  d = std::make_unique<daemon_process>(db);
  ASSERT_TRUE(caught_up(d->port(), s));
  expect_resumed(d->port(), "queue:x", state, since, expected, expected_seq);
}

TEST(resilience, a_delta_client_that_falls_behind_is_closed_with_4001_and_resumes) {
  const std::string db = database_with_queue("queuecast_slow", "s", 0);
  pg_session s(conninfo(db));
  daemon_process d(db, {"--max-queue", "8"});
  ws_client stalled(d.port());
  stalled.send_json({{"type", "subscribe"}, {"topic", "queue:s"}, {"mode", "delta"}});
  auto first = stalled.read_until("snapshot");
  ASSERT_TRUE(first);
  // The client's state, kept from what it did read before it was closed.
  json::object state = first->at("data").as_object();
  std::int64_t last = first->at("seq").as_int64();
  // 100 KB titles: far more than the socket buffers hold, so frames pile up
  // in the daemon while the client does not read. Each commit is applied
  // before the next: a daemon slower than the commits (under a sanitizer)
  // would otherwise answer many with one delta, and nothing would pile up.
  for (int i = 0; i < 120; ++i) {
    s.exec("SELECT queuecast.enqueue('s', repeat('x', 100000))");
    ASSERT_TRUE(caught_up(d.port(), s));
  }
  stalled.set_timeout(std::chrono::seconds(20));
  int deltas = 0;
  while (auto message = stalled.read_json()) {
    if (message->at("type").as_string() != "delta") continue;
    ASSERT_EQ(message->at("prev_seq").as_int64(), last) << "a gap before the client was closed";
    apply_ops(state, message->at("ops").as_array());
    last = message->at("seq").as_int64();
    deltas++;
  }
  EXPECT_EQ(stalled.close_code(), 4001) << stalled.error().message();
  ASSERT_GT(deltas, 0);
  ASSERT_LT(last, topic_seq(s, "queue:s")) << "closed, yet it had everything: nothing to resume";
  // Reconnecting with its last seq, it resumes: the missed changes continue
  // its chain and bring its state to SQL's.
  ws_client again(d.port());
  again.set_timeout(std::chrono::seconds(20));
  again.send_json(
      {{"type", "subscribe"}, {"topic", "queue:s"}, {"mode", "delta"}, {"since", last}});
  auto subscribed = again.read_until("subscribed");
  ASSERT_TRUE(subscribed);
  ASSERT_TRUE(subscribed->at("resumed").as_bool()) << json::serialize(*subscribed);
  EXPECT_EQ(subscribed->at("seq").as_int64(), last);
  auto catch_up = again.read_json();
  ASSERT_TRUE(catch_up) << "nothing after subscribed";
  ASSERT_EQ(catch_up->at("type").as_string(), "delta") << "not a fresh snapshot: it resumed";
  ASSERT_EQ(catch_up->at("prev_seq").as_int64(), last);
  apply_ops(state, catch_up->at("ops").as_array());
  EXPECT_TRUE(follows_to_sql(again, state, catch_up->at("seq").as_int64(), s, "s"));
  auto [status, metrics] = http_get(d.port(), "/metrics");
  EXPECT_NE(metrics.find("queuecast_slow_clients_closed_total 1"), std::string::npos);
}

TEST(resilience, a_deleted_queue_ends_its_subscriptions) {
  const std::string db = database_with_queue("queuecast_deleted", "gone", 0);
  pg_session s(conninfo(db));
  daemon_process d(db);
  auto client = subscribed_client(d.port(), "queue:gone");
  s.exec("DELETE FROM queuecast.queues WHERE name = 'gone'");
  auto error = client->read_until("error");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->at("code").as_string(), "topic_deleted");
  EXPECT_TRUE(client->read_until("unsubscribed"));
}

}  // namespace
