// Process-wide counters and the commit-to-send lag histogram, rendered in
// Prometheus text format at /metrics. Sessions on every shard's thread
// count here: counters are relaxed atomics (a scrape needs no instant
// across them), the labelled ones and the histogram take a lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

namespace queuecast {

using counter_u64 = std::atomic<std::uint64_t>;

// A counter family with one label (failures by reason, say).
class labelled_counter {
 public:
  void add(const std::string& label) {
    std::lock_guard lock(mutex_);
    ++values_[label];
  }
  std::map<std::string, std::uint64_t> values() const {
    std::lock_guard lock(mutex_);
    return values_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> values_;
};

struct metrics {
  counter_u64 connections_total = 0;
  std::atomic<std::int64_t> connections_open = 0;
  counter_u64 messages_sent = 0;
  counter_u64 bytes_sent = 0;
  counter_u64 socket_writes = 0;  // gathered writes: several frames each when clients fall behind
  counter_u64 snapshots_conflated = 0;   // a newer snapshot replaced an unsent one
  counter_u64 slow_clients_closed = 0;   // delta-mode clients over their bound
  counter_u64 client_errors = 0;         // bad input answered with an error
  labelled_counter auth_failures;        // by reason (docs/security.md)
  labelled_counter connections_refused;  // by limit
  counter_u64 origin_refusals = 0;       // browsers of other origins
  counter_u64 db_reconnects = 0;
  counter_u64 db_reloads = 0;     // full reloads (history pruned, seq went back, ...)
  counter_u64 notifications = 0;  // doorbells on the channel (anyone's: content never read)
  // permessage-deflate (net/frame_deflate.hpp): each frame compresses once,
  // on whichever shard first sends it to a client of the extension.
  counter_u64 deflate_connections = 0;  // connections that negotiated it
  counter_u64 deflate_compressions = 0;
  counter_u64 deflate_bytes_in = 0;   // text of the frames compressed
  counter_u64 deflate_bytes_out = 0;  // what is sent instead (the text when no smaller)
  // Captured tables whose capture trigger is disabled (capture_status()); -1
  // when unknown (an extension older than 0.2.0, or not checked yet).
  std::atomic<std::int64_t> capture_disabled_tables = -1;
  counter_u64 catchup_queries = 0;
  counter_u64 replays = 0;         // resumes answered from queuecast.changes
  counter_u64 replays_shared = 0;  // resumes answered by another's identical replay
  counter_u64 changes_applied = 0;
  std::atomic<double> notify_queue_usage = 0;
  // commit_order_holder(): how long the holder has held the commit-order
  // lock at most (0: free, -1: unknown), and how many wait for it.
  std::atomic<double> commit_order_held_seconds = -1;
  std::atomic<std::int64_t> commit_order_waiters = 0;
  // commit_order_stats(): the server's own counts since it started, copied
  // at each probe; not exported while unknown (the library not preloaded).
  std::atomic<bool> commit_order_stats_known = false;
  std::atomic<std::int64_t> commit_order_acquisitions = 0;
  std::atomic<std::int64_t> commit_order_contended = 0;
  std::atomic<double> commit_order_wait_seconds = 0;
  std::atomic<double> commit_order_hold_seconds = 0;
  std::atomic<std::int64_t> commit_order_long_holds = 0;
  std::atomic<bool> db_connected = false;
  std::atomic<std::int64_t> seq = 0;

  // Lag from commit (committed_at of the history rows) to the moment frames
  // were queued to clients.
  static constexpr std::array<double, 12> lag_buckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                         0.05,   0.1,   0.25,  0.5,   1,    5};
  void observe_lag(double seconds);

  std::string render(const std::map<std::string, std::size_t>& subscriptions_by_topic) const;

 private:
  void write_lag_histogram(std::ostringstream& out) const;

  mutable std::mutex lag_mutex_;
  std::array<std::uint64_t, lag_buckets.size()> lag_counts_{};  // guarded by lag_mutex_
  std::uint64_t lag_count_ = 0;
  double lag_sum_ = 0;
};

metrics& process_metrics();

}  // namespace queuecast
