// The daemon's two connections to PostgreSQL: one that LISTENs for the
// doorbell and one for queries (a LISTEN connection must not sit in long
// reads, or notifications pile up in the server's queue). This part knows
// how to connect, wait for the doorbell and probe; what is read is the
// history_reader's business, what it means is the feed's.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <string>

#include "../config.hpp"
#include "connection.hpp"

namespace queuecast {

class database_link {
 public:
  database_link(asio::any_io_executor executor, const config& cfg);

  // Both connections, then LISTEN. Throws pg_failure.
  asio::awaitable<void> connect();
  void disconnect();
  pg_connection& queries() { return query_; }

  enum class wake_reason { doorbell, woken, idle };
  // Waits until the doorbell rang, `wake` was cancelled, or a probe interval passed.
  asio::awaitable<wake_reason> wait(asio::steady_timer& wake);
  // How many notifications rang since the last call; never blocks. Includes
  // those that arrived while the probe ran on the LISTEN connection.
  std::size_t take_doorbell() { return listen_.take_notifications(); }
  // Proves the LISTEN connection is alive (a dead one never rings).
  asio::awaitable<void> probe_listener();

  // What to tell an operator about a connection error.
  static std::string hint_for(const std::string& error);

 private:
  asio::any_io_executor executor_;
  const config& cfg_;
  pg_connection listen_;
  pg_connection query_;
};

}  // namespace queuecast
