// One libpq connection driven by the Asio event loop: libpq's socket is
// watched with async_wait, and libpq is only ever called when it is ready, so
// nothing blocks the loop. Coroutine interface; failures throw pg_failure.
#pragma once

#include <libpq-fe.h>

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace queuecast {

namespace asio = boost::asio;

struct pg_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct pg_result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, pg_result_deleter>;

class pg_connection {
 public:
  explicit pg_connection(asio::any_io_executor executor) : executor_(executor) {}
  ~pg_connection() { close(); }
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  // Connects without blocking; `timeout` bounds the whole attempt.
  asio::awaitable<void> connect(const std::string& conninfo, std::chrono::milliseconds timeout);

  // Runs one statement (text parameters) and returns its last result.
  asio::awaitable<pg_result> query(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Waits until the server sent something (a notification) or `timeout`
  // passed; returns false on timeout.
  asio::awaitable<bool> wait_readable(std::chrono::milliseconds timeout);

  // Reads what arrived and returns the payloads of notifications on it.
  std::vector<std::string> take_notifications();

  void close();
  bool connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  std::string error_message() const;

 private:
  enum class direction { read, write };
  asio::awaitable<bool> wait(direction d, std::chrono::steady_clock::time_point deadline);
  void watch_socket();

  asio::any_io_executor executor_;
  PGconn* conn_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  int watched_fd_ = -1;
};

}  // namespace queuecast
