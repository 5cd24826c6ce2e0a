#include "sql_service.hpp"

#include "../util/log.hpp"

namespace queuecast {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);

}  // namespace

sql_service::sql_service(std::string conninfo, std::string name, std::size_t max_connections,
                         std::size_t max_waiting)
    : conninfo_(std::move(conninfo)),
      name_(std::move(name)),
      max_connections_(max_connections),
      max_waiting_(max_waiting),
      thread_([this] { ioc_.run(); }) {}

sql_service::~sql_service() {
  work_.reset();
  ioc_.stop();
  thread_.join();
}

asio::awaitable<void> sql_service::run(job work) {
  co_await asio::co_spawn(ioc_, execute(std::move(work)), asio::use_awaitable);
}

asio::awaitable<void> sql_service::execute(job work) {
  std::unique_ptr<pg_connection> connection = co_await take();
  std::exception_ptr failure;
  try {
    co_await work(*connection);
  } catch (...) {
    failure = std::current_exception();
  }
  // A job that failed inside its transaction leaves it open: end it before
  // the next request gets the connection.
  if (connection->in_transaction()) {
    try {
      co_await connection->query("ROLLBACK");
    } catch (const pg_failure&) {
      connection->close();
    }
  }
  give_back(std::move(connection));
  if (failure) std::rethrow_exception(failure);
}

// An idle connection, a new one while fewer than max_connections are open,
// or the next one given back.
asio::awaitable<std::unique_ptr<pg_connection>> sql_service::take() {
  while (idle_.empty() && open_ >= max_connections_) {
    if (waiting_.size() >= max_waiting_)
      throw sql_service_busy("too many requests wait for the database");
    auto turn = std::make_shared<asio::steady_timer>(ioc_, asio::steady_timer::time_point::max());
    waiting_.push_back(turn);
    co_await turn->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    co_return connection;
  }
  ++open_;
  auto connection = std::make_unique<pg_connection>(ioc_.get_executor());
  try {
    co_await connection->connect(conninfo_, name_, connect_timeout);
    // The API's statements are short. On a long history the planner's cost
    // estimate passes jit_above_cost, and compiling then takes longer than
    // running: 42 ms of a 43 ms phase detail on 10 million history rows.
    co_await connection->query("SET jit = off");
  } catch (const pg_failure& e) {
    --open_;
    log(log_level::warn, "request_connection_failed",
        {{"service", name_},
         {"error", e.what()},
         {"hint", "check the conninfo and that the database accepts connections"}});
    if (!waiting_.empty()) {
      waiting_.front()->cancel();
      waiting_.pop_front();
    }
    throw;
  }
  co_return connection;
}

// A connection that failed is dropped; the next request opens a new one.
void sql_service::give_back(std::unique_ptr<pg_connection> connection) {
  if (connection->connected()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  if (!waiting_.empty()) {
    waiting_.front()->cancel();
    waiting_.pop_front();
  }
}

}  // namespace queuecast
