#include "frame_encoder.hpp"

#include <chrono>
#include <ctime>
#include <stdexcept>

#include "hub_limits.hpp"

namespace queuecast {

namespace {

// Writes the topic's document into a frame being built; the encoder is asked
// only for topics that exist.
data_writer document_of(const store& state, const std::string& topic) {
  return [&state, &topic](std::string& out) {
    if (!state.append_document_text(topic, out))
      throw std::logic_error("a frame for a topic without a document: " + topic);
  };
}

// A queue's counts by status (every status the schema allows, zero or
// not), its total and whether it is paused: the jobs endpoint's `stats`.
json::object queue_stats(const json::object& document) {
  json::object stats;
  for (const char* status :
       {"queued", "ready", "running", "completed", "failed", "blocked", "cancelled"})
    stats[status] = 0;
  for (const json::value& phase : document.at("phases").as_array()) {
    const json::value* status = phase.as_object().if_contains("status");
    if (status && status->is_string()) {
      json::value& count = stats[status->as_string()];
      count = (count.is_int64() ? count.as_int64() : 0) + 1;
    }
  }
  stats["total"] = document.at("total");
  stats["paused"] = document.at("paused");
  return stats;
}

frame stats_frame(const json::object& document, const std::string& stamp, bool with_jobs) {
  json::object message{{"type", "stats_updated"}, {"stats", queue_stats(document)}};
  if (with_jobs) message["jobs"] = document.at("phases");
  message["timestamp"] = stamp;
  return make_frame(message);
}

}  // namespace

std::string utc_now_stamp() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

frame_encoder::frame_encoder(const store& state, std::function<std::string()> event_stamp)
    : state_(state), event_stamp_(std::move(event_stamp)) {}

frame frame_encoder::cached(const std::string& key, const std::function<frame()>& encode) {
  if (cache_seq_ != state_.seq() || cache_.size() >= hub_limits::max_cached_frames) {
    cache_.clear();
    cache_seq_ = state_.seq();
  }
  auto [it, inserted] = cache_.try_emplace(key);
  if (inserted) it->second = encode();
  return it->second;
}

frame frame_encoder::queue_update(const std::string& topic) {
  return cached("queue_update|" + topic,
                [&] { return queue_update_frame(document_of(state_, topic)); });
}

frame frame_encoder::queue_jobs_state(const std::string& topic) {
  // Not cached: it carries the time it is sent.
  return stats_frame(*state_.document(topic), event_stamp_(), true);
}

frame frame_encoder::fresh_snapshot(const std::string& topic) {
  std::int64_t seq = state_.topic_seq(topic);
  return cached("snapshot|" + topic + '|' + std::to_string(seq) + "|-", [&] {
    return snapshot_frame(topic, seq, std::nullopt, document_of(state_, topic));
  });
}

std::optional<frame> frame_encoder::resumed_delta(const std::string& topic, std::int64_t position,
                                                  const json::array& ops) {
  std::int64_t seq = state_.topic_seq(topic);
  if (seq <= position) return std::nullopt;
  // The same position gives the same ops (window or history alike).
  return cached("delta|" + topic + '|' + std::to_string(seq) + '|' + std::to_string(position),
                [&] { return delta_frame(topic, seq, position, ops); });
}

std::optional<frame> frame_encoder::resumed_snapshot(const std::string& topic,
                                                     std::int64_t position) {
  std::int64_t seq = state_.topic_seq(topic);
  if (seq <= position) return std::nullopt;
  return cached("snapshot|" + topic + '|' + std::to_string(seq) + '|' + std::to_string(position),
                [&] { return snapshot_frame(topic, seq, position, document_of(state_, topic)); });
}

const json::object& frame_encoder::update_frames::document() {
  if (!document_) document_ = state_.document(update_.topic);
  return *document_;
}

frame frame_encoder::update_frames::delta() {
  if (!delta_) delta_ = delta_frame(update_.topic, update_.seq, update_.prev_seq, update_.ops);
  return delta_;
}

frame frame_encoder::update_frames::snapshot() {
  if (!snapshot_)
    snapshot_ = snapshot_frame(update_.topic, update_.seq, update_.prev_seq,
                               document_of(state_, update_.topic));
  return snapshot_;
}

frame frame_encoder::update_frames::queue_update() {
  if (!queue_update_) queue_update_ = queue_update_frame(document_of(state_, update_.topic));
  return queue_update_;
}

// Job events (the compat workflow endpoint) carry a timestamp. The commit
// time of the change would be the honest one, but a topic_update does not
// carry it (the store merges a batch's rows per topic), so this is the time
// the daemon publishes the update: later than the commit by the feed's lag,
// and for a catch-up after an outage, by the outage. `event_stamp_` is the
// one place that decides it.
const std::vector<frame>& frame_encoder::update_frames::job_events() {
  if (events_) return *events_;
  events_.emplace();
  if (update_.events.empty()) return *events_;
  const json::value& workflow = document().at("workflow");
  std::string stamp = event_stamp_();
  for (const job_event& e : update_.events) {
    events_->push_back(make_frame(
        {{"type", e.type}, {"phase", e.phase}, {"workflow", workflow}, {"timestamp", stamp}}));
  }
  return *events_;
}

const std::vector<frame>& frame_encoder::update_frames::queue_jobs() {
  if (queue_jobs_) return *queue_jobs_;
  queue_jobs_.emplace();
  if (update_.deleted) return *queue_jobs_;  // the hub ends the subscription
  std::string stamp = event_stamp_();
  if (update_.reset) {
    queue_jobs_->push_back(stats_frame(document(), stamp, true));
    return *queue_jobs_;
  }
  if (update_.events.empty()) {
    queue_jobs_->push_back(stats_frame(document(), stamp, false));
    return *queue_jobs_;
  }
  json::object stats = queue_stats(document());
  constexpr std::string_view phase_prefix = "phase_";
  for (const job_event& e : update_.events) {
    queue_jobs_->push_back(make_frame({{"type", "job_" + e.type.substr(phase_prefix.size())},
                                       {"job", e.phase},
                                       {"stats", stats},
                                       {"timestamp", stamp}}));
  }
  return *queue_jobs_;
}

}  // namespace queuecast
