// The small fixed state the history and HTTP harnesses start from: two
// queues (one paused), three phases, one workflow holding two of them, at
// seq 10; a window of 3 changes per topic so that it overflows.
#pragma once

#include "../common/sample_rows.hpp"
#include "state/store.hpp"

namespace queuecast::fuzz {

inline json::object phase(std::int64_t id, const char* queue, const char* status,
                          json::value workflow) {
  return qc_test::sample_phase(id, queue, status, 0, std::move(workflow));
}

inline const store& loaded_state() {
  static const store state = [] {
    store s(3);
    json::object queues{
        {"q", json::object{{"phases", json::array{phase(1, "q", "queued", nullptr),
                                                  phase(2, "q", "running", 7)}},
                           {"total", 2},
                           {"paused", false}}},
        {"other", json::object{{"phases", json::array{phase(3, "other", "failed", 7)}},
                               {"total", 1},
                               {"paused", true}}}};
    json::object workflow{{"id", 7},
                          {"title", "w"},
                          {"status", "running"},
                          {"current_phase", 1},
                          {"updated_at", "2026-01-01T00:00:00+00:00"}};
    s.load(10, queues, json::object{{"workflows", json::array{workflow}}, {"total", 1}});
    return s;
  }();
  return state;
}

}  // namespace queuecast::fuzz
