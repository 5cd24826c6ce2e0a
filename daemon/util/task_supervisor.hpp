// The daemon's long-running coroutines (database feed, accept loops, timers)
// are spawned here. Each runs for as long as the daemon serves; one that
// ends anyway — with an exception of any type, or without — leaves the
// daemon unable to do its job, so it is logged (which task, what escaped,
// what that means) and `on_failure` is called, once: the daemon then stops
// with exit code 1 for its supervisor to restart it, rather than limp on.
#pragma once

#include <boost/asio.hpp>
#include <exception>
#include <functional>
#include <string>

namespace queuecast {

class task_supervisor {
 public:
  task_supervisor(boost::asio::any_io_executor executor, std::function<void()> on_failure)
      : executor_(std::move(executor)), on_failure_(std::move(on_failure)) {}

  // `meaning`: what the daemon cannot do without this task (for the log).
  void spawn(const char* task, const char* meaning, boost::asio::awaitable<void> body);

  // From now on tasks end because the daemon stops: nothing to report.
  void stopping() { stopping_ = true; }

 private:
  boost::asio::any_io_executor executor_;
  std::function<void()> on_failure_;
  bool stopping_ = false;
};

// What an exception says, whatever its type.
std::string describe(const std::exception_ptr& error);

}  // namespace queuecast
