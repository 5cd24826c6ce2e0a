// The hub against a real store: subscriptions (granted, waiting, replaying),
// replays that come back late or for nobody, fan-out of each update, reloads.
// A recording sink stands in for a WebSocket session.
#include <gtest/gtest.h>

#include <optional>

#include "../../common/sample_rows.hpp"
#include "net/hub.hpp"
#include "state/store.hpp"

using namespace queuecast;
using namespace std::chrono_literals;

namespace {

// What a session would have written, in order: ordered frames ("send"),
// conflated ones ("latest", with their topic), and hub-initiated drops.
struct recording_sink : subscriber_sink {
  struct entry {
    std::string how;  // send, latest, dropped, close
    std::string topic;
    frame raw;
    json::object message;
    std::string type() const {
      return message.contains("type") ? std::string(message.at("type").as_string()) : how;
    }
  };
  std::vector<entry> got;

  void send(frame f) override { got.push_back({"send", {}, f, json::parse(*f).as_object()}); }
  void send_latest(const std::string& topic, frame f) override {
    got.push_back({"latest", topic, f, json::parse(*f).as_object()});
  }
  void dropped(const std::string& topic) override { got.push_back({"dropped", topic, {}, {}}); }
  void close(std::uint16_t, std::string) override { got.push_back({"close", {}, {}, {}}); }

  std::vector<std::string> types() const {
    std::vector<std::string> t;
    for (const entry& e : got) t.push_back(e.type());
    return t;
  }
  // Takes what arrived so far (so a test can ask "what came after").
  std::vector<entry> take() { return std::exchange(got, {}); }
};

using types = std::vector<std::string>;

json::object phase(std::int64_t id, const std::string& queue, const std::string& status,
                   json::value workflow = nullptr) {
  return qc_test::sample_phase(id, queue, status, 0, std::move(workflow));
}

change_row row(std::int64_t seq, std::string entity, std::string op, std::string key,
               json::value data, json::value old_data = nullptr) {
  return qc_test::sample_row<change_row>(seq, std::move(entity), std::move(op), std::move(key),
                                         std::move(data), std::move(old_data));
}

json::object queue_doc(std::vector<json::object> phases) {
  json::array list;
  for (auto& p : phases) list.push_back(std::move(p));
  std::size_t total = list.size();
  return {{"phases", std::move(list)}, {"total", total}, {"paused", false}};
}

const json::object no_workflows{{"workflows", json::array{}}, {"total", 0}};

// Queues q and r at seq 10, one phase each. The window starts at 10, so any
// `since` below 10 needs a replay from history.
void load_sample(store& s, std::int64_t seq = 10) {
  s.load(seq,
         json::object{{"q", queue_doc({phase(1, "q", "queued")})},
                      {"r", queue_doc({phase(2, "r", "queued")})}},
         no_workflows);
}

struct hub_test : ::testing::Test {
  store state{8};
  // Time moves only when a test says so.
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  void advance(std::chrono::milliseconds by) { now += by; }
  hub fanout{state, hub_clocks{[this] { return now; }, [] { return "2026-02-03T04:05:06Z"; }}};
  std::vector<replay_request> replays;  // what the hub asked the database for
  recording_sink a, b;

  void SetUp() override {
    fanout.set_replayer([this](const replay_request& r) {
      replays.push_back(r);
      return true;
    });
  }
  // Applies rows and publishes their updates, as the feed does.
  void commit(const std::vector<change_row>& rows) { fanout.publish(state.apply(rows)); }
  void touch_q(std::int64_t seq, int priority) {
    commit({row(seq, "phase", "UPDATE", "1", json::object{{"id", 1}, {"priority", priority}})});
  }
};

// --- replays: answered only for the subscription that asked ---------------

TEST_F(hub_test, a_replay_finished_after_a_new_subscribe_to_its_topic_adds_nothing) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 1u);
  EXPECT_TRUE(a.got.empty()) << "answered when the replay is";
  // The client subscribes again (no `since`): a fresh start replaces the
  // resume, whether or not the session unsubscribed first.
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  EXPECT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  a.take();
  EXPECT_FALSE(fanout.replay_wanted(replays[0]));
  fanout.finish_replay(replays[0], json::array{});
  EXPECT_TRUE(a.got.empty()) << "the old replay's answer must not start a second chain";
  EXPECT_EQ(fanout.subscription_count(&a), 1u);
  touch_q(11, 1);
  EXPECT_EQ(a.types(), (types{"delta"})) << "one chain: each delta once";
}

