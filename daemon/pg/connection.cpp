#include "connection.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "conninfo.hpp"

namespace queuecast {

using namespace asio::experimental::awaitable_operators;

namespace {

// libpq's messages span lines ("...failed: ...\n\tIs the server running..."):
// fold them so a log line stays one line.
std::string one_line(const char* text) {
  std::string message;
  for (char c : std::string(text ? text : "")) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && !message.empty() && message.back() == ' ') continue;
    message += c;
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

}  // namespace

std::string describe_failure(const PGresult& result) {
  const char* state = PQresultErrorField(&result, PG_DIAG_SQLSTATE);
  return std::string(state ? state : "") + " " + one_line(PQresultErrorMessage(&result));
}

std::string pg_connection::error_message() const {
  if (!conn_) return "not connected";
  return one_line(PQerrorMessage(conn_));
}

// Never throws: it runs in the destructor and on every failure path.
void pg_connection::close() noexcept {
  if (socket_) {
    boost::system::error_code ignored;
    socket_->cancel(ignored);
    try {
      socket_->release();  // libpq owns the descriptor
    } catch (...) {        // Asio's release() does not throw, but does not say so
    }
    socket_.reset();
  }
  watched_fd_ = -1;
  notifications_ = 0;
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
                                             const std::string& application_name,
                                             std::chrono::milliseconds timeout) {
  close();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  conninfo_params params = co_await resolve_hosts(parse_conninfo(conninfo), timeout);
  std::erase_if(params, [](const auto& p) { return p.first == "application_name"; });
  params.emplace_back("application_name", application_name);
  std::vector<const char*> keywords, values;
  for (const auto& [key, value] : params) {
    keywords.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keywords.data(), values.data(), 0);
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

asio::awaitable<void> pg_connection::send(std::chrono::steady_clock::time_point deadline) {
  int flushed;
  while ((flushed = PQflush(conn_)) == 1) {
    if (!co_await wait(direction::write, deadline)) throw pg_failure("query timed out sending");
  }
  if (flushed < 0) throw pg_failure(error_message());
}

// The next result of the running statement (null: no more). Notifications
// that arrive with it are counted here: libpq takes them off the socket, so
// a later wait on the socket would not see them (they would wait for the
// next commit's notification).
asio::awaitable<pg_result> pg_connection::next_result(
    std::chrono::steady_clock::time_point deadline) {
  while (PQisBusy(conn_)) {
    if (!co_await wait(direction::read, deadline)) throw pg_failure("query timed out");
    if (!PQconsumeInput(conn_)) throw pg_failure(error_message());
  }
  pg_result result(PQgetResult(conn_));
  keep_notifications();
  co_return result;
}

void pg_connection::keep_notifications() {
  while (PGnotify* note = PQnotifies(conn_)) {
    ++notifications_;
    PQfreemem(note);
  }
}

asio::awaitable<pg_result> pg_connection::query(
    const std::string& sql, const std::vector<std::optional<std::string>>& params,
    std::chrono::milliseconds timeout) {
  if (!connected()) throw pg_failure("not connected");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Without parameters, the simple protocol: one round trip for several
  // statements (BEGIN and the first read of a snapshot, say).
  int sent = params.empty() ? PQsendQuery(conn_, sql.c_str())
                            : PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                                nullptr, values.data(), nullptr, nullptr, 0);
  if (!sent) throw pg_failure(error_message());
  co_await send(deadline);
  pg_result last;
  std::string failure;  // the first statement that failed (the rest did not run)
  std::string sqlstate;
  std::string primary;
  while (pg_result r = co_await next_result(deadline)) {
    ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && failure.empty()) {
      failure = describe_failure(*r);
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      sqlstate = state ? state : "";
      const char* said = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
      primary = said ? said : "";
    }
    last = std::move(r);
  }
  if (!failure.empty()) throw pg_failure(failure, sqlstate, primary);
  if (!last) throw pg_failure("no result");
  co_return last;
}

asio::awaitable<void> pg_connection::stream(const std::string& sql,
                                            const std::function<void(const PGresult&)>& on_row,
                                            std::chrono::milliseconds row_timeout) {
  if (!connected()) throw pg_failure("not connected");
  if (!PQsendQuery(conn_, sql.c_str())) throw pg_failure(error_message());
  if (!PQsetSingleRowMode(conn_)) throw pg_failure("cannot stream: " + error_message());
  co_await send(std::chrono::steady_clock::now() + row_timeout);
  std::exception_ptr failure;
  while (pg_result r = co_await next_result(std::chrono::steady_clock::now() + row_timeout)) {
    ExecStatusType status = PQresultStatus(r.get());
    if (failure) continue;  // the rest is read and dropped: the connection stays usable
    if (status == PGRES_SINGLE_TUPLE) {
      try {
        on_row(*r);
      } catch (...) {
        failure = std::current_exception();
      }
    } else if (status != PGRES_TUPLES_OK) {
      failure = std::make_exception_ptr(pg_failure(describe_failure(*r)));
    }
  }
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<bool> pg_connection::wait_readable(std::chrono::milliseconds timeout) {
  if (!connected()) throw pg_failure("not connected");
  if (notifications_ > 0) co_return true;
  co_return co_await wait(direction::read, std::chrono::steady_clock::now() + timeout);
}

std::size_t pg_connection::take_notifications() {
  if (!conn_ || !PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK)
    throw pg_failure(error_message());
  keep_notifications();
  return std::exchange(notifications_, 0);
}

}  // namespace queuecast
