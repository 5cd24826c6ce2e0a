#include "ordering.hpp"

#include <array>
#include <string_view>

namespace queuecast {

namespace {

template <std::size_t N>
int rank_in(const std::array<std::string_view, N>& order, const json::value& status) {
  if (!status.is_string()) return N;
  std::string_view s(status.as_string());
  for (std::size_t i = 0; i < N; ++i) {
    if (order[i] == s) return static_cast<int>(i);
  }
  return N;
}

// 0 when absent or not an integer that fits (1.5, 1e300): sorting never throws.
std::int64_t number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_number()) return 0;
  boost::system::error_code ec;
  std::int64_t n = v->to_number<std::int64_t>(ec);
  return ec ? 0 : n;
}

std::string_view text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

constexpr std::array<std::string_view, 7> phase_order = {
    "running", "ready", "queued", "blocked", "failed", "completed", "cancelled"};
constexpr std::array<std::string_view, 6> workflow_order = {"failed",  "running",   "paused",
                                                            "pending", "completed", "cancelled"};
constexpr std::array<std::string_view, 16> phase_keys = {
    "id",         "queue",      "workflow_id", "phase_number", "title",        "status",
    "position",   "priority",   "worker",      "attempts",     "max_attempts", "error",
    "created_at", "updated_at", "started_at",  "finished_at"};
constexpr std::array<std::string_view, 9> workflow_keys = {
    "id",         "queue",      "title",      "status",     "current_phase",
    "created_at", "updated_at", "started_at", "finished_at"};

}  // namespace

phase_sort_key phase_key(const json::object& phase) {
  const json::value* status = phase.if_contains("status");
  return {status ? rank_in(phase_order, *status) : static_cast<int>(phase_order.size()),
          number(phase, "priority"), number(phase, "position"), number(phase, "id")};
}

workflow_sort_key workflow_key(const json::object& workflow) {
  const json::value* status = workflow.if_contains("status");
  return {status ? rank_in(workflow_order, *status) : static_cast<int>(workflow_order.size()),
          std::string(text(workflow, "updated_at")), number(workflow, "id")};
}

bool phase_before(const json::object& a, const json::object& b) {
  return phase_key(a) < phase_key(b);
}

bool workflow_before(const json::object& a, const json::object& b) {
  return workflow_key(a) < workflow_key(b);
}

bool is_phase_key(std::string_view key) {
  for (auto k : phase_keys) {
    if (k == key) return true;
  }
  return false;
}

bool is_workflow_key(std::string_view key) {
  for (auto k : workflow_keys) {
    if (k == key) return true;
  }
  return false;
}

}  // namespace queuecast