TEST_F(hub_test, a_replay_finished_after_unsubscribe_leaves_no_hidden_subscription) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 1u);
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:q")) << "a replaying subscription is one";
  fanout.unsubscribe(&a, "queue:q");
  EXPECT_FALSE(fanout.replay_wanted(replays[0])) << "unsubscribing cancels the queued replay";
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:q"));
  fanout.finish_replay(replays[0], json::array{});
  EXPECT_TRUE(a.got.empty());
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:q"));
  EXPECT_EQ(fanout.subscription_count(&a), 0u);
  touch_q(11, 1);
  EXPECT_TRUE(a.got.empty()) << "no hidden subscription";
  EXPECT_TRUE(fanout.counts_by_topic().empty());
}

TEST_F(hub_test, a_replay_for_a_removed_sink_never_reaches_a_new_sink_at_its_address) {
  load_sample(state);
  std::optional<recording_sink> slot;
  slot.emplace();
  subscriber_sink* address = &*slot;
  fanout.attach(address);
  fanout.subscribe(address, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 1u);
  fanout.remove(address);
  EXPECT_FALSE(fanout.replay_wanted(replays[0])) << "remove cancels the sink's replay";
  slot.reset();
  slot.emplace();  // a new connection, same address
  ASSERT_EQ(&*slot, address);
  fanout.attach(address);
  fanout.subscribe(address, "queue:q", sub_format::delta, 6);
  ASSERT_EQ(replays.size(), 2u);
  EXPECT_NE(replays[0].id, replays[1].id) << "the hub's ids tell the two apart";
  EXPECT_FALSE(fanout.replay_wanted(replays[0]));
  EXPECT_TRUE(fanout.replay_wanted(replays[1]));
  fanout.finish_replay(replays[0], json::array{});
  EXPECT_TRUE(slot->got.empty()) << "the old connection's answer is nobody's";
  fanout.finish_replay(replays[1], json::array{});
  ASSERT_EQ(slot->types(), (types{"subscribed", "delta"}));
  EXPECT_EQ(slot->got[0].message.at("seq").as_int64(), 6) << "its own position";
  EXPECT_EQ(slot->got[1].message.at("prev_seq").as_int64(), 6);
}

TEST_F(hub_test, remove_cancels_granted_waiting_and_replaying_subscriptions) {
  load_sample(state);
  fanout.attach(&a);
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);  // granted
  fanout.subscribe(&a, "queue:r", sub_format::delta, 5);             // replaying
  fanout.subscribe(&a, "workflows", sub_format::delta, 99);          // waiting (ahead)
  ASSERT_EQ(replays.size(), 1u);
  EXPECT_EQ(fanout.subscription_count(&a), 3u);
  a.take();
  fanout.remove(&a);
  EXPECT_EQ(fanout.subscription_count(&a), 0u);
  EXPECT_TRUE(fanout.topics_of(&a).empty());
  EXPECT_FALSE(fanout.replay_wanted(replays[0]));
  EXPECT_TRUE(fanout.counts_by_topic().empty());
  touch_q(11, 1);
  fanout.finish_replay(replays[0], json::array{});
  fanout.retry_pending(true);
  fanout.set_live(true, "");
  fanout.close_all(1001, "bye");
  EXPECT_TRUE(a.got.empty()) << "a removed sink hears nothing more";
}

// --- unconfirmed subscriptions ---------------------------------------------

TEST_F(hub_test, an_unknown_topic_takes_no_subscription_slot) {
  load_sample(state);
  fanout.subscribe(&a, "queue:nope", sub_format::delta, std::nullopt);
  ASSERT_EQ(a.types(), (types{"error"}));
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "unknown_topic");
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:nope")) << "nothing to unsubscribe";
  EXPECT_EQ(fanout.subscription_count(&a), 0u) << "does not count against the limit";
  fanout.subscribe(&a, "queue:nope", sub_format::delta, 5);
  EXPECT_TRUE(replays.empty()) << "no replay for a topic that does not exist";
  EXPECT_EQ(fanout.subscription_count(&a), 0u);
}

