#include "subscription_registry.hpp"

namespace queuecast {

void subscription_registry::wait(subscriber_sink* sink, const std::string& topic, sub_format format,
                                 std::optional<std::int64_t> since,
                                 std::chrono::steady_clock::time_point now) {
  ungrant(sink, topic);
  subscription& s = by_sink_[sink][topic];
  stop_waiting(s);  // a fresh entry is granted by default, so this is a no-op for it
  s = subscription{format, sub_state::waiting, since, now, 0, ++arrivals_};
  waiting_.emplace(s.arrival, std::pair{sink, topic});
}

void subscription_registry::grant(subscriber_sink* sink, const std::string& topic,
                                  sub_format format) {
  subscription& s = by_sink_[sink][topic];
  stop_waiting(s);
  s.format = format;
  s.state = sub_state::granted;
  s.replay_id = 0;
  granted_[topic][sink] = format;
}

void subscription_registry::mark_replaying(subscriber_sink* sink, const std::string& topic,
                                           std::uint64_t replay_id) {
  ungrant(sink, topic);
  subscription& s = by_sink_[sink][topic];
  stop_waiting(s);
  s.state = sub_state::replaying;
  s.replay_id = replay_id;
}

void subscription_registry::ungrant(const subscriber_sink* sink, const std::string& topic) {
  auto it = granted_.find(topic);
  if (it == granted_.end()) return;
  if (auto s = it->second.find(sink); s != it->second.end()) it->second.erase(s);
  if (it->second.empty()) granted_.erase(it);
}

std::optional<subscription> subscription_registry::erase(const subscriber_sink* sink,
                                                         const std::string& topic) {
  auto it = by_sink_.find(sink);
  if (it == by_sink_.end()) return std::nullopt;
  auto sub = it->second.find(topic);
  if (sub == it->second.end()) return std::nullopt;
  subscription was = sub->second;
  stop_waiting(was);
  it->second.erase(sub);
  if (it->second.empty()) by_sink_.erase(it);
  ungrant(sink, topic);
  return was;
}

void subscription_registry::erase_sink(const subscriber_sink* sink) {
  if (auto it = by_sink_.find(sink); it != by_sink_.end()) {
    for (const auto& [topic, s] : it->second) {
      ungrant(sink, topic);
      stop_waiting(s);
    }
    by_sink_.erase(it);
  }
  if (auto it = sinks_.find(sink); it != sinks_.end()) sinks_.erase(it);
}

std::vector<std::pair<subscriber_sink*, subscription>> subscription_registry::take_topic(
    const std::string& topic) {
  std::vector<std::pair<subscriber_sink*, subscription>> taken;
  for (auto it = by_sink_.begin(); it != by_sink_.end();) {
    if (auto sub = it->second.find(topic); sub != it->second.end()) {
      // The keys are const for lookups by const pointer; the sinks are not.
      taken.emplace_back(const_cast<subscriber_sink*>(it->first), sub->second);
      stop_waiting(sub->second);
      it->second.erase(sub);
    }
    it = it->second.empty() ? by_sink_.erase(it) : std::next(it);
  }
  granted_.erase(topic);
  return taken;
}

const subscription* subscription_registry::find(const subscriber_sink* sink,
                                                const std::string& topic) const {
  auto it = by_sink_.find(sink);
  if (it == by_sink_.end()) return nullptr;
  auto sub = it->second.find(topic);
  return sub == it->second.end() ? nullptr : &sub->second;
}

const subscriber_formats* subscription_registry::granted(const std::string& topic) const {
  auto it = granted_.find(topic);
  return it == granted_.end() ? nullptr : &it->second;
}

std::vector<std::string> subscription_registry::topics() const {
  std::set<std::string> all;
  for (const auto& [sink, subs] : by_sink_)
    for (const auto& [topic, s] : subs) all.insert(topic);
  return {all.begin(), all.end()};
}

std::vector<std::pair<subscriber_sink*, std::string>> subscription_registry::waiting() const {
  std::vector<std::pair<subscriber_sink*, std::string>> ordered;
  ordered.reserve(waiting_.size());
  for (const auto& [arrival, which] : waiting_) ordered.push_back(which);
  return ordered;
}

std::size_t subscription_registry::subscription_count(const subscriber_sink* sink) const {
  auto it = by_sink_.find(sink);
  return it == by_sink_.end() ? 0 : it->second.size();
}

std::vector<std::string> subscription_registry::topics_of(const subscriber_sink* sink) const {
  std::vector<std::string> topics;
  if (auto it = by_sink_.find(sink); it != by_sink_.end())
    for (const auto& [topic, s] : it->second) topics.push_back(topic);
  return topics;
}

std::map<std::string, std::size_t> subscription_registry::counts_by_topic() const {
  std::map<std::string, std::size_t> counts;
  for (const auto& [topic, subs] : granted_) counts[topic] = subs.size();
  return counts;
}

}  // namespace queuecast
