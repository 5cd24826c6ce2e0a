// The NOTIFY doorbell of one transaction: which seq range it wrote, how many
// changes, and when (docs/capture.md). No row data: any login role may LISTEN
// on the channel, and readers take the changes from queuecast.changes, which
// only the capture writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace queuecast {

// The seqs a doorbell announces: one transaction's, or (rung by the doorbell
// worker, extension/doorbell.hpp) several transactions' together: the
// smallest and largest seq and how many changes. count 0: nothing.
struct seq_range {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t count = 0;
};

// The payload text, {"v":2,"first":..,"last":..,"n":..,"at":..}.
// committed_at_us: the commit time of `last` in microseconds since the Unix
// epoch, so a reader can measure commit-to-delivery lag. Always far below
// the 8000-byte NOTIFY limit: five numbers.
std::string render_doorbell(const seq_range& range, std::int64_t committed_at_us);

class notify_payload {
 public:
  using subxact_id = std::uint32_t;

  void add(subxact_id subxact, std::int64_t seq);
  // A rolled-back savepoint takes its changes with it.
  void drop_subxact(subxact_id subxact);
  // A released savepoint hands its changes to its parent.
  void merge_into_parent(subxact_id subxact, subxact_id parent);
  void clear() { runs_.clear(); }

  bool empty() const { return runs_.empty(); }
  // The transaction's changes so far; allocates nothing (called after commit).
  seq_range range() const;
  std::string render(std::int64_t committed_at_us) const {
    return render_doorbell(range(), committed_at_us);
  }

 private:
  // A run of consecutive changes of one subtransaction, so a 10-million-row
  // UPDATE costs one entry.
  struct run {
    subxact_id subxact;
    std::int64_t first;
    std::int64_t last;
    std::int64_t count;
  };
  std::vector<run> runs_;
};

}  // namespace queuecast