TEST_F(hub_test, a_subscribe_before_the_state_is_loaded_waits_and_is_answered_on_load) {
  fanout.subscribe(&a, "queue:q", sub_format::snapshot, std::nullopt);
  EXPECT_TRUE(a.got.empty());
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:q")) << "waiting counts: it may exist";
  fanout.retry_pending();
  EXPECT_TRUE(a.got.empty()) << "still not loaded";
  load_sample(state);
  fanout.retry_pending();  // what the feed calls after the first load
  EXPECT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_EQ(a.got[1].how, "latest");
  EXPECT_EQ(fanout.subscription_count(&a), 1u);
  fanout.retry_pending();
  EXPECT_EQ(a.got.size(), 2u) << "answered once";
}

TEST_F(hub_test, a_subscribe_that_waited_too_long_for_the_state_is_answered_not_ready) {
  fanout.subscribe(&a, "queue:q", sub_format::snapshot, std::nullopt);
  fanout.retry_pending(true);  // past the pending limit
  ASSERT_EQ(a.types(), (types{"error"}));
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "not_ready")
      << "the topic may well exist; the daemon just has no state yet";
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:q"));
}

TEST_F(hub_test, a_client_ahead_is_answered_when_the_daemon_catches_up) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 11);
  EXPECT_TRUE(a.got.empty());
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:q"));
  touch_q(11, 1);  // publish retries what waits
  ASSERT_EQ(a.types(), (types{"subscribed"}));
  EXPECT_TRUE(a.got[0].message.at("resumed").as_bool());
  EXPECT_EQ(a.got[0].message.at("seq").as_int64(), 11);
  EXPECT_TRUE(replays.empty());
}

TEST_F(hub_test, a_client_ahead_that_waited_too_long_starts_fresh_without_a_replay) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 15);
  fanout.retry_pending(true);
  EXPECT_TRUE(replays.empty()) << "history cannot take a client back from the future";
  ASSERT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_FALSE(a.got[0].message.at("resumed").as_bool());
  EXPECT_EQ(a.got[0].message.at("seq").as_int64(), 10);
  EXPECT_NE(a.got[0].message.at("reason").as_string(), "");
}

// --- publish ----------------------------------------------------------------

TEST_F(hub_test, a_delta_subscriber_gets_each_delta_in_order) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  fanout.subscribe(&b, "queue:q", sub_format::delta, std::nullopt);
  a.take();
  b.take();
  touch_q(11, 1);
  touch_q(12, 2);
  commit({row(13, "phase", "UPDATE", "2", json::object{{"id", 2}, {"priority", 9}})});  // r only
  touch_q(14, 3);
  ASSERT_EQ(a.types(), (types{"delta", "delta", "delta"}));
  std::int64_t prev = 10;
  for (const auto& e : a.got) {
    EXPECT_EQ(e.how, "send") << "deltas are never conflated";
    EXPECT_EQ(e.message.at("prev_seq").as_int64(), prev);
    prev = e.message.at("seq").as_int64();
  }
  EXPECT_EQ(prev, 14);
  ASSERT_EQ(b.got.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(a.got[i].raw, b.got[i].raw) << "one encoding for every subscriber";
}

TEST_F(hub_test, a_snapshot_subscriber_gets_the_newest_state_as_latest) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::snapshot, std::nullopt);
  a.take();
  touch_q(11, 7);
  ASSERT_EQ(a.types(), (types{"snapshot"}));
  EXPECT_EQ(a.got[0].how, "latest");
  EXPECT_EQ(a.got[0].topic, "queue:q");
  EXPECT_EQ(a.got[0].message.at("prev_seq").as_int64(), 10);
  EXPECT_EQ(a.got[0].message.at("data").at("phases").as_array()[0].at("priority").as_int64(), 7);
}

