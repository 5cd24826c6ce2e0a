// Starts a real queuecastd process on a free loopback port against a fresh
// database of the test cluster, and stops it (SIGTERM) at the end.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../extension/pg_session.hpp"

extern char** environ;

namespace qc_test {

inline int free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

// A request to the daemon; {status, body}. `headers` are set on the
// request as they are (Host defaults to 127.0.0.1). `from`: the loopback
// address to connect from (a probe that must not take a slot of 127.0.0.1's
// per-address share uses another one).
inline std::pair<int, std::string> http_call(
    int port, boost::beast::http::verb method, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    const std::string& body = {}, const std::string& from = {}) {
  namespace http = boost::beast::http;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  if (!from.empty()) {
    socket.open(boost::asio::ip::tcp::v4());
    socket.bind({boost::asio::ip::make_address(from), 0});
  }
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::string_body> req(method, path, 11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (method != http::verb::get || !body.empty()) req.prepare_payload();
  http::write(socket, req);
  // The answer within 10 s, or an exception: a daemon that accepted (the
  // kernel does that for it) but does not answer, a frozen one say, must
  // not hang the test. Asio's blocking reads have no timeout: read
  // asynchronously, run for at most that long.
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::beast::error_code ec = boost::asio::error::would_block;
  http::async_read(socket, buffer, res, [&](boost::beast::error_code e, std::size_t) { ec = e; });
  ioc.run_for(std::chrono::seconds(10));
  std::string what = std::string(http::to_string(method)) + " " + path;
  if (ec == boost::asio::error::would_block) {
    socket.close();
    ioc.restart();
    ioc.run();  // the cancelled read completes
    throw std::runtime_error("no answer to " + what + " within 10 s");
  }
  if (ec) throw boost::beast::system_error(ec, what);
  return {res.result_int(), res.body()};
}

inline std::pair<int, std::string> http_get(
    int port, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    const std::string& from = {}) {
  return http_call(port, boost::beast::http::verb::get, path, headers, {}, from);
}

// queuecast.snapshot(queue) without its seq, as the daemon's documents are.
inline boost::json::object sql_snapshot(pg_session& s, const std::string& queue) {
  boost::json::object doc =
      boost::json::parse(s.value("SELECT queuecast.snapshot('" + queue + "')")).as_object();
  doc.erase("seq");
  return doc;
}

// A counter or gauge from /metrics (-2 when it is missing).
inline double metric(int port, const std::string& name) {
  std::string body = http_get(port, "/metrics").second;
  auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -2;
  return std::stod(body.substr(at + name.size() + 2));
}

// Success once the daemon's /readyz on `port` reports a seq at least SQL's
// current_seq() (taken once, at the call): every change committed before
// the call is applied. A failure, saying what it waited for, after `wait`.
// Use as ASSERT_TRUE(caught_up(...)): a daemon that never catches up must
// fail the test, not let it go on against a stale state.
inline ::testing::AssertionResult caught_up(int port, pg_session& s,
                                            std::chrono::seconds wait = std::chrono::seconds(10)) {
  std::int64_t target = s.number("SELECT queuecast.current_seq()");
  auto deadline = std::chrono::steady_clock::now() + wait;
  std::string last = "no answer";
  while (true) {
    try {
      auto [status, body] = http_get(port, "/readyz");
      last = std::to_string(status) + " " + body;
      if (status == 200 && boost::json::parse(body).at("seq").as_int64() >= target)
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ::testing::AssertionFailure()
         << "the daemon on port " << port << " did not reach SQL's current_seq() " << target
         << " within " << wait.count() << " s; /readyz last said: " << last;
}

class daemon_process {
 public:
  // bearer: the credential readiness is checked with when auth is on.
  // probe_port: where readiness is asked over plain HTTP when it is not the
  // main port (a TLS listener: pass --admin-listen 127.0.0.1:probe_port).
  daemon_process(const std::string& database, std::vector<std::string> extra = {},
                 std::string bearer = {}, int probe_port = 0)
      : port_(free_port()) {
    const char* binary = std::getenv("QUEUECASTD");
    binary_ = binary ? binary : "build/queuecastd";
    log_ = std::string(std::getenv("QUEUECAST_TEST_LOGS") ? std::getenv("QUEUECAST_TEST_LOGS")
                                                          : "/tmp") +
           "/queuecastd-" + std::to_string(port_) + ".log";
    std::vector<std::string> args = {binary_,
                                     "--database",
                                     "dbname=" + database,
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--log-level",
                                     "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + binary_);
    }
    posix_spawn_file_actions_destroy(&actions);
    // With --admin-listen, readiness is served there, without credentials.
    for (std::size_t i = 0; i + 1 < extra.size(); ++i) {
      if (extra[i] == "--admin-listen" && probe_port == 0)
        probe_port = std::stoi(extra[i + 1].substr(extra[i + 1].rfind(':') + 1));
    }
    if (probe_port == 0) probe_port = port_;
    for (int i = 0; i < 200; ++i) {
      try {
        std::vector<std::pair<std::string, std::string>> headers;
        if (!bearer.empty() && probe_port == port_)
          headers.emplace_back("Authorization", "Bearer " + bearer);
        if (http_get(probe_port, "/readyz", headers).first == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);  // no destructor runs for a constructor that throws
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error("queuecastd did not become ready; see " + log_);
  }
  ~daemon_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_; }
  void freeze() { ::kill(pid_, SIGSTOP); }
  void thaw() { ::kill(pid_, SIGCONT); }
  void hangup() { ::kill(pid_, SIGHUP); }
  bool alive() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  // SIGTERM and the exit status (-1 when it did not exit within 10 s).
  int terminate() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  std::string binary_;
  std::string log_;  // the daemon's stderr
  int port_;
  pid_t pid_ = -1;
};

}  // namespace qc_test
