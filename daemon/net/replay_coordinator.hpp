// Resumes the in-memory window cannot serve are read from queuecast.changes
// by the database side (the replayer). This decides whether one may start
// (one at a time and one a second per connection), names each with an id
// only it hands out, and says whether an answer is still wanted: a replay
// is wanted only while it is its connection's current one — not after an
// unsubscribe, a newer subscribe to the topic, or the connection's end,
// even when a new connection later gets the same address.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "subscription_registry.hpp"

namespace queuecast {

// A resume to be answered from queuecast.changes by the database side.
struct replay_request {
  subscriber_sink* sink;
  std::string topic;
  sub_format format;
  std::int64_t since;
  std::uint64_t id = 0;
};

enum class replay_start {
  started,       // queued: the answer comes through finish()
  busy,          // refused: another replay of this connection is in flight
  rate_limited,  // refused: the connection's previous one was less than a second ago
  unavailable,   // no replayer, or it cannot now (no database connection)
};

class replay_coordinator {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
  explicit replay_coordinator(clock_fn now) : now_(std::move(now)) {}

  // Returns false when it cannot take a request now.
  void set_replayer(std::function<bool(const replay_request&)> replayer) {
    replayer_ = std::move(replayer);
  }
  // On `started`, `started_id` is the new replay's id.
  replay_start start(subscriber_sink* sink, const std::string& topic, sub_format format,
                     std::int64_t since, std::uint64_t& started_id);
  bool wanted(const replay_request& request) const;
  // The answer came: true when it was still wanted (it is no longer).
  bool finish(const replay_request& request);
  // The subscription to `topic` ended or was replaced.
  void cancel(const subscriber_sink* sink, const std::string& topic);
  // The connection is gone: its replay and its rate-limit record.
  void forget(const subscriber_sink* sink);

 private:
  clock_fn now_;
  std::function<bool(const replay_request&)> replayer_;
  std::uint64_t next_id_ = 1;
  std::map<const subscriber_sink*, replay_request> in_flight_;  // at most one per connection
  std::map<const subscriber_sink*, std::chrono::steady_clock::time_point> last_started_;
};

}  // namespace queuecast