// The whole-state frames (written from the store's cached texts) are encoded
// once per update and format, shared by every subscriber, and are the bytes
// the same frames have when built from the document object.
TEST_F(hub_test, whole_state_frames_are_shared_and_the_bytes_of_the_document) {
  load_sample(state);
  recording_sink c, d;
  fanout.subscribe(&a, "queue:q", sub_format::snapshot, std::nullopt);
  fanout.subscribe(&b, "queue:q", sub_format::snapshot, std::nullopt);
  fanout.subscribe(&c, "queue:q", sub_format::queue_update, std::nullopt);
  fanout.subscribe(&d, "queue:q", sub_format::queue_update, std::nullopt);
  json::object doc = *state.document("queue:q");
  EXPECT_EQ(*a.got.back().raw, *snapshot_frame("queue:q", 10, std::nullopt, doc));
  EXPECT_EQ(*c.got.back().raw, *make_frame({{"type", "queue_update"}, {"data", doc}}));
  a.take(), b.take(), c.take(), d.take();
  // Rows cached by the frames above, then changed: a new phase, one moved.
  commit({row(11, "phase", "INSERT", "9", phase(9, "q", "running", 5)),
          row(12, "phase", "UPDATE", "1", json::object{{"id", 1}, {"status", "failed"}})});
  doc = *state.document("queue:q");
  ASSERT_EQ(a.types(), (types{"snapshot"}));
  ASSERT_EQ(b.types(), (types{"snapshot"}));
  ASSERT_EQ(c.types(), (types{"queue_update"}));
  ASSERT_EQ(d.types(), (types{"queue_update"}));
  EXPECT_EQ(a.got[0].raw, b.got[0].raw) << "one encoding for both";
  EXPECT_EQ(c.got[0].raw, d.got[0].raw) << "one encoding for both";
  EXPECT_EQ(*a.got[0].raw, *snapshot_frame("queue:q", 12, 10, doc));
  EXPECT_EQ(*c.got[0].raw, *make_frame({{"type", "queue_update"}, {"data", doc}}));
  EXPECT_EQ(doc.at("phases").as_array()[0].at("id").as_int64(), 9) << "running first";
}

TEST_F(hub_test, a_reset_reaches_delta_subscribers_as_a_snapshot) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  a.take();
  commit({row(11, "phase", "TRUNCATE", "", nullptr)});
  ASSERT_EQ(a.types(), (types{"snapshot"}));
  EXPECT_EQ(a.got[0].how, "send") << "in order with the deltas around it";
  EXPECT_EQ(a.got[0].message.at("prev_seq").as_int64(), 10);
}

TEST_F(hub_test, compat_queue_update_and_job_events) {
  load_sample(state);
  commit({row(11, "workflow", "INSERT", "5",
              json::object{{"id", 5}, {"queue", "q"}, {"title", "w"}, {"status", "pending"}})});
  fanout.subscribe(&a, "queue:q", sub_format::queue_update, std::nullopt);
  fanout.subscribe(&b, "workflow:5", sub_format::job_events, std::nullopt);
  ASSERT_EQ(a.types(), (types{"queue_update"}));
  EXPECT_EQ(a.got[0].how, "latest");
  EXPECT_TRUE(b.got.empty()) << "job events have no initial frame";
  a.take();
  commit({row(12, "phase", "INSERT", "9", phase(9, "q", "queued", 5))});
  ASSERT_EQ(a.types(), (types{"queue_update"}));
  EXPECT_EQ(a.got[0].message.at("data").at("total").as_int64(), 2);
  ASSERT_EQ(b.types(), (types{"phase_created"}));
  const json::object& event = b.got[0].message;
  EXPECT_EQ(event.at("phase").at("id").as_int64(), 9);
  EXPECT_EQ(event.at("workflow").at("id").as_int64(), 5);
  std::string stamp(event.at("timestamp").as_string());
  EXPECT_EQ(stamp.size(), 20u) << stamp;  // 2026-01-01T00:00:00Z
  EXPECT_EQ(stamp.back(), 'Z') << stamp;
}

TEST_F(hub_test, a_deleted_topic_sends_topic_deleted_and_drops_its_subscriptions) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  fanout.subscribe(&a, "queue:r", sub_format::delta, std::nullopt);
  fanout.subscribe(&b, "queue:q", sub_format::snapshot, std::nullopt);
  a.take();
  b.take();
  commit({row(11, "queue", "DELETE", "q", json::object{{"name", "q"}})});
  ASSERT_EQ(a.types(), (types{"error", "dropped"}));
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "topic_deleted");
  EXPECT_EQ(a.got[1].topic, "queue:q");
  EXPECT_EQ(b.types(), (types{"error", "dropped"}));
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:q"));
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:r"));
  EXPECT_EQ(fanout.subscription_count(&b), 0u);
  EXPECT_EQ(fanout.counts_by_topic(), (std::map<std::string, std::size_t>{{"queue:r", 1}}));
}

