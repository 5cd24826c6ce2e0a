#include "hub.hpp"

#include "../util/metrics.hpp"
#include "hub_limits.hpp"

namespace queuecast {

namespace {

sub_mode mode_of(sub_format format) {
  return format == sub_format::delta ? sub_mode::delta : sub_mode::snapshot;
}

// Formats with a seq chain a client can resume.
bool resumable(sub_format format) {
  return format == sub_format::delta || format == sub_format::snapshot;
}

// The newest state of a topic: in order for delta subscribers (their chain
// continues from it), conflated for the others.
void send_state(subscriber_sink* sink, const std::string& topic, sub_format format, frame f) {
  if (format == sub_format::delta) {
    sink->send(std::move(f));
  } else {
    sink->send_latest(topic, std::move(f));
  }
}

std::string beyond_history(std::int64_t since) {
  return "history no longer reaches back to seq " + std::to_string(since);
}

}  // namespace

hub::hub(store& state, hub_clocks clocks)
    : state_(state),
      clocks_(std::move(clocks)),
      encoder_(state, clocks_.event_stamp),
      replays_(clocks_.now) {}

// --- subscribing -----------------------------------------------------------

void hub::subscribe(subscriber_sink* sink, const std::string& topic, sub_format format,
                    std::optional<std::int64_t> since) {
  registry_.attach(sink);
  cancel(sink, topic);  // a subscribe replaces the earlier one, and its replay
  registry_.wait(sink, topic, format, since, clocks_.now());
  answer(sink, topic, false);
}

void hub::answer(subscriber_sink* sink, const std::string& topic, bool give_up_waiting) {
  const subscription* found = registry_.find(sink, topic);
  if (!found || found->state != sub_state::waiting) return;
  const subscription s = *found;
  bool ahead = s.since && *s.since > state_.seq();
  if (!give_up_waiting && (!state_.loaded() || ahead)) return;  // keeps waiting
  if (!state_.loaded())
    return refuse(sink, topic, "not_ready",
                  "the daemon has not loaded its state yet; subscribe again later");
  if (!state_.has_topic(topic))
    return refuse(sink, topic, "unknown_topic", "topic '" + topic + "' does not exist");
  if (!s.since || !resumable(s.format)) return grant_fresh(sink, topic, s.format, "");
  if (ahead) {
    // History cannot take a client back from a seq this daemon never saw.
    return grant_fresh(sink, topic, s.format,
                       "this daemon is at seq " + std::to_string(state_.seq()) +
                           ", behind the client's seq " + std::to_string(*s.since));
  }
  if (auto plan = state_.resume(topic, *s.since))
    return grant_resumed(sink, topic, s.format, plan->position, plan->ops);
  resume_from_history(sink, topic, s.format, *s.since);
}

// Beyond the in-memory window: the subscription waits for the replayer.
void hub::resume_from_history(subscriber_sink* sink, const std::string& topic, sub_format format,
                              std::int64_t since) {
  std::uint64_t id = 0;
  switch (replays_.start(sink, topic, format, since, id)) {
    case replay_start::started:
      registry_.mark_replaying(sink, topic, id);
      return;
    case replay_start::busy:
      return refuse(sink, topic, "rate_limited",
                    "resuming from history: one at a time per connection; subscribe again when "
                    "the other resume is answered");
    case replay_start::rate_limited:
      return refuse(sink, topic, "rate_limited",
                    "resuming from history: at most one a second per connection");
    case replay_start::unavailable:
      return grant_fresh(sink, topic, format, beyond_history(since));
  }
}

void hub::finish_replay(const replay_request& r, std::optional<json::array> ops) {
  // Unsubscribed, subscribed again, or gone meanwhile: the answer is nobody's.
  if (!replays_.finish(r)) return;
  const subscription* s = registry_.find(r.sink, r.topic);
  if (!s || s->state != sub_state::replaying || s->replay_id != r.id) return;
  if (!state_.has_topic(r.topic))
    return refuse(r.sink, r.topic, "unknown_topic", "topic '" + r.topic + "' does not exist");
  if (!ops) return grant_fresh(r.sink, r.topic, r.format, beyond_history(r.since));
  grant_resumed(r.sink, r.topic, r.format, r.since, *ops);
}

void hub::refuse(subscriber_sink* sink, const std::string& topic, const std::string& code,
                 const std::string& message) {
  registry_.erase(sink, topic);
  process_metrics().client_errors++;
  sink->send(error_frame(code, message, topic));
}

void hub::cancel(subscriber_sink* sink, const std::string& topic) {
  registry_.erase(sink, topic);
  replays_.cancel(sink, topic);
}

void hub::grant_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                      const std::string& reason) {
  registry_.grant(sink, topic, format);
  send_fresh(sink, topic, format, reason);
}

