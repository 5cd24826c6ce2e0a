// Statements that HTTP requests need (a phase's timeline, an operator's
// action), run on a thread and connections of their own: a slow statement
// never holds up the feed or a shard's clients.
//
// Connections are opened when first needed (at most max_connections, each
// kept for the next request) and dropped when they fail; a request finds the
// database down as a pg_failure, never as a hang: connecting and every
// statement are bounded.
#pragma once

#include <boost/asio.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"

namespace queuecast {

// Too many requests are already waiting for a connection.
struct sql_service_busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class sql_service {
 public:
  // A request's statements; it runs on the service's thread with a
  // connection to itself, and returns when they are done.
  using job = std::function<asio::awaitable<void>(pg_connection&)>;

  // `name` becomes the connections' application_name.
  sql_service(std::string conninfo, std::string name, std::size_t max_connections = 2,
              std::size_t max_waiting = 64);
  ~sql_service();
  sql_service(const sql_service&) = delete;
  sql_service& operator=(const sql_service&) = delete;

  // Runs `work` and resumes the caller on its own executor when it is done.
  // Throws what the job throws, pg_failure when no connection can be had, or
  // sql_service_busy.
  asio::awaitable<void> run(job work);

 private:
  asio::awaitable<void> execute(job work);
  asio::awaitable<std::unique_ptr<pg_connection>> take();
  void give_back(std::unique_ptr<pg_connection> connection);

  std::string conninfo_;
  std::string name_;
  std::size_t max_connections_;
  std::size_t max_waiting_;
  // Everything below is used on the service's thread only.
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::vector<std::unique_ptr<pg_connection>> idle_;
  std::size_t open_ = 0;  // idle and in use
  std::deque<std::shared_ptr<asio::steady_timer>> waiting_;
  std::thread thread_;
};

}  // namespace queuecast
