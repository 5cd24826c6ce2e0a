#include "hub.hpp"

#include <algorithm>

#include "../util/metrics.hpp"

namespace queuecast {

namespace {

constexpr auto pending_limit = std::chrono::seconds(10);
// Resumes that read the history cost a query and a large answer: one a
// second per connection, so no client can keep the daemon busy with them.
constexpr auto replay_interval = std::chrono::seconds(1);

sub_mode mode_of(sub_format format) {
  return format == sub_format::delta ? sub_mode::delta : sub_mode::snapshot;
}

frame queue_update_frame(const json::object& doc) {
  return make_frame({{"type", "queue_update"}, {"data", doc}});
}

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void hub::subscribe(subscriber_sink* sink, const std::string& topic, sub_format format,
                    std::optional<std::int64_t> since) {
  sinks_.insert(sink);
  pending p{sink, topic, format, since, std::chrono::steady_clock::now()};
  if (!try_subscribe(p, false)) pending_.push_back(std::move(p));
}

bool hub::try_subscribe(const pending& p, bool give_up_waiting) {
  if (!state_.loaded() && !give_up_waiting) return false;
  if (p.since && *p.since > state_.seq() && !give_up_waiting)
    return false;  // client is ahead of us
  if (!state_.loaded() || !state_.has_topic(p.topic)) {
    p.sink->send(error_frame("unknown_topic", "topic '" + p.topic + "' does not exist", p.topic));
    process_metrics().client_errors++;
    return true;
  }
  std::optional<resume_plan> plan;
  if (p.since) plan = state_.resume(p.topic, *p.since);
  bool resumable_format = p.format == sub_format::delta || p.format == sub_format::snapshot;
  if (p.since && !plan && resumable_format && replayer_) {
    if (!replay_allowed(p.sink)) {
      process_metrics().client_errors++;
      p.sink->send(error_frame(
          "rate_limited", "resuming from history: at most one a second per connection", p.topic));
      return true;
    }
    replay_request request{p.sink, p.topic, p.format, *p.since, next_replay_id_++};
    if (replayer_(request)) {
      replaying_.insert_or_assign(p.sink, request);  // replaces any earlier one
      return true;  // subscribed when the replay is answered (finish_replay)
    }
  }
  topics_[p.topic][p.sink] = p.format;
  if (p.format == sub_format::queue_update) {
    p.sink->send_latest(p.topic, cached("queue_update|" + p.topic, [&] {
                          return queue_update_frame(*state_.document(p.topic));
                        }));
    return true;
  }
  if (p.format == sub_format::job_events) return true;
  if (!plan) {
    start_fresh(p.sink, p.topic, p.format,
                p.since ? "history no longer reaches back to seq " + std::to_string(*p.since) : "");
    return true;
  }
  send_resumed(p.sink, p.topic, p.format, plan->position, plan->ops);
  return true;
}

// The reply to a resume that can be served: `subscribed` at `position`, then
// what changed since as one delta (or, in snapshot mode, the newest state).
frame hub::cached(const std::string& key, const std::function<frame()>& encode) {
  // Bounded: distinct resume positions must not pile up large frames.
  constexpr std::size_t max_cached_frames = 32;
  if (frames_seq_ != state_.seq() || frames_.size() >= max_cached_frames) {
    frames_.clear();
    frames_seq_ = state_.seq();
  }
  auto [it, inserted] = frames_.try_emplace(key);
  if (inserted) it->second = encode();
  return it->second;
}

bool hub::replay_allowed(subscriber_sink* sink) {
  auto now = std::chrono::steady_clock::now();
  auto [it, first] = last_replay_.try_emplace(sink, now);
  if (!first && now - it->second < replay_interval) return false;
  it->second = now;
  return true;
}

void hub::send_resumed(subscriber_sink* sink, const std::string& topic, sub_format format,
                       std::int64_t position, const json::array& ops) {
  std::int64_t seq = state_.topic_seq(topic);
  sink->send(subscribed_frame(topic, mode_of(format), position, true));
  if (seq <= position) return;
  std::string key = topic + '|' + std::to_string(seq) + '|' + std::to_string(position);
  if (format == sub_format::delta) {
    // The same position gives the same ops (window or history alike).
    sink->send(cached("delta|" + key, [&] { return delta_frame(topic, seq, position, ops); }));
  } else {
    sink->send_latest(topic, cached("snapshot|" + key, [&] {
                        return snapshot_frame(topic, seq, position, *state_.document(topic));
                      }));
  }
}

bool hub::replay_wanted(const replay_request& r) const {
  auto it = replaying_.find(r.sink);
  return it != replaying_.end() && it->second.id == r.id;
}

void hub::finish_replay(const replay_request& r, std::optional<json::array> ops) {
  // Unsubscribed, subscribed again, or gone meanwhile: the answer is nobody's.
  if (!replay_wanted(r)) return;
  replaying_.erase(r.sink);
  if (!state_.has_topic(r.topic)) {
    r.sink->send(error_frame("unknown_topic", "topic '" + r.topic + "' does not exist", r.topic));
    return;
  }
  topics_[r.topic][r.sink] = r.format;
  if (!ops) {
    start_fresh(r.sink, r.topic, r.format,
                "history no longer reaches back to seq " + std::to_string(r.since));
    return;
  }
  send_resumed(r.sink, r.topic, r.format, r.since, *ops);
}

void hub::start_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                      const std::string& reason) {
  std::int64_t seq = state_.topic_seq(topic);
  if (format == sub_format::queue_update) {
    sink->send_latest(topic, cached("queue_update|" + topic,
                                    [&] { return queue_update_frame(*state_.document(topic)); }));
    return;
  }
  if (format == sub_format::job_events) return;
  sink->send(subscribed_frame(topic, mode_of(format), seq, false, reason));
  frame snapshot = cached("snapshot|" + topic + '|' + std::to_string(seq) + "|-", [&] {
    return snapshot_frame(topic, seq, std::nullopt, *state_.document(topic));
  });
  if (format == sub_format::delta) {
    sink->send(snapshot);
  } else {
    sink->send_latest(topic, snapshot);
  }
}

void hub::retry_pending(bool give_up_waiting) {
  auto now = std::chrono::steady_clock::now();
  std::vector<pending> waiting;
  waiting.swap(pending_);
  for (auto& p : waiting) {
    if (!sinks_.count(p.sink)) continue;
    bool expired = give_up_waiting || now - p.since_when > pending_limit;
    if (!try_subscribe(p, expired)) pending_.push_back(std::move(p));
  }
}

void hub::unsubscribe(subscriber_sink* sink, const std::string& topic) {
  auto it = topics_.find(topic);
  if (it != topics_.end()) {
    it->second.erase(sink);
    if (it->second.empty()) topics_.erase(it);
  }
  std::erase_if(pending_, [&](const pending& p) { return p.sink == sink && p.topic == topic; });
  if (auto it = replaying_.find(sink); it != replaying_.end() && it->second.topic == topic)
    replaying_.erase(it);
}

void hub::remove(subscriber_sink* sink) {
  replaying_.erase(sink);
  last_replay_.erase(sink);
  for (auto it = topics_.begin(); it != topics_.end();) {
    it->second.erase(sink);
    it = it->second.empty() ? topics_.erase(it) : std::next(it);
  }
  std::erase_if(pending_, [&](const pending& p) { return p.sink == sink; });
  sinks_.erase(sink);
}

// A sink's subscriptions: granted, waiting for the state, or waiting for
// their replay.
std::vector<std::string> hub::topics_of(const subscriber_sink* sink) const {
  std::vector<std::string> topics;
  for (const auto& [topic, subs] : topics_)
    if (subs.count(const_cast<subscriber_sink*>(sink))) topics.push_back(topic);
  for (const pending& p : pending_)
    if (p.sink == sink) topics.push_back(p.topic);
  if (auto it = replaying_.find(const_cast<subscriber_sink*>(sink)); it != replaying_.end())
    topics.push_back(it->second.topic);
  return topics;
}

bool hub::is_subscribed(const subscriber_sink* sink, const std::string& topic) const {
  auto topics = topics_of(sink);
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

std::size_t hub::subscription_count(const subscriber_sink* sink) const {
  return topics_of(sink).size();
}

std::map<std::string, std::size_t> hub::counts_by_topic() const {
  std::map<std::string, std::size_t> counts;
  for (const auto& [topic, subs] : topics_) counts[topic] = subs.size();
  return counts;
}

void hub::drop_topic(const std::string& topic) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) return;
  frame gone = error_frame("topic_deleted", "topic '" + topic + "' no longer exists", topic);
  for (auto& [sink, format] : it->second) {
    sink->send(gone);
    sink->dropped(topic);
  }
  topics_.erase(it);
}

