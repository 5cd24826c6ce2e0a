// A queuecastd child process for the chaos test: start, SIGKILL, restart on
// the same port, and small HTTP GETs (readyz, metrics) with a timeout.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace qc_chaos {

class daemon_process {
 public:
  daemon_process(std::string binary, std::string conninfo, int port, std::string log_path)
      : binary_(std::move(binary)),
        conninfo_(std::move(conninfo)),
        port_(port),
        log_(std::move(log_path)) {}
  ~daemon_process() { kill_now(); }

  int port() const { return port_; }
  int starts() const { return starts_; }

  void start() {
    std::vector<std::string> args = {
        binary_,       "--database", conninfo_, "--listen", "127.0.0.1:" + std::to_string(port_),
        "--log-level", "info"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + binary_);
    starts_++;
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Graceful stop; returns the exit status (expected 0).
  int terminate() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill_now();
    return -2;
  }

  bool running() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  // GET path; returns {status, body}, status 0 when unreachable.
  std::pair<int, std::string> get(const std::string& path) const {
    namespace beast = boost::beast;
    namespace http = beast::http;
    try {
      boost::asio::io_context ioc;
      beast::tcp_stream stream(ioc);
      stream.expires_after(std::chrono::seconds(3));
      boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(port_));
      beast::error_code ec;
      http::response<http::string_body> res;
      beast::flat_buffer buffer;
      http::request<http::empty_body> req(http::verb::get, path, 11);
      req.set(http::field::host, "127.0.0.1");
      stream.async_connect(ep, [&](beast::error_code e) {
        if (e) {
          ec = e;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
          if (e) {
            ec = e;
            return;
          }
          http::async_read(stream, buffer, res, [&](beast::error_code e, std::size_t) { ec = e; });
        });
      });
      ioc.run();
      if (ec) return {0, ec.message()};
      return {res.result_int(), res.body()};
    } catch (const std::exception& e) {
      return {0, e.what()};
    }
  }

 private:
  std::string binary_, conninfo_;
  int port_;
  std::string log_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

inline int free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

}  // namespace qc_chaos
