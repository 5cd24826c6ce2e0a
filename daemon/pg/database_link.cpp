#include "database_link.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace queuecast {

namespace {

using namespace asio::experimental::awaitable_operators;

// Bounds each connection attempt, name resolution included.
constexpr std::chrono::seconds connect_timeout{10};

}  // namespace

database_link::database_link(asio::any_io_executor executor, const config& cfg)
    : executor_(executor), cfg_(cfg), listen_(executor), query_(executor) {}

asio::awaitable<void> database_link::connect() {
  co_await listen_.connect(cfg_.database, "queuecastd-listen", connect_timeout);
  co_await query_.connect(cfg_.database, "queuecastd-query", connect_timeout);
  co_await listen_.query("LISTEN queuecast");
}

void database_link::disconnect() {
  listen_.close();
  query_.close();
}

asio::awaitable<database_link::wake_reason> database_link::wait(asio::steady_timer& wake) {
  wake.expires_after(cfg_.probe_interval);
  auto woke = co_await (listen_.wait_readable(cfg_.probe_interval) ||
                        wake.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (woke.index() == 1) {
    auto [ec] = std::get<1>(woke);
    co_return ec ? wake_reason::woken : wake_reason::idle;
  }
  co_return std::get<0>(woke) ? wake_reason::doorbell : wake_reason::idle;
}

asio::awaitable<void> database_link::probe_listener() {
  co_await listen_.query("SELECT 1");
}

std::string database_link::hint_for(const std::string& error) {
  if (error.find("queuecast") != std::string::npos &&
      error.find("does not exist") != std::string::npos) {
    return "run CREATE EXTENSION queuecast in that database";
  }
  if (error.find("resolve") != std::string::npos || error.find("translate") != std::string::npos)
    return "check the host name in --database";
  if (error.find("Connection refused") != std::string::npos ||
      error.find("timed out") != std::string::npos) {
    return "check that PostgreSQL runs and --database points at it";
  }
  if (error.find("password") != std::string::npos ||
      error.find("authentication") != std::string::npos) {
    return "check the user and password in --database";
  }
  if (error.find("invalid --database") != std::string::npos)
    return "fix the connection string (key=value pairs or a postgresql:// URL)";
  return "check --database and the server log";
}

}  // namespace queuecast