void hub::send_fresh(subscriber_sink* sink, const std::string& topic, sub_format format,
                     const std::string& reason) {
  switch (format) {
    case sub_format::queue_update:
      return sink->send_latest(topic, encoder_.queue_update(topic));
    case sub_format::job_events:
      return;  // events from now on; there is no initial frame
    case sub_format::queue_jobs:
      return sink->send(encoder_.queue_jobs_state(topic));
    case sub_format::delta:
    case sub_format::snapshot:
      sink->send(subscribed_frame(topic, mode_of(format), state_.topic_seq(topic), false, reason));
      return send_state(sink, topic, format, encoder_.fresh_snapshot(topic));
  }
}

// `subscribed` at `position`, then what changed since as one delta (or, in
// snapshot mode, the newest state).
void hub::grant_resumed(subscriber_sink* sink, const std::string& topic, sub_format format,
                        std::int64_t position, const json::array& ops) {
  registry_.grant(sink, topic, format);
  sink->send(subscribed_frame(topic, mode_of(format), position, true));
  std::optional<frame> rest = format == sub_format::delta
                                  ? encoder_.resumed_delta(topic, position, ops)
                                  : encoder_.resumed_snapshot(topic, position);
  if (rest) send_state(sink, topic, format, *rest);
}

void hub::retry_pending(bool give_up_waiting) {
  auto now = clocks_.now();
  for (const auto& [sink, topic] : registry_.waiting()) {
    const subscription* s = registry_.find(sink, topic);
    if (!s) continue;
    answer(sink, topic, give_up_waiting || now - s->waiting_since > hub_limits::pending_limit);
  }
}

void hub::unsubscribe(subscriber_sink* sink, const std::string& topic) {
  cancel(sink, topic);
}

void hub::remove(subscriber_sink* sink) {
  registry_.erase_sink(sink);
  replays_.forget(sink);
}

// --- updates -----------------------------------------------------------------

void hub::publish(const std::vector<topic_update>& updates) {
  for (const topic_update& u : updates) {
    if (u.deleted) {
      drop_topic(u.topic);
    } else {
      deliver(u);
    }
  }
  retry_pending();  // a client ahead of us may be answerable now
}

void hub::deliver(const topic_update& u) {
  const subscriber_formats* subscribers = registry_.granted(u.topic);
  if (!subscribers) return;
  frame_encoder::update_frames frames = encoder_.frames_for(u);
  for (const auto& [sink, format] : *subscribers) {
    switch (format) {
      case sub_format::delta:
        // A change ops cannot express continues the chain as a snapshot.
        sink->send(u.reset ? frames.snapshot() : frames.delta());
        break;
      case sub_format::snapshot:
        sink->send_latest(u.topic, frames.snapshot());
        break;
      case sub_format::queue_update:
        sink->send_latest(u.topic, frames.queue_update());
        break;
      case sub_format::job_events:
        for (const frame& f : frames.job_events()) sink->send(f);
        break;
      case sub_format::queue_jobs:
        for (const frame& f : frames.queue_jobs()) sink->send(f);
        break;
    }
  }
}

// Every subscription to the topic ends, granted, waiting or replaying: each
// was asked for, so each hears why it ended.
void hub::drop_topic(const std::string& topic) {
  auto taken = registry_.take_topic(topic);
  if (taken.empty()) return;
  frame gone = error_frame("topic_deleted", "topic '" + topic + "' no longer exists", topic);
  for (const auto& [sink, s] : taken) {
    replays_.cancel(sink, topic);
    sink->send(gone);
    sink->dropped(topic);
  }
}

void hub::restart_all(const std::string& reason, const std::vector<std::string>& gone_topics) {
  encoder_.forget();  // a reload can bring other data at the same seq
  for (const auto& topic : gone_topics) drop_topic(topic);
  for (const auto& topic : registry_.topics()) {
    if (!state_.has_topic(topic)) drop_topic(topic);
  }
  for (const auto& topic : registry_.topics()) {
    const subscriber_formats* subscribers = registry_.granted(topic);
    if (!subscribers) continue;
    for (const auto& [sink, format] : *subscribers) send_fresh(sink, topic, format, reason);
  }
  retry_pending();
}

// --- every connection ----------------------------------------------------------

void hub::close_all(std::uint16_t code, const std::string& reason) {
  // A copy: a session may leave while it is being closed.
  std::vector<subscriber_sink*> all(registry_.sinks().begin(), registry_.sinks().end());
  for (subscriber_sink* sink : all) sink->close(code, reason);
}

void hub::set_live(bool live, const std::string& reason) {
  if (live == live_) return;
  live_ = live;
  frame status = status_frame(live, state_.seq(), reason);
  for (subscriber_sink* sink : registry_.sinks()) sink->send(status);
}

}  // namespace queuecast
