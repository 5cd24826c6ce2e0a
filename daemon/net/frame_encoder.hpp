// Encodes what subscribers are sent, once per topic, format and state: every
// subscriber of a format gets the same immutable frame. Frames answering a
// subscribe (fresh snapshots, resumes, compat queue_update) are kept while
// the state stays at one seq, so a flood of identical subscribes costs one
// encoding; frames of an update are encoded on first use during its fan-out.
// Whole-state frames have the document written straight into them by
// store::append_document_text(), which re-serialises only the rows that
// changed since it was last asked: once per update and format, whatever the
// number of subscribers.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../state/store.hpp"
#include "messages.hpp"

namespace queuecast {

// The wall clock as an ISO 8601 UTC second ("2026-01-01T00:00:00Z").
std::string utc_now_stamp();

class frame_encoder {
 public:
  // `event_stamp` gives the timestamp of job events (see update_frames).
  explicit frame_encoder(const store& state, std::function<std::string()> event_stamp);

  // The compat endpoint's whole-queue frame at the current state.
  frame queue_update(const std::string& topic);
  // The jobs endpoint's first frame: stats_updated with the queue's jobs.
  frame queue_jobs_state(const std::string& topic);
  // The topic's state at its current seq, without prev_seq (a fresh start).
  frame fresh_snapshot(const std::string& topic);
  // What follows `subscribed` on a resume from `position`: the ops since then
  // as one delta, or (snapshot mode) the newest state; nullopt when the topic
  // did not change since.
  std::optional<frame> resumed_delta(const std::string& topic, std::int64_t position,
                                     const json::array& ops);
  std::optional<frame> resumed_snapshot(const std::string& topic, std::int64_t position);
  // The state was reloaded: what is cached may describe another history at
  // the same seq.
  void forget() {
    cache_.clear();
    cache_seq_.reset();
  }

  // One update's frames, each encoded on first use and then shared.
  class update_frames {
   public:
    update_frames(const store& state, const topic_update& update,
                  const std::function<std::string()>& event_stamp)
        : state_(state), update_(update), event_stamp_(event_stamp) {}
    frame delta();
    frame snapshot();
    frame queue_update();
    const std::vector<frame>& job_events();
    // The jobs endpoint: job_* events with the stats after the update, or
    // one stats_updated when no phase was created or changed (a removal,
    // a pause); the whole state again after a reset.
    const std::vector<frame>& queue_jobs();

   private:
    const json::object& document();  // for job events' workflow

    const store& state_;
    const topic_update& update_;
    const std::function<std::string()>& event_stamp_;
    std::optional<json::object> document_;
    frame delta_, snapshot_, queue_update_;
    std::optional<std::vector<frame>> events_;
    std::optional<std::vector<frame>> queue_jobs_;
  };
  update_frames frames_for(const topic_update& update) const {
    return update_frames(state_, update, event_stamp_);
  }

 private:
  frame cached(const std::string& key, const std::function<frame()>& encode);

  const store& state_;
  std::function<std::string()> event_stamp_;
  std::map<std::string, frame> cache_;
  std::optional<std::int64_t> cache_seq_;  // the state's seq the cache is valid for
};

}  // namespace queuecast
