#include "metrics.hpp"

#include <sstream>

namespace queuecast {

metrics& process_metrics() {
  static metrics instance;
  return instance;
}

void metrics::observe_lag(double seconds) {
  std::lock_guard lock(lag_mutex_);
  for (std::size_t i = 0; i < lag_buckets.size(); ++i) {
    if (seconds <= lag_buckets[i]) lag_counts_[i]++;
  }
  lag_count_++;
  lag_sum_ += seconds;
}

namespace {

void counter(std::ostringstream& out, const char* name, const char* help, double value,
             const char* type = "counter") {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
      << name << ' ' << value << '\n';
}

// One counter family with a label, e.g. failures by reason.
void labelled(std::ostringstream& out, const char* name, const char* help, const char* label,
              const std::map<std::string, std::uint64_t>& values) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
  for (const auto& [key, value] : values)
    out << name << '{' << label << "=\"" << key << "\"} " << value << '\n';
}

void deflate_counters(std::ostringstream& out, const metrics& m) {
  counter(out, "queuecast_deflate_connections_total",
          "WebSocket connections that negotiated permessage-deflate.", m.deflate_connections);
  counter(out, "queuecast_deflate_compressions_total",
          "Frames compressed for permessage-deflate (once per frame, whatever the clients).",
          m.deflate_compressions);
  counter(out, "queuecast_deflate_bytes_in_total", "Bytes of the frames compressed.",
          m.deflate_bytes_in);
  counter(out, "queuecast_deflate_bytes_out_total",
          "Bytes of their compressed forms (the text's when compression did not shrink it).",
          m.deflate_bytes_out);
}

// How the daemon has read queuecast.changes: catch-ups, replays for resuming
// clients, rows applied.
void history_counters(std::ostringstream& out, const metrics& m) {
  counter(out, "queuecast_catchup_queries_total", "Reads of queuecast.changes.", m.catchup_queries);
  counter(out, "queuecast_replays_total", "Resumes answered from queuecast.changes.", m.replays);
  counter(out, "queuecast_replays_shared_total",
          "Resumes answered with another client's identical replay.", m.replays_shared);
  counter(out, "queuecast_changes_applied_total", "History rows applied to the state.",
          m.changes_applied);
}

// The lock's state now (who holds it, who waits), then the server's counters
// (queuecast.commit_order_stats()), which restart from zero when PostgreSQL
// does, as counters may, and are left out when the server has none (not
// preloaded, extension < 0.2.0).
void commit_order_figures(std::ostringstream& out, const metrics& m) {
  counter(out, "queuecast_commit_order_held_seconds",
          "How long the holder of the commit-order lock has held it at most (since its COMMIT "
          "began); 0 when free, -1 when unknown (extension < 0.2.0).",
          m.commit_order_held_seconds, "gauge");
  counter(out, "queuecast_commit_order_waiters",
          "Capturing commits waiting for the commit-order lock.",
          static_cast<double>(m.commit_order_waiters), "gauge");
  if (!m.commit_order_stats_known) return;
  counter(out, "queuecast_commit_order_acquisitions_total",
          "Capturing commits that took the commit-order lock, counted by the server since it "
          "started.",
          static_cast<double>(m.commit_order_acquisitions));
  counter(out, "queuecast_commit_order_contended_total",
          "Of those, commits that found the lock taken and waited for it.",
          static_cast<double>(m.commit_order_contended));
  counter(out, "queuecast_commit_order_wait_seconds_total",
          "Time capturing commits waited for the commit-order lock, in all.",
          m.commit_order_wait_seconds);
  counter(out, "queuecast_commit_order_hold_seconds_total",
          "Time the commit-order lock was held, in all.", m.commit_order_hold_seconds);
  counter(out, "queuecast_commit_order_long_holds_total",
          "Holds of the commit-order lock of 1 ms or more.",
          static_cast<double>(m.commit_order_long_holds));
}

}  // namespace