void hub::publish(const std::vector<topic_update>& updates) {
  for (const topic_update& u : updates) {
    if (u.deleted) {
      drop_topic(u.topic);
      continue;
    }
    auto it = topics_.find(u.topic);
    if (it == topics_.end()) continue;
    frame delta, snapshot, compat;
    std::vector<frame> events;
    std::optional<json::object> doc;
    auto document = [&]() -> const json::object& {
      if (!doc) doc = state_.document(u.topic);
      return *doc;
    };
    for (auto& [sink, format] : it->second) {
      switch (format) {
        case sub_format::delta:
          if (u.reset) {
            if (!snapshot) snapshot = snapshot_frame(u.topic, u.seq, u.prev_seq, document());
            sink->send(snapshot);
          } else {
            if (!delta) delta = delta_frame(u.topic, u.seq, u.prev_seq, u.ops);
            sink->send(delta);
          }
          break;
        case sub_format::snapshot:
          if (!snapshot) snapshot = snapshot_frame(u.topic, u.seq, u.prev_seq, document());
          sink->send_latest(u.topic, snapshot);
          break;
        case sub_format::queue_update:
          if (!compat) compat = queue_update_frame(document());
          sink->send_latest(u.topic, compat);
          break;
        case sub_format::job_events:
          if (events.empty()) {
            const json::value& workflow = document().at("workflow");
            std::string stamp = utc_now();
            for (const job_event& e : u.events) {
              events.push_back(make_frame({{"type", e.type},
                                           {"phase", e.phase},
                                           {"workflow", workflow},
                                           {"timestamp", stamp}}));
            }
          }
          for (const frame& f : events) sink->send(f);
          break;
      }
    }
  }
  retry_pending();
}

void hub::restart_all(const std::string& reason, const std::vector<std::string>& gone_topics) {
  for (const auto& topic : gone_topics) drop_topic(topic);
  for (const auto& [topic, subs] : topics_) {
    if (!state_.has_topic(topic)) continue;
    for (const auto& [sink, format] : subs) start_fresh(sink, topic, format, reason);
  }
  std::vector<std::string> missing;
  for (const auto& [topic, subs] : topics_) {
    if (!state_.has_topic(topic)) missing.push_back(topic);
  }
  for (const auto& topic : missing) drop_topic(topic);
  retry_pending();
}

void hub::close_all(std::uint16_t code, const std::string& reason) {
  std::vector<subscriber_sink*> all(sinks_.begin(), sinks_.end());
  for (subscriber_sink* sink : all) sink->close(code, reason);
}

void hub::set_live(bool live, const std::string& reason) {
  if (live == live_) return;
  live_ = live;
  frame status = status_frame(live, state_.seq(), reason);
  for (subscriber_sink* sink : sinks_) sink->send(status);
}

}  // namespace queuecast
