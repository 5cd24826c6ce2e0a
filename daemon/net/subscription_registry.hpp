// Who is subscribed to which topic in which format, and how far each
// subscription got: granted (receiving updates), waiting (for the state to
// load or for this daemon to catch up), or replaying (its resume is being
// read from history). The one place that answers "is this connection
// subscribed", so a session's limit and its unsubscribe see the same thing
// the fan-out does. No I/O: it only records; the hub decides.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "messages.hpp"

namespace queuecast {

enum class sub_format { snapshot, delta, queue_update, job_events, queue_jobs };

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
  // A batch of deliveries is done (shards.hpp): the newest states kept by
  // send_latest during it may go now. Not called by the hub.
  virtual void batch_delivered() {}
};

enum class sub_state { granted, waiting, replaying };

// A topic's granted subscribers and the format each wants.
using subscriber_formats = std::map<subscriber_sink*, sub_format, std::less<>>;

struct subscription {
  sub_format format = sub_format::snapshot;
  sub_state state = sub_state::granted;
  std::optional<std::int64_t> since;  // the client's resume point, if any
  std::chrono::steady_clock::time_point waiting_since{};
  std::uint64_t replay_id = 0;  // replaying: the replay that answers it
  std::uint64_t arrival = 0;    // waiting ones are answered first come, first served
};

class subscription_registry {
 public:
  // A connection that hears status and shutdown frames, subscribed or not.
  void attach(subscriber_sink* sink) { sinks_.insert(sink); }
  const std::set<subscriber_sink*, std::less<>>& sinks() const { return sinks_; }

  // Records a new subscription, replacing any of the sink to that topic.
  void wait(subscriber_sink* sink, const std::string& topic, sub_format format,
            std::optional<std::int64_t> since, std::chrono::steady_clock::time_point now);
  void grant(subscriber_sink* sink, const std::string& topic, sub_format format);
  void mark_replaying(subscriber_sink* sink, const std::string& topic, std::uint64_t replay_id);
  // Forgets one subscription; returns what it was.
  std::optional<subscription> erase(const subscriber_sink* sink, const std::string& topic);
  // Forgets the connection altogether (it is gone).
  void erase_sink(const subscriber_sink* sink);
  // Forgets every subscription to `topic`, in any state, and returns them.
  std::vector<std::pair<subscriber_sink*, subscription>> take_topic(const std::string& topic);

  const subscription* find(const subscriber_sink* sink, const std::string& topic) const;
  // The granted subscribers of a topic (the fan-out list), or null.
  const subscriber_formats* granted(const std::string& topic) const;
  // Every topic somebody subscribed to, in any state.
  std::vector<std::string> topics() const;
  // Waiting subscriptions, oldest first.
  std::vector<std::pair<subscriber_sink*, std::string>> waiting() const;

  bool is_subscribed(const subscriber_sink* sink, const std::string& topic) const {
    return find(sink, topic) != nullptr;
  }
  std::size_t subscription_count(const subscriber_sink* sink) const;
  std::vector<std::string> topics_of(const subscriber_sink* sink) const;
  // Granted subscribers per topic (metrics).
  std::map<std::string, std::size_t> counts_by_topic() const;

 private:
  void ungrant(const subscriber_sink* sink, const std::string& topic);
  // Call before a subscription leaves the waiting state or is forgotten.
  void stop_waiting(const subscription& s) {
    if (s.state == sub_state::waiting) waiting_.erase(s.arrival);
  }

  // Every subscription by connection; granted ones also by topic for fan-out.
  std::map<const subscriber_sink*, std::map<std::string, subscription>> by_sink_;
  std::map<std::string, subscriber_formats> granted_;
  // The waiting ones by arrival: publish retries them, and must not scan
  // every subscription to find none.
  std::map<std::uint64_t, std::pair<subscriber_sink*, std::string>> waiting_;
  std::set<subscriber_sink*, std::less<>> sinks_;
  std::uint64_t arrivals_ = 0;
};

}  // namespace queuecast
