#include "notify_payload.hpp"

#include <algorithm>

namespace queuecast {

void notify_payload::add(subxact_id subxact, std::int64_t seq, std::string inline_json) {
  if (!overflow_ && inline_bytes_ + inline_json.size() + 1 > inline_budget) {
    overflow_ = true;
    for (entry& e : entries_) std::string().swap(e.json);
    inline_bytes_ = 0;
  }
  if (overflow_) {
    if (!entries_.empty() && entries_.back().subxact == subxact) {
      entry& run = entries_.back();
      run.first = std::min(run.first, seq);
      run.last = std::max(run.last, seq);
      ++run.count;
      return;
    }
    inline_json.clear();
  } else {
    inline_bytes_ += inline_json.size() + 1;
  }
  entries_.push_back(entry{subxact, seq, seq, 1, std::move(inline_json)});
}

void notify_payload::drop_subxact(subxact_id subxact) {
  std::erase_if(entries_, [&](const entry& e) { return e.subxact == subxact; });
  // Overflow stays set: the dropped texts are gone, readers use the range.
  // Recount what remains inline.
  inline_bytes_ = 0;
  for (const entry& e : entries_) inline_bytes_ += e.json.size() + 1;
}

void notify_payload::merge_into_parent(subxact_id subxact, subxact_id parent) {
  for (entry& e : entries_) {
    if (e.subxact == subxact) e.subxact = parent;
  }
}

void notify_payload::clear() {
  entries_.clear();
  inline_bytes_ = 0;
  overflow_ = false;
}

std::string notify_payload::render(std::int64_t committed_at_us) const {
  std::int64_t first = entries_.front().first;
  std::int64_t last = entries_.front().last;
  std::size_t count = 0;
  for (const entry& e : entries_) {
    first = std::min(first, e.first);
    last = std::max(last, e.last);
    count += e.count;
  }
  std::string out = "{\"v\":1,\"first\":" + std::to_string(first) +
                    ",\"last\":" + std::to_string(last) + ",\"n\":" + std::to_string(count) +
                    ",\"at\":" + std::to_string(committed_at_us);
  if (!overflow_) {
    out += ",\"changes\":[";
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (i) out += ',';
      out += entries_[i].json;
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace queuecast
