// One libpq connection driven by the Asio event loop: libpq's socket is
// watched with async_wait, and libpq is only ever called when it is ready, so
// nothing blocks the loop — host names included: they are resolved with
// Asio's resolver before libpq sees them. Coroutine interface; failures
// throw pg_failure.
#pragma once

#include <libpq-fe.h>

#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace queuecast {

namespace asio = boost::asio;

struct pg_failure : std::runtime_error {
  explicit pg_failure(const std::string& message, std::string code = {}, std::string said = {})
      : std::runtime_error(message), sqlstate(std::move(code)), primary(std::move(said)) {}
  // Of a statement the server refused (empty otherwise): its SQLSTATE and
  // its primary message, without severity or hint.
  std::string sqlstate;
  std::string primary;
};

struct pg_result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, pg_result_deleter>;

// Bounds one statement; the load streams and is bounded per row instead.
inline constexpr std::chrono::seconds statement_timeout{10};

class pg_connection {
 public:
  explicit pg_connection(asio::any_io_executor executor) : executor_(executor) {}
  ~pg_connection() { close(); }
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  // Connects without blocking; `timeout` bounds the whole attempt, name
  // resolution included. `application_name` overrides the conninfo's.
  asio::awaitable<void> connect(const std::string& conninfo, const std::string& application_name,
                                std::chrono::milliseconds timeout);

  // Runs one statement with text parameters, or without parameters any
  // number of statements separated by `;`, and returns the last result; the
  // first that fails throws.
  asio::awaitable<pg_result> query(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params = {},
                                   std::chrono::milliseconds timeout = statement_timeout);

  // Runs one statement in libpq's single-row mode: `on_row` sees each row as
  // it arrives, so a result of any size never sits in memory whole.
  // `row_timeout` bounds the wait for each next row, not the whole result.
  asio::awaitable<void> stream(const std::string& sql,
                               const std::function<void(const PGresult& row)>& on_row,
                               std::chrono::milliseconds row_timeout = statement_timeout);

  // Waits until the server sent something, or a notification is already
  // waiting, or `timeout` passed; returns false on timeout.
  asio::awaitable<bool> wait_readable(std::chrono::milliseconds timeout);

  // How many notifications arrived since the last call: those read while a
  // statement ran on this connection, and whatever the socket holds now.
  std::size_t take_notifications();

  void close() noexcept;
  bool connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  // Inside a transaction block (open or failed), between statements.
  bool in_transaction() const { return connected() && PQtransactionStatus(conn_) != PQTRANS_IDLE; }
  std::string error_message() const;

 private:
  enum class direction { read, write };
  asio::awaitable<bool> wait(direction d, std::chrono::steady_clock::time_point deadline);
  asio::awaitable<void> send(std::chrono::steady_clock::time_point deadline);
  asio::awaitable<pg_result> next_result(std::chrono::steady_clock::time_point deadline);
  void keep_notifications();
  void watch_socket();

  asio::any_io_executor executor_;
  PGconn* conn_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  int watched_fd_ = -1;
  // Read off the socket with a statement's results; counted, never parsed.
  std::size_t notifications_ = 0;
};

// The sqlstate and message of a failed result, on one line.
std::string describe_failure(const PGresult& result);

}  // namespace queuecast
