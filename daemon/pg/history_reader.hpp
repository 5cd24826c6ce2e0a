// Every read of queuecast's tables the daemon makes, each inside one
// REPEATABLE READ READ ONLY transaction that also reads where the history
// stands (current_seq, resumable_from, history_id). A prune() or a restore
// that commits between "is the history still there?" and "read it" cannot
// give a partial answer: both see the same snapshot. Whether the history
// still fits our state is decided in one place, judge(); the reads return its
// verdict, never throw it.
#pragma once

#include <boost/asio.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../state/store.hpp"
#include "connection.hpp"

namespace queuecast {

// Where the database's history stands.
struct history_position {
  std::int64_t current = 0;    // newest seq (current_seq())
  std::int64_t resumable = 0;  // every seq above this is still there (resumable_from())
  std::string id;              // history_id(): new when the extension is re-created
};

enum class history_verdict {
  follows,      // the rows asked for are all there and continue our state
  replaced,     // another history (extension re-created, another database)
  went_back,    // older than our state (restored backup, failover to a standby behind)
  pruned_past,  // prune() removed rows we need
  unreadable,   // a row that does not parse
};

struct history_judgement {
  history_verdict verdict = history_verdict::follows;
  std::string reason;  // for logs and clients; empty when it follows
  bool follows() const { return verdict == history_verdict::follows; }
};

// The one decision: may a reader at `our_seq` of history `our_id`, needing
// every row after `needed_after`, go on with what the database has?
history_judgement judge(const history_position& database, const std::string& our_id,
                        std::int64_t our_seq, std::int64_t needed_after);

// A consistent load: the state at `position.current`.
struct loaded_state {
  history_position position;
  state_builder state;
};

// History rows after a seq, with the verdict on them.
struct history_batch {
  history_judgement judgement;
  std::vector<change_row> rows;
};

// For a replay: the rows touched after `since`, up to the state's seq.
struct touched_rows {
  history_judgement judgement;
  std::optional<std::vector<touched_row>> rows;  // nullopt: too many, a snapshot is cheaper
};

// Tables whose capture is off (capture_status(), extension 0.2.0).
struct capture_report {
  bool known = false;  // false: an older extension, or no right to ask
  std::string error;   // why it is not known, when the statement failed
  std::vector<std::pair<std::string, std::string>> disabled;  // table, detail
};

// Who holds the commit-order lock (commit_order_holder(), extension 0.2.0).
struct commit_order_report {
  bool known = false;  // false: an older extension, or the statement failed
  bool held = false;
  // How long the holder has held it at most (since its COMMIT began); -1
  // when not visible to the daemon's role (another role's backend without
  // pg_read_all_stats).
  double held_seconds = 0;
  std::int64_t waiters = 0;
  std::string holder;  // "pid <pid> (<role>, <application>)", for the log
  // commit_order_stats(): the server's figures since it started; unknown
  // (no row) when the library is not preloaded.
  bool stats_known = false;
  std::int64_t acquisitions = 0;
  std::int64_t contended = 0;
  double wait_seconds = 0;
  double hold_seconds = 0;
  std::int64_t long_holds = 0;
};

class history_reader {
 public:
  explicit history_reader(pg_connection& conn) : conn_(conn) {}

  // Every queue and workflow, streamed row by row (no value holds more than
  // one phase or workflow), at one seq.
  asio::awaitable<loaded_state> load();

  // At most `limit` rows after `after_seq`, in seq order.
  asio::awaitable<history_batch> read_after(const std::string& our_id, std::int64_t after_seq,
                                            std::size_t limit);

  // The rows touched in (since, upto]; upto is the state's seq.
  asio::awaitable<touched_rows> read_touched(const std::string& our_id, std::int64_t since,
                                             std::int64_t upto);

  // Whether the history still fits a state at `our_seq` (the idle check).
  asio::awaitable<history_judgement> check(const std::string& our_id, std::int64_t our_seq);

  asio::awaitable<capture_report> capture_status();
  // committed_at (Unix microseconds) of the history row at `seq`, or nullopt
  // when there is none: with the commit-order lock released at visibility
  // (docs/capture.md), a crash can take back rows a reader saw, and the
  // sequence can hand their seqs out again.
  asio::awaitable<std::optional<std::int64_t>> committed_at(std::int64_t seq);
  asio::awaitable<commit_order_report> commit_order_holder();

  // pg_notification_queue_usage(): how full the server's NOTIFY queue is.
  asio::awaitable<double> notify_queue_usage();

 private:
  // A full batch in REPEATABLE READ, extended to its last transaction's end.
  asio::awaitable<history_batch> read_whole_transactions(const std::string& our_id,
                                                         std::int64_t after_seq, std::size_t limit);
  // tables_to_lock: locked (ACCESS SHARE) before the snapshot is taken.
  asio::awaitable<history_position> begin_snapshot(const char* tables_to_lock = nullptr);
  asio::awaitable<void> end_snapshot();

  pg_connection& conn_;
};

}  // namespace queuecast
