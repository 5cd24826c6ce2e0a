// Phase documents and history rows as the extension writes them, for tests
// and fuzz harnesses that build state or changes by hand: one definition of
// their shape (docs/capture.md), so a field added there is added here once.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>

namespace qc_test {

// A phase as queuecast.snapshot() shows it, every field present.
inline boost::json::object sample_phase(std::int64_t id, const std::string& queue,
                                        const std::string& status, std::int64_t priority = 0,
                                        boost::json::value workflow = nullptr,
                                        const std::string& title = "t") {
  return {{"id", id},
          {"queue", queue},
          {"workflow_id", workflow},
          {"phase_number", 1},
          {"title", title},
          {"status", status},
          {"position", id},
          {"priority", priority},
          {"worker", nullptr},
          {"attempts", 0},
          {"max_attempts", 3},
          {"error", nullptr},
          {"created_at", "2026-01-01T00:00:00+00:00"},
          {"updated_at", "2026-01-01T00:00:00+00:00"},
          {"started_at", nullptr},
          {"finished_at", nullptr}};
}

// A history row (daemon/state/change.hpp's change_row, or anything with its
// fields) with the given values.
template <class Row>
Row sample_row(std::int64_t seq, std::string entity, std::string op, std::string key,
               boost::json::value data, boost::json::value old_data = nullptr,
               std::string topic = {}) {
  Row r;
  r.seq = seq;
  r.topic = std::move(topic);
  r.entity = std::move(entity);
  r.op = std::move(op);
  r.key = std::move(key);
  r.data = std::move(data);
  r.old_data = std::move(old_data);
  return r;
}

}  // namespace qc_test
