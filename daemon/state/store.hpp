// The daemon's in-memory state of one database, by topic:
//   queue:<name>   {"phases":[...],"total":N,"paused":b}
//   workflows      {"workflows":[...],"total":N}
//   workflow:<id>  {"workflow":{...}|null,"phases":[...]}
// Applying a batch of history rows (in seq order) yields one update per
// touched topic: the delta ops, or a reset when ops cannot express it.
// Per topic it keeps a window of recent per-change ops, so a client can
// resume from any seq the window reaches back to — on this daemon or on any
// other daemon of the same database, since both derive the same ops from the
// same history. Pure logic: no I/O, no Asio.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "change.hpp"
#include "replay.hpp"
#include "tables.hpp"

namespace queuecast {

// Thrown by apply() when a history row is malformed or does not fit the state
// (an update of a row the state does not have, a renamed queue): the caller
// reloads everything.
struct state_diverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A job-style event for workflow and queue job subscribers (ORIGIN.md shapes).
struct job_event {
  std::string type;  // phase_created, phase_started, phase_completed, phase_failed, phase_updated
  json::object phase;
};

struct topic_update {
  std::string topic;
  std::int64_t seq = 0;       // newest change reflected
  std::int64_t prev_seq = 0;  // the topic's seq before this update
  json::array ops;            // delta ops (meaningless when reset)
  bool reset = false;         // send a snapshot instead of ops
  bool deleted = false;       // the topic no longer exists
  std::vector<job_event> events;
};

struct resume_plan {
  std::int64_t position = 0;  // where the client's chain continues (<= since)
  json::array ops;            // the changes after it, possibly none
};

// What the store holds, counted: for tests (nothing outlives its row) and
// metrics.
struct store_footprint {
  std::size_t queues = 0;
  std::size_t workflows = 0;
  std::size_t phases = 0;
  std::size_t workflow_indexes = 0;  // workflows with phases indexed
  std::size_t topics = 0;
  std::size_t window_changes = 0;  // per-topic resume entries, all topics
  friend bool operator==(const store_footprint&, const store_footprint&) = default;
};

// A complete state being loaded — queue by queue, inside one database
// snapshot — while the store goes on serving the previous one. Nothing of it
// is visible until store::install() swaps it in whole.
class state_builder {
 public:
  explicit state_builder(std::int64_t seq) : seq_(seq) {}

  // One queuecast.snapshot(name) value: {"phases":[...],"paused":b,...}.
  // Throws std::exception when it is not of that shape (or a phase names
  // another queue).
  void add_queue(std::string name, const json::object& snapshot);
  // One workflow as workflows_snapshot() lists it.
  void add_workflow(const json::object& workflow);

  std::size_t queues() const { return tables_.queues().size(); }
  std::size_t phases() const { return tables_.phase_count(); }

 private:
  friend class store;
  std::int64_t seq_;
  tables tables_;
};

class store {
 public:
  explicit store(std::size_t window_limit = 4096) : window_limit_(window_limit) {}

  // Replaces all state with a built one, at once. Returns the topics that
  // existed before and are gone now.
  std::vector<std::string> install(state_builder&& built);

  // install() of everything at `seq`: queue_snapshots maps a queue name to
  // queuecast.snapshot(name); workflows is workflows_snapshot().
  std::vector<std::string> load(std::int64_t seq, const json::object& queue_snapshots,
                                const json::object& workflows);

  // Applies history rows in seq order. Throws state_diverged, changing
  // nothing, when a row fails change_problem(); throws state_diverged (or
  // another std::exception) part-way when history does not fit the state.
  std::vector<topic_update> apply(const std::vector<change_row>& batch);

  bool loaded() const { return loaded_; }
  std::int64_t seq() const { return seq_; }
  bool has_topic(std::string_view topic) const;
  std::int64_t topic_seq(std::string_view topic) const;
  std::optional<json::object> document(std::string_view topic) const;
  // json::serialize(*document(topic)), byte for byte, joined from the rows'
  // cached texts (tables.hpp): what a commit costs here grows with what it
  // changed, plus one copy of the document's bytes. append_document_text
  // writes it at the end of `out` (a frame being built) and returns false,
  // writing nothing, when the topic does not exist.
  std::optional<std::string> document_text(std::string_view topic) const;
  bool append_document_text(std::string_view topic, std::string& out) const;
  std::optional<resume_plan> resume(std::string_view topic, std::int64_t since) const;
  // Ops that take a client from its state at some seq to the current state,
  // given every history row since then: each touched row is sent as it is
  // now (upsert) or removed. nullopt when ops cannot express it (TRUNCATE,
  // the topic's queue re-created). Throws std::logic_error when a row's key
  // is not a number where one is expected.
  std::optional<json::array> replay_ops(std::string_view topic,
                                        const std::vector<touched_row>& rows) const;
  std::vector<std::string> topic_names() const;
  store_footprint footprint() const;

 private:
  struct topic_meta {
    std::int64_t seq = 0;
    std::int64_t floor = 0;  // the window reaches back to this seq
    std::deque<std::pair<std::int64_t, json::array>> window;
  };
  // What one change does to the topics it touches.
  struct effects {
    std::map<std::string, json::array> ops;
    std::set<std::string> resets, deletions;
    std::map<std::string, std::vector<job_event>> events;
  };

  void apply_phase(const change_row& c, effects& fx);
  void apply_workflow(const change_row& c, effects& fx);
  void apply_queue(const change_row& c, effects& fx);
  void upsert_phase(json::object phase, effects& fx, const json::object* before);
  void remove_phase(std::int64_t id, effects& fx);
  void drop_queue(const std::string& name, effects& fx);
  void record(std::int64_t seq, effects& fx, std::map<std::string, topic_update>& updates);
  void record_window(topic_meta& m, std::int64_t seq, const json::array& ops);
  topic_meta& meta(const std::string& topic);
  bool workflow_exists(std::int64_t id) const { return tables_.find_workflow(id) != nullptr; }

  json::object queue_document(const tables::queue_row& queue) const;
  json::object workflows_document() const;
  json::object workflow_document(std::int64_t id) const;

  std::size_t window_limit_;
  bool loaded_ = false;
  std::int64_t seq_ = 0;
  tables tables_;
  std::map<std::string, topic_meta, std::less<>> topics_;
};

}  // namespace queuecast
