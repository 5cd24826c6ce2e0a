#include "task_supervisor.hpp"

#include "log.hpp"

namespace queuecast {

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

void task_supervisor::spawn(const char* task, const char* meaning,
                            boost::asio::awaitable<void> body) {
  boost::asio::co_spawn(executor_, std::move(body),
                        [this, task, meaning](const std::exception_ptr& error) {
                          if (stopping_) return;  // ended by the shutdown itself
                          log(log_level::error, "task_failed",
                              {{"task", task},
                               {"error", error ? describe(error) : "ended"},
                               {"meaning", meaning},
                               {"action", "shutting down with exit code 1"}});
                          stopping_ = true;
                          on_failure_();
                        });
}

}  // namespace queuecast
