#include "ordering.hpp"

#include <array>
#include <string_view>
#include <tuple>

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

bool phase_before(const json::object& a, const json::object& b) {
  // Higher priority first: each side takes the other's priority (negating
  // one would overflow for INT64_MIN).
  auto key = [](const json::object& o, const json::object& other) {
    return std::make_tuple(rank_in(phase_order, o.at("status")), number(other, "priority"),
                           number(o, "position"), number(o, "id"));
  };
  return key(a, b) < key(b, a);
}

bool workflow_before(const json::object& a, const json::object& b) {
  int ra = rank_in(workflow_order, a.at("status")), rb = rank_in(workflow_order, b.at("status"));
  if (ra != rb) return ra < rb;
  std::string_view ua = text(a, "updated_at"), ub = text(b, "updated_at");
  if (ua != ub) return ua > ub;
  return number(a, "id") > number(b, "id");
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
