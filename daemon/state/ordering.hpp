// The orders dashboards show, identical to queuecast.snapshot() and
// queuecast.workflows_snapshot() in SQL (docs/capture.md).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>

namespace queuecast {

namespace json = boost::json;

// The fields a phase sorts by, read once: the store keeps each queue's and
// each workflow's phases in a set of these, so a document is a walk, not a
// sort. Ordered exactly as phase_before() (which is defined by it).
struct phase_sort_key {
  int rank = 0;               // of the status in the order below
  std::int64_t priority = 0;  // descending
  std::int64_t position = 0;
  std::int64_t id = 0;
  friend bool operator<(const phase_sort_key& a, const phase_sort_key& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.priority != b.priority) return a.priority > b.priority;  // no negation: INT64_MIN
    if (a.position != b.position) return a.position < b.position;
    return a.id < b.id;
  }
  friend bool operator==(const phase_sort_key&, const phase_sort_key&) = default;
};

// Likewise for workflows and workflow_before().
struct workflow_sort_key {
  int rank = 0;
  std::string updated_at;  // descending
  std::int64_t id = 0;     // descending
  friend bool operator<(const workflow_sort_key& a, const workflow_sort_key& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.updated_at != b.updated_at) return a.updated_at > b.updated_at;
    return a.id > b.id;
  }
  friend bool operator==(const workflow_sort_key&, const workflow_sort_key&) = default;
};

// Never throws: a missing or odd field sorts as 0 / "" / an unknown status.
phase_sort_key phase_key(const json::object& phase);
workflow_sort_key workflow_key(const json::object& workflow);

// running, ready, queued, blocked, failed, completed, cancelled; then
// priority descending, position, id.
bool phase_before(const json::object& a, const json::object& b);

// failed, running, paused, pending, completed, cancelled; then updated_at
// descending, id descending. (ISO timestamps in UTC compare as text.)
bool workflow_before(const json::object& a, const json::object& b);

// The keys of a phase / workflow object in the state documents.
bool is_phase_key(std::string_view key);
bool is_workflow_key(std::string_view key);

}  // namespace queuecast
