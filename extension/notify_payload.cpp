#include "notify_payload.hpp"

#include <algorithm>

namespace queuecast {

void notify_payload::add(subxact_id subxact, std::int64_t seq) {
  if (!runs_.empty() && runs_.back().subxact == subxact) {
    run& current = runs_.back();
    current.first = std::min(current.first, seq);
    current.last = std::max(current.last, seq);
    ++current.count;
    return;
  }
  runs_.push_back(run{subxact, seq, seq, 1});
}

void notify_payload::drop_subxact(subxact_id subxact) {
  std::erase_if(runs_, [&](const run& r) { return r.subxact == subxact; });
}

void notify_payload::merge_into_parent(subxact_id subxact, subxact_id parent) {
  for (run& r : runs_) {
    if (r.subxact == subxact) r.subxact = parent;
  }
}

seq_range notify_payload::range() const {
  if (runs_.empty()) return {};
  seq_range range{runs_.front().first, runs_.front().last, 0};
  for (const run& r : runs_) {
    range.first = std::min(range.first, r.first);
    range.last = std::max(range.last, r.last);
    range.count += r.count;
  }
  return range;
}

std::string render_doorbell(const seq_range& range, std::int64_t committed_at_us) {
  return "{\"v\":2,\"first\":" + std::to_string(range.first) +
         ",\"last\":" + std::to_string(range.last) + ",\"n\":" + std::to_string(range.count) +
         ",\"at\":" + std::to_string(committed_at_us) + "}";
}

}  // namespace queuecast