TEST_F(hub_test, a_deleted_topic_also_ends_waiting_and_replaying_subscriptions) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);   // replaying
  fanout.subscribe(&b, "queue:q", sub_format::delta, 12);  // ahead: waiting
  ASSERT_EQ(replays.size(), 1u);
  commit({row(11, "queue", "DELETE", "q", json::object{{"name", "q"}})});
  EXPECT_EQ(a.types(), (types{"error", "dropped"})) << "told now, not when the replay ends";
  EXPECT_EQ(b.types(), (types{"error", "dropped"}));
  EXPECT_FALSE(fanout.replay_wanted(replays[0]));
  EXPECT_EQ(fanout.subscription_count(&a), 0u);
  EXPECT_EQ(fanout.subscription_count(&b), 0u);
  a.take();
  fanout.finish_replay(replays[0], json::array{});
  fanout.retry_pending(true);
  EXPECT_TRUE(a.got.empty());
}

TEST_F(hub_test, restart_all_gives_fresh_snapshots_with_the_reason) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  fanout.subscribe(&b, "queue:r", sub_format::snapshot, std::nullopt);
  a.take();
  b.take();
  auto gone =
      state.load(20, json::object{{"q", queue_doc({phase(1, "q", "running")})}}, no_workflows);
  fanout.restart_all("history replaced", gone);
  ASSERT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_FALSE(a.got[0].message.at("resumed").as_bool());
  EXPECT_EQ(a.got[0].message.at("reason").as_string(), "history replaced");
  EXPECT_EQ(a.got[0].message.at("seq").as_int64(), 20);
  EXPECT_FALSE(a.got[1].message.contains("prev_seq")) << "a fresh start";
  ASSERT_EQ(b.types(), (types{"error", "dropped"})) << "queue r is gone after the reload";
  EXPECT_EQ(b.got[0].message.at("code").as_string(), "topic_deleted");
}

TEST_F(hub_test, a_reload_at_the_same_seq_never_serves_frames_of_the_old_state) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta,
                   std::nullopt);  // encodes the snapshot
  a.take();
  // The extension was re-created and its history reached seq 10 again.
  state.load(10, json::object{{"q", queue_doc({phase(1, "q", "running")})}}, no_workflows);
  fanout.restart_all("the database's history was replaced", {"queue:r"});
  ASSERT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_EQ(a.got[1].message.at("data").at("phases").as_array()[0].at("status").as_string(),
            "running");
  fanout.subscribe(&b, "queue:q", sub_format::queue_update, std::nullopt);
  ASSERT_EQ(b.types(), (types{"queue_update"}));
  EXPECT_EQ(b.got[0].message.at("data").at("phases").as_array()[0].at("status").as_string(),
            "running");
}

TEST_F(hub_test, a_replay_answer_resumes_or_starts_fresh) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  fanout.subscribe(&b, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 2u);
  json::array ops{json::object{{"op", "remove"}, {"id", 77}}};
  fanout.finish_replay(replays[0], ops);
  ASSERT_EQ(a.types(), (types{"subscribed", "delta"}));
  EXPECT_TRUE(a.got[0].message.at("resumed").as_bool());
  EXPECT_EQ(a.got[1].message.at("prev_seq").as_int64(), 5);
  EXPECT_EQ(a.got[1].message.at("ops"), json::value(ops));
  fanout.finish_replay(replays[1], std::nullopt);  // history pruned
  ASSERT_EQ(b.types(), (types{"subscribed", "snapshot"}));
  EXPECT_FALSE(b.got[0].message.at("resumed").as_bool());
  EXPECT_FALSE(fanout.replay_wanted(replays[1])) << "answered once";
  touch_q(11, 1);
  EXPECT_EQ(a.types().back(), "delta");
  EXPECT_EQ(b.types().back(), "delta");
}

TEST_F(hub_test, without_a_replayer_a_resume_beyond_the_window_starts_fresh) {
  fanout.set_replayer([](const replay_request&) { return false; });  // no database
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_FALSE(a.got[0].message.at("resumed").as_bool());
  EXPECT_EQ(fanout.subscription_count(&a), 1u);
}

