// The orders dashboards show, identical to queuecast.snapshot() and
// queuecast.workflows_snapshot() in SQL (docs/capture.md).
#pragma once

#include <boost/json.hpp>

namespace queuecast {

namespace json = boost::json;

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
