// The rows the state documents are made of — queues, workflows, phases with
// the fields the documents show — indexed the ways documents and history
// need them: phases by id, and in display order per queue and per workflow;
// workflows by id and in display order. Every write keeps the indexes in
// step (a phase whose status or priority changes is moved, not re-sorted
// later), and nothing outlives its row: an index entry that becomes empty
// is removed, so creating and deleting rows leaves the size where it was.
//
// Each phase and workflow row also keeps its document text (its doc
// serialised), made on first use: a document is then the rows' texts joined,
// and a change of one phase serialises that phase again, not its queue. A
// write replaces the text with the doc, never leaves an old one.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ordering.hpp"

namespace queuecast {

class tables {
 public:
  using phase_order = std::set<phase_sort_key>;

  struct phase_row {
    json::object doc;
    std::string queue;
    std::optional<std::int64_t> workflow;  // the phase's workflow_id (the workflow may be gone)
    phase_sort_key key;
    mutable std::string text;  // json::serialize(doc), or empty until first asked for
  };
  struct queue_row {
    bool paused = false;
    phase_order phases;
  };
  struct workflow_row {
    json::object doc;
    workflow_sort_key key;
    mutable std::string text;  // as phase_row's
  };

  // Queues. put_queue creates the queue or sets its flag; drop_queue removes
  // it with its phases and returns those phases (empty when unknown).
  const queue_row* find_queue(std::string_view name) const;
  void put_queue(const std::string& name, bool paused);
  std::vector<phase_row> drop_queue(std::string_view name);
  const std::map<std::string, queue_row, std::less<>>& queues() const { return queues_; }

  // Phases. put_phase inserts or replaces the phase by its id (its queue must
  // exist: std::logic_error otherwise) and returns the row it replaced.
  const phase_row* find_phase(std::int64_t id) const;
  std::optional<phase_row> put_phase(json::object phase);
  std::optional<phase_row> erase_phase(std::int64_t id);
  void clear_phases();
  // The phases naming workflow `id`, in display order; nullptr when none.
  const phase_order* phases_of_workflow(std::int64_t id) const;
  std::vector<std::int64_t> workflows_with_phases() const;

  // Workflows.
  const workflow_row* find_workflow(std::int64_t id) const;
  void put_workflow(json::object workflow);
  bool erase_workflow(std::int64_t id);
  void clear_workflows();
  const std::map<std::int64_t, workflow_row>& workflows() const { return workflows_; }

  // Document lists: the phases of one order, the workflows, in display order.
  json::array phase_list(const phase_order& order) const;
  json::array workflow_list() const;
  // The same lists serialised, appended to `out`: byte for byte
  // json::serialize(phase_list(order)) (and workflow_list()), made of the
  // rows' cached texts. `out` is grown once, with room for a few more bytes
  // (the rest of a document and of its frame) so that a megabyte of text is
  // not copied again for its closing brace.
  void append_phase_list(const phase_order& order, std::string& out) const;
  void append_workflow_list(std::string& out) const;
  // One row's cached text.
  const std::string& text(const phase_row& row) const;
  const std::string& text(const workflow_row& row) const;

  std::size_t phase_count() const { return phases_.size(); }
  std::size_t workflow_index_count() const { return workflow_phases_.size(); }

 private:
  void unindex(const phase_row& row);

  std::map<std::string, queue_row, std::less<>> queues_;
  std::unordered_map<std::int64_t, phase_row> phases_;
  std::unordered_map<std::int64_t, phase_order> workflow_phases_;  // never an empty set
  std::map<std::int64_t, workflow_row> workflows_;
  std::set<workflow_sort_key> workflow_order_;
};

}  // namespace queuecast
