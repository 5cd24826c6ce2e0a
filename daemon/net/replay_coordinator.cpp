#include "replay_coordinator.hpp"

#include "hub_limits.hpp"

namespace queuecast {

replay_start replay_coordinator::start(subscriber_sink* sink, const std::string& topic,
                                       sub_format format, std::int64_t since,
                                       std::uint64_t& started_id) {
  if (!replayer_) return replay_start::unavailable;
  // A second replay would either wait behind the first or silently replace
  // it (leaving that topic unanswered); the client is told to ask again.
  if (in_flight_.count(sink)) return replay_start::busy;
  auto now = now_();
  auto [last, first] = last_started_.try_emplace(sink, now);
  if (!first && now - last->second < hub_limits::replay_interval) return replay_start::rate_limited;
  // An attempt counts even when the replayer refuses: the fresh snapshot
  // that follows is no cheaper.
  last->second = now;
  replay_request request{sink, topic, format, since, next_id_++};
  if (!replayer_(request)) return replay_start::unavailable;
  in_flight_.insert_or_assign(sink, request);
  started_id = request.id;
  return replay_start::started;
}

bool replay_coordinator::wanted(const replay_request& request) const {
  auto it = in_flight_.find(request.sink);
  return it != in_flight_.end() && it->second.id == request.id;
}

bool replay_coordinator::finish(const replay_request& request) {
  if (!wanted(request)) return false;
  in_flight_.erase(request.sink);
  return true;
}

void replay_coordinator::cancel(const subscriber_sink* sink, const std::string& topic) {
  if (auto it = in_flight_.find(sink); it != in_flight_.end() && it->second.topic == topic)
    in_flight_.erase(it);
}

void replay_coordinator::forget(const subscriber_sink* sink) {
  in_flight_.erase(sink);
  last_started_.erase(sink);
}

}  // namespace queuecast