TEST_F(hub_test, status_and_close_reach_every_attached_sink) {
  load_sample(state);
  fanout.attach(&a);
  fanout.subscribe(&b, "queue:q", sub_format::delta, std::nullopt);
  b.take();
  fanout.set_live(true, "");
  fanout.set_live(true, "");  // no change, no frame
  EXPECT_EQ(a.types(), (types{"status"}));
  EXPECT_EQ(b.types(), (types{"status"}));
  fanout.close_all(1001, "bye");
  EXPECT_EQ(a.types().back(), "close");
  EXPECT_EQ(b.types().back(), "close");
}

// --- limits over time (hub_limits.hpp)
// ----------------------------------------

TEST_F(hub_test, a_subscribe_waits_for_the_state_for_ten_seconds) {
  fanout.subscribe(&a, "queue:q", sub_format::delta, std::nullopt);
  advance(9s);
  fanout.retry_pending();
  EXPECT_TRUE(a.got.empty()) << "within the limit it keeps waiting";
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:q"));
  advance(2s);
  fanout.retry_pending();
  ASSERT_EQ(a.types(), (types{"error"}));
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "not_ready");
  EXPECT_EQ(fanout.subscription_count(&a), 0u);
}

TEST_F(hub_test, a_client_ahead_waits_ten_seconds_then_starts_fresh) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::snapshot, 12);
  advance(11s);
  fanout.retry_pending();
  ASSERT_EQ(a.types(), (types{"subscribed", "snapshot"}));
  EXPECT_FALSE(a.got[0].message.at("resumed").as_bool());
  EXPECT_TRUE(replays.empty());
}

TEST_F(hub_test, replays_are_limited_to_one_a_second_per_connection) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 1u);
  fanout.finish_replay(replays[0], json::array{});
  a.take();
  advance(500ms);
  fanout.subscribe(&a, "queue:r", sub_format::delta, 5);
  ASSERT_EQ(a.types(), (types{"error"}));
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "rate_limited");
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:r")) << "a refused subscribe holds no slot";
  fanout.subscribe(&b, "queue:r", sub_format::delta, 5);
  EXPECT_EQ(replays.size(), 2u) << "per connection: another one may";
  a.take();
  advance(600ms);
  fanout.subscribe(&a, "queue:r", sub_format::delta, 5);
  EXPECT_EQ(replays.size(), 3u);
  EXPECT_TRUE(a.got.empty());
}

TEST_F(hub_test, a_second_replay_on_a_connection_never_silently_drops_the_first) {
  load_sample(state);
  fanout.subscribe(&a, "queue:q", sub_format::delta, 5);
  ASSERT_EQ(replays.size(), 1u);
  advance(2s);  // past the rate limit; the first replay is still queued
  fanout.subscribe(&a, "queue:r", sub_format::delta, 5);
  EXPECT_TRUE(fanout.replay_wanted(replays[0]));
  EXPECT_TRUE(fanout.is_subscribed(&a, "queue:q"));
  ASSERT_EQ(a.types(), (types{"error"})) << "the second is refused, and told so";
  EXPECT_EQ(a.got[0].message.at("code").as_string(), "rate_limited");
  EXPECT_FALSE(fanout.is_subscribed(&a, "queue:r"));
  a.take();
  fanout.finish_replay(replays[0], json::array{});
  EXPECT_EQ(a.types(), (types{"subscribed", "delta"})) << "the first is answered";
}

TEST_F(hub_test, job_events_carry_the_encoders_stamp) {
  load_sample(state);
  commit({row(11, "workflow", "INSERT", "5",
              json::object{{"id", 5}, {"queue", "q"}, {"title", "w"}, {"status", "pending"}})});
  fanout.subscribe(&a, "workflow:5", sub_format::job_events, std::nullopt);
  fanout.subscribe(&b, "workflow:5", sub_format::job_events, std::nullopt);
  commit({row(12, "phase", "INSERT", "9", phase(9, "q", "queued", 5))});
  ASSERT_EQ(a.types(), (types{"phase_created"}));
  EXPECT_EQ(a.got[0].message.at("timestamp").as_string(), "2026-02-03T04:05:06Z");
  ASSERT_EQ(b.got.size(), 1u);
  EXPECT_EQ(a.got[0].raw, b.got[0].raw) << "encoded once";
}

}  // namespace
