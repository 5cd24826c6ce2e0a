// The NOTIFY doorbell of one transaction: the seq range it wrote and, when
// they fit, the changes themselves (docs/capture.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace queuecast {

// PostgreSQL rejects payloads of 8000 bytes or more; leave room for the
// envelope so the whole payload stays well below it.
constexpr std::size_t inline_budget = 7600;

class notify_payload {
 public:
  using subxact_id = std::uint32_t;

  void add(subxact_id subxact, std::int64_t seq, std::string inline_json);
  // A rolled-back savepoint takes its changes with it.
  void drop_subxact(subxact_id subxact);
  // A released savepoint hands its changes to its parent.
  void merge_into_parent(subxact_id subxact, subxact_id parent);
  void clear();

  bool empty() const { return entries_.empty(); }
  // committed_at_us: the commit time in microseconds since the Unix epoch,
  // so a reader can measure commit-to-delivery lag.
  std::string render(std::int64_t committed_at_us) const;

 private:
  // One change while inlining; once over budget, a run of changes of one
  // subtransaction, so a 10-million-row UPDATE costs a few bytes here.
  struct entry {
    subxact_id subxact;
    std::int64_t first;
    std::int64_t last;
    std::size_t count;
    std::string json;  // empty once the budget is exceeded
  };
  std::vector<entry> entries_;
  std::size_t inline_bytes_ = 0;
  bool overflow_ = false;  // too much to inline: send the range only
};

}  // namespace queuecast
