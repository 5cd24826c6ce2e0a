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

std::string notify_payload::render(std::int64_t committed_at_us) const {
  std::int64_t first = runs_.front().first;
  std::int64_t last = runs_.front().last;
  std::int64_t count = 0;
  for (const run& r : runs_) {
    first = std::min(first, r.first);
    last = std::max(last, r.last);
    count += r.count;
  }
  return "{\"v\":2,\"first\":" + std::to_string(first) + ",\"last\":" + std::to_string(last) +
         ",\"n\":" + std::to_string(count) + ",\"at\":" + std::to_string(committed_at_us) + "}";
}

}  // namespace queuecast
