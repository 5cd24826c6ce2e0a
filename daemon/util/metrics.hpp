// Process-wide counters and the commit-to-send lag histogram, rendered in
// Prometheus text format at /metrics. The daemon runs one event-loop thread,
// so plain integers suffice.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace queuecast {

struct metrics {
  std::uint64_t connections_total = 0;
  std::int64_t connections_open = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t socket_writes = 0;  // gathered writes: several frames each when clients fall behind
  std::uint64_t snapshots_conflated = 0;  // a newer snapshot replaced an unsent one
  std::uint64_t slow_clients_closed = 0;  // delta-mode clients over their bound
  std::uint64_t client_errors = 0;        // bad input answered with an error
  // permessage-deflate (net/frame_deflate.hpp): frames compress once, on
  // whichever thread first sends one to a client of the extension, hence
  // atomics.
  std::atomic<std::uint64_t> deflate_connections{0};  // connections that negotiated it
  std::atomic<std::uint64_t> deflate_compressions{0};
  std::atomic<std::uint64_t> deflate_bytes_in{0};  // text of the frames compressed
  std::atomic<std::uint64_t> deflate_bytes_out{
      0};  // what is sent instead (the text when no smaller)
  std::map<std::string, std::uint64_t> auth_failures;        // by reason (docs/security.md)
  std::map<std::string, std::uint64_t> connections_refused;  // by limit
  std::uint64_t origin_refusals = 0;                         // browsers of other origins
  std::uint64_t db_reconnects = 0;
  std::uint64_t db_reloads = 0;     // full reloads (history pruned, seq went back, ...)
  std::uint64_t notifications = 0;  // doorbells on the channel (anyone's: content never read)
  // Captured tables whose capture trigger is disabled (capture_status()); -1
  // when unknown (an extension older than 0.2.0, or not checked yet).
  std::int64_t capture_disabled_tables = -1;
  std::uint64_t catchup_queries = 0;
  std::uint64_t replays = 0;         // resumes answered from queuecast.changes
  std::uint64_t replays_shared = 0;  // resumes answered by another's identical replay
  std::uint64_t changes_applied = 0;
  double notify_queue_usage = 0;
  bool db_connected = false;
  std::int64_t seq = 0;

  // Lag from commit (committed_at of the history rows) to the moment frames
  // were queued to clients.
  static constexpr std::array<double, 12> lag_buckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                         0.05,   0.1,   0.25,  0.5,   1,    5};
  std::array<std::uint64_t, lag_buckets.size()> lag_counts{};
  std::uint64_t lag_count = 0;
  double lag_sum = 0;
  void observe_lag(double seconds);

  std::string render(const std::map<std::string, std::size_t>& subscriptions_by_topic) const;
};

metrics& process_metrics();

}  // namespace queuecast