void metrics::write_lag_histogram(std::ostringstream& out) const {
  out << "# HELP queuecast_commit_to_send_seconds Commit time to frames queued for clients.\n"
      << "# TYPE queuecast_commit_to_send_seconds histogram\n";
  std::lock_guard lock(lag_mutex_);
  for (std::size_t i = 0; i < lag_buckets.size(); ++i) {
    out << "queuecast_commit_to_send_seconds_bucket{le=\"" << lag_buckets[i] << "\"} "
        << lag_counts_[i] << '\n';
  }
  out << "queuecast_commit_to_send_seconds_bucket{le=\"+Inf\"} " << lag_count_ << '\n'
      << "queuecast_commit_to_send_seconds_sum " << lag_sum_ << '\n'
      << "queuecast_commit_to_send_seconds_count " << lag_count_ << '\n';
}

std::string metrics::render(
    const std::map<std::string, std::size_t>& subscriptions_by_topic) const {
  std::ostringstream out;
  out.precision(10);
  counter(out, "queuecast_connections_total", "WebSocket connections accepted.", connections_total);
  counter(out, "queuecast_connections_open", "WebSocket connections open now.", connections_open,
          "gauge");
  counter(out, "queuecast_messages_sent_total", "Frames queued to clients.", messages_sent);
  counter(out, "queuecast_bytes_sent_total", "Bytes written to WebSocket clients.", bytes_sent);
  counter(out, "queuecast_socket_writes_total",
          "Writes to WebSocket clients' sockets, each gathering every frame that waited.",
          socket_writes);
  deflate_counters(out, *this);
  counter(out, "queuecast_snapshots_conflated_total",
          "Snapshots replaced by a newer one before a slow client read them.", snapshots_conflated);
  counter(out, "queuecast_slow_clients_closed_total",
          "Delta-mode clients closed (4001) for exceeding their queue bound.", slow_clients_closed);
  counter(out, "queuecast_client_errors_total", "Bad client input answered with an error.",
          client_errors);
  labelled(out, "queuecast_auth_failures_total",
           "Refused credentials, subscriptions and connections, by reason.", "reason",
           auth_failures.values());
  labelled(out, "queuecast_connections_refused_total", "Connections refused at a limit, by limit.",
           "limit", connections_refused.values());
  counter(out, "queuecast_origin_refusals_total",
          "Browser requests refused because of their Origin.", origin_refusals);
  counter(out, "queuecast_db_reconnects_total", "Reconnections to the database after a failure.",
          db_reconnects);
  counter(out, "queuecast_db_reloads_total",
          "Full state reloads (history pruned, seq went back, state diverged).", db_reloads);
  counter(out, "queuecast_notifications_total",
          "NOTIFY queuecast messages received (doorbells from anyone; payloads are never read).",
          notifications);
  counter(out, "queuecast_capture_disabled_tables",
          "Captured tables whose capture trigger is disabled (-1: unknown, extension < 0.2.0).",
          static_cast<double>(capture_disabled_tables), "gauge");
  history_counters(out, *this);
  counter(out, "queuecast_notify_queue_usage", "pg_notification_queue_usage() of the database.",
          notify_queue_usage, "gauge");
  commit_order_figures(out, *this);
  counter(out, "queuecast_db_connected", "1 while both database connections are up.",
          db_connected ? 1 : 0, "gauge");
  counter(out, "queuecast_seq", "Newest history seq applied.", static_cast<double>(seq), "gauge");
  out << "# HELP queuecast_subscriptions Subscriptions per topic.\n# TYPE queuecast_subscriptions "
         "gauge\n";
  for (const auto& [topic, count] : subscriptions_by_topic) {
    out << "queuecast_subscriptions{topic=\"" << topic << "\"} " << count << '\n';
  }
  write_lag_histogram(out);
  return out.str();
}

}  // namespace queuecast
