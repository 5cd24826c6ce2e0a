// Fan-out: who is subscribed to which topic, and delivering each update to
// them. Every update is encoded once per topic and format and the same
// immutable frame is handed to every subscriber. Snapshot-mode subscribers
// are conflated by their session (only the newest snapshot waits); a
// delta-mode subscriber that falls too far behind is closed by its session.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../state/store.hpp"
#include "messages.hpp"

namespace queuecast {

enum class sub_format { snapshot, delta, queue_update, job_events };

// What the hub needs from a client connection.
class subscriber_sink {
 public:
  virtual ~subscriber_sink() = default;
  // Ordered frames (replies, deltas, events); the session enforces its bound.
  virtual void send(frame f) = 0;
  // The newest state of `topic`; replaces an unsent older one (conflation).
  virtual void send_latest(const std::string& topic, frame f) = 0;
  // Called when the hub drops the subscription itself (topic deleted).
  virtual void dropped(const std::string& topic) = 0;
  // Sends a close frame after what is queued (shutdown: 1001).
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

// A resume the in-memory window cannot serve, to be answered from
// queuecast.changes by the database side. `id` is handed out by the hub:
// a replay is answered only while it is still the sink's current one (not
// unsubscribed, replaced by a newer subscribe, or gone with its session).
struct replay_request {
  subscriber_sink* sink;
  std::string topic;
  sub_format format;
  std::int64_t since;
  std::uint64_t id = 0;
};

class hub {
 public:
  explicit hub(store& state) : state_(state) {}

  // Who answers resumes beyond the window; returns false when it cannot
  // now (no database connection): the client then starts fresh.
  void set_replayer(std::function<bool(const replay_request&)> replayer) {
    replayer_ = std::move(replayer);
  }
  // The replayer's answer: the ops from `since` to now, or nullopt (fresh start).
  void finish_replay(const replay_request& request, std::optional<json::array> ops);
  // Whether a queued replay is still wanted; the replayer skips it if not.
  bool replay_wanted(const replay_request& request) const;

  // Subscribes and sends the reply (subscribed + snapshot, or a resume).
  // Waits (keeps it pending) while the state is not loaded, or when the
  // client is ahead of this daemon, for at most `pending_limit`.
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
  void attach(subscriber_sink* sink) { sinks_.insert(sink); }
  void retry_pending(bool give_up_waiting = false);

  bool live() const { return live_; }
  std::int64_t seq() const { return state_.seq(); }
  // Subscriptions (granted or waiting) are kept here only; sessions ask.
  bool is_subscribed(const subscriber_sink* sink, const std::string& topic) const;
  std::size_t subscription_count(const subscriber_sink* sink) const;
  // The topics a sink is subscribed to, granted or waiting.
  std::vector<std::string> topics_of(const subscriber_sink* sink) const;
  std::map<std::string, std::size_t> counts_by_topic() const;

 private:
  struct pending {
    subscriber_sink* sink;
    std::string topic;
    sub_format format;
    std::optional<std::int64_t> since;
    std::chrono::steady_clock::time_point since_when;
  };
  bool try_subscribe(const pending& p, bool give_up_waiting);
  void send_resumed(subscriber_sink* sink, const std::string& topic, sub_format format,
                    std::int64_t position, const json::array& ops);
  void start_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                   const std::string& reason);
  void drop_topic(const std::string& topic);
  // One encoding per frame and state: floods of identical subscribes and
  // resumes share it (cleared whenever the state moves on).
  frame cached(const std::string& key, const std::function<frame()>& encode);
  bool replay_allowed(subscriber_sink* sink);

  store& state_;
  std::function<bool(const replay_request&)> replayer_;
  bool live_ = false;
  std::map<std::string, std::map<subscriber_sink*, sub_format>> topics_;
  std::vector<pending> pending_;
  // One replay in flight per connection: a newer one replaces it.
  std::map<subscriber_sink*, replay_request> replaying_;
  std::map<subscriber_sink*, std::chrono::steady_clock::time_point> last_replay_;
  std::uint64_t next_replay_id_ = 1;
  std::map<std::string, frame> frames_;
  std::int64_t frames_seq_ = -1;
  std::set<subscriber_sink*> sinks_;  // every sink that ever subscribed and is not removed
};

}  // namespace queuecast
