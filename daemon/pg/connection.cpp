#include "connection.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace queuecast {

using namespace asio::experimental::awaitable_operators;

std::string pg_connection::error_message() const {
  if (!conn_) return "not connected";
  // libpq's messages span lines ("...failed: ...\n\tIs the server running..."):
  // fold them so a log line stays one line.
  std::string message;
  for (char c : std::string(PQerrorMessage(conn_))) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && !message.empty() && message.back() == ' ') continue;
    message += c;
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

void pg_connection::close() {
  if (socket_) {
    socket_->cancel();
    socket_->release();  // libpq owns the descriptor
    socket_.reset();
  }
  watched_fd_ = -1;
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

// libpq may change its socket while connecting (another address, SSL retry).
void pg_connection::watch_socket() {
  int fd = PQsocket(conn_);
  if (fd == watched_fd_ && socket_) return;
  if (socket_) socket_->release();
  socket_ = std::make_unique<asio::posix::stream_descriptor>(executor_, fd);
  watched_fd_ = fd;
}

asio::awaitable<bool> pg_connection::wait(direction d,
                                          std::chrono::steady_clock::time_point deadline) {
  watch_socket();
  asio::steady_timer timer(executor_, deadline);
  auto ready = d == direction::read ? asio::posix::stream_descriptor::wait_read
                                    : asio::posix::stream_descriptor::wait_write;
  auto result = co_await (socket_->async_wait(ready, asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_return result.index() == 0;
}

asio::awaitable<void> pg_connection::connect(const std::string& conninfo,
                                             std::chrono::milliseconds timeout) {
  close();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  conn_ = PQconnectStart(conninfo.c_str());
  if (!conn_) throw pg_failure("out of memory starting a connection");
  if (PQstatus(conn_) == CONNECTION_BAD) throw pg_failure(error_message());
  PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
  while (poll != PGRES_POLLING_OK) {
    if (poll == PGRES_POLLING_FAILED) throw pg_failure(error_message());
    bool ready =
        co_await wait(poll == PGRES_POLLING_READING ? direction::read : direction::write, deadline);
    if (!ready) throw pg_failure("connection timed out");
    poll = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) throw pg_failure(error_message());
  watch_socket();
}

asio::awaitable<pg_result> pg_connection::query(
    const std::string& sql, const std::vector<std::optional<std::string>>& params,
    std::chrono::milliseconds timeout) {
  if (!connected()) throw pg_failure("not connected");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, 0)) {
    throw pg_failure(error_message());
  }
  int flushed;
  while ((flushed = PQflush(conn_)) == 1) {
    if (!co_await wait(direction::write, deadline)) throw pg_failure("query timed out sending");
  }
  if (flushed < 0) throw pg_failure(error_message());
  pg_result last;
  while (true) {
    while (PQisBusy(conn_)) {
      if (!co_await wait(direction::read, deadline)) throw pg_failure("query timed out");
      if (!PQconsumeInput(conn_)) throw pg_failure(error_message());
    }
    PGresult* r = PQgetResult(conn_);
    if (!r) break;
    last.reset(r);
  }
  if (!last) throw pg_failure("no result");
  ExecStatusType status = PQresultStatus(last.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(last.get());
    for (char& c : message) {
      if (c == '\n' || c == '\t') c = ' ';
    }
    while (!message.empty() && message.back() == ' ') message.pop_back();
    const char* state = PQresultErrorField(last.get(), PG_DIAG_SQLSTATE);
    throw pg_failure(std::string(state ? state : "") + " " + message);
  }
  co_return last;
}

asio::awaitable<bool> pg_connection::wait_readable(std::chrono::milliseconds timeout) {
  if (!connected()) throw pg_failure("not connected");
  co_return co_await wait(direction::read, std::chrono::steady_clock::now() + timeout);
}

std::vector<std::string> pg_connection::take_notifications() {
  if (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK) throw pg_failure(error_message());
  std::vector<std::string> payloads;
  while (PGnotify* note = PQnotifies(conn_)) {
    payloads.emplace_back(note->extra);
    PQfreemem(note);
  }
  return payloads;
}

}  // namespace queuecast
