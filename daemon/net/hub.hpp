// Fan-out: the facade sessions and the database feed talk to. It wires
// three parts together and decides nothing they can decide alone:
//   subscription_registry  who is subscribed to what, and in which state
//   frame_encoder          each frame encoded once per topic, format, state
//   replay_coordinator     resumes answered from history, one at a time
// Snapshot-mode subscribers are conflated by their session (only the newest
// snapshot waits); a delta-mode subscriber that falls too far behind is
// closed by its session.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../state/store.hpp"
#include "frame_encoder.hpp"
#include "messages.hpp"
#include "replay_coordinator.hpp"
#include "subscription_registry.hpp"

namespace queuecast {

// The hub's view of time, replaceable in tests.
struct hub_clocks {
  // Pending limits and the replay rate limit.
  std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
  // Job events' timestamps (frame_encoder says why it is the wall clock).
  std::function<std::string()> event_stamp = utc_now_stamp;
};

class hub {
 public:
  explicit hub(store& state, hub_clocks clocks = {});

  // Who answers resumes beyond the window; returns false when it cannot
  // now (no database connection): the client then starts fresh.
  void set_replayer(std::function<bool(const replay_request&)> replayer) {
    replays_.set_replayer(std::move(replayer));
  }
  // The replayer's answer: the ops from `since` to now, or nullopt (fresh
  // start). Ignored unless the replay is still wanted.
  void finish_replay(const replay_request& request, std::optional<json::array> ops);
  // Whether a queued replay is still wanted; the replayer skips it if not.
  bool replay_wanted(const replay_request& request) const { return replays_.wanted(request); }

  // Subscribes and sends the reply (subscribed + snapshot, or a resume),
  // replacing an earlier subscription of the sink to the topic. Waits while
  // the state is not loaded, or when the client is ahead of this daemon, for
  // at most hub_limits::pending_limit.
  void subscribe(subscriber_sink* sink, const std::string& topic, sub_format format,
                 std::optional<std::int64_t> since);
  void unsubscribe(subscriber_sink* sink, const std::string& topic);
  void remove(subscriber_sink* sink);  // the connection is gone

  void publish(const std::vector<topic_update>& updates);
  // After a full reload: every subscriber starts over with a fresh snapshot.
  void restart_all(const std::string& reason, const std::vector<std::string>& gone_topics);
  void set_live(bool live, const std::string& reason);
  // Every connection, subscribed or not, gets a close frame (shutdown).
  void close_all(std::uint16_t code, const std::string& reason);
  void attach(subscriber_sink* sink) { registry_.attach(sink); }
  // Answers waiting subscriptions that can be answered now; those that
  // waited past the limit (or all, with give_up_waiting) are answered anyway.
  void retry_pending(bool give_up_waiting = false);

  bool live() const { return live_; }
  std::int64_t seq() const { return state_.seq(); }
  // Subscriptions granted, waiting or replaying; sessions ask, never keep.
  bool is_subscribed(const subscriber_sink* sink, const std::string& topic) const {
    return registry_.is_subscribed(sink, topic);
  }
  std::size_t subscription_count(const subscriber_sink* sink) const {
    return registry_.subscription_count(sink);
  }
  std::vector<std::string> topics_of(const subscriber_sink* sink) const {
    return registry_.topics_of(sink);
  }
  // Granted subscribers per topic.
  std::map<std::string, std::size_t> counts_by_topic() const { return registry_.counts_by_topic(); }

 private:
  // A waiting subscription: answered (granted, replaying or refused), or left waiting.
  void answer(subscriber_sink* sink, const std::string& topic, bool give_up_waiting);
  void resume_from_history(subscriber_sink* sink, const std::string& topic, sub_format format,
                           std::int64_t since);
  void refuse(subscriber_sink* sink, const std::string& topic, const std::string& code,
              const std::string& message);
  void cancel(subscriber_sink* sink, const std::string& topic);
  // Grants, then sends `subscribed` at the topic's seq and a fresh snapshot.
  void grant_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                   const std::string& reason);
  void send_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                  const std::string& reason);
  void grant_resumed(subscriber_sink* sink, const std::string& topic, sub_format format,
                     std::int64_t position, const json::array& ops);
  void deliver(const topic_update& update);
  void drop_topic(const std::string& topic);

  store& state_;
  hub_clocks clocks_;
  subscription_registry registry_;
  frame_encoder encoder_;
  replay_coordinator replays_;
  bool live_ = false;
};

}  // namespace queuecast
