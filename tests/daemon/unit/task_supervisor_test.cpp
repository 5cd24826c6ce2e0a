// Review finding (issue 10): coroutines spawned `detached`, or with a handler
// that only logs, ended silently and left the daemon serving without its
// database feed; one that threw something other than a std::exception took
// the process down through std::terminate. Every task of the daemon is
// spawned through task_supervisor: whatever ends it outside a shutdown is
// reported once, and the daemon stops for its supervisor to restart it.
#include "util/task_supervisor.hpp"

#include <gtest/gtest.h>

namespace {

using namespace queuecast;
namespace asio = boost::asio;

struct supervised {
  asio::io_context ioc;
  int failures = 0;
  task_supervisor tasks{ioc.get_executor(), [this] { ++failures; }};
};

asio::awaitable<void> throws_std() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw std::runtime_error("the feed failed");
}

asio::awaitable<void> throws_other() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw 42;  // not a std::exception
}

asio::awaitable<void> just_ends() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

TEST(task_supervisor, a_task_that_throws_stops_the_daemon) {
  supervised s;
  s.tasks.spawn("database", "test", throws_std());
  s.ioc.run();
  EXPECT_EQ(s.failures, 1);
}

TEST(task_supervisor, any_exception_type_is_reported_not_terminating) {
  supervised s;
  s.tasks.spawn("database", "test", throws_other());
  EXPECT_NO_THROW(s.ioc.run());
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(describe(std::make_exception_ptr(42)), "an exception that is not a std::exception");
}

TEST(task_supervisor, a_task_that_ends_without_an_exception_is_a_failure_too) {
  supervised s;
  s.tasks.spawn("accept", "test", just_ends());
  s.ioc.run();
  EXPECT_EQ(s.failures, 1);
}

TEST(task_supervisor, reported_once_however_many_tasks_end) {
  supervised s;
  s.tasks.spawn("database", "test", throws_std());
  s.tasks.spawn("accept", "test", just_ends());
  s.ioc.run();
  EXPECT_EQ(s.failures, 1);
}

TEST(task_supervisor, tasks_ended_by_a_shutdown_are_not_failures) {
  supervised s;
  s.tasks.spawn("database", "test", throws_std());
  s.tasks.stopping();
  s.ioc.run();
  EXPECT_EQ(s.failures, 0);
}

}  // namespace
