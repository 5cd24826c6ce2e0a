// One WebSocket client. The reader coroutine parses requests and answers
// them; the writer coroutine sends what waits, one write in flight: first the
// ordered frames (replies, deltas, events), then the newest snapshot of each
// conflated topic. A delta-mode client whose ordered queue passes its bound is
// closed with 4001 and resumes on reconnect; a stalled snapshot-mode client
// costs one frame per topic, never a backlog.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "../config.hpp"
#include "hub.hpp"

namespace queuecast {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

enum class session_kind { protocol, compat_queue, job_events };

class ws_session : public subscriber_sink, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(beast::tcp_stream&& stream, hub& fanout, const config& cfg, session_kind kind,
             std::string fixed_topic);
  ~ws_session() override;

  void start(http::request<http::string_body> request);
  // Sends a close frame (code, reason) after what is already queued.
  void close(std::uint16_t code, std::string reason) override;

  void send(frame f) override;
  void send_latest(const std::string& topic, frame f) override;
  void dropped(const std::string& topic) override;

 private:
  asio::awaitable<void> run(http::request<http::string_body> request);
  asio::awaitable<void> write_loop();
  void handle_text(const std::string& text);
  void handle_request(const client_message& message);
  bool rate_limited();
  void wake_writer();
  bool authorised_by_header(const http::request<http::string_body>& request) const;

  websocket::stream<beast::tcp_stream> ws_;
  hub& hub_;
  const config& cfg_;
  session_kind kind_;
  std::string fixed_topic_;
  asio::steady_timer wakeup_;
  std::deque<frame> queue_;
  std::map<std::string, frame> latest_;
  bool authorised_ = false;
  bool closing_ = false;
  bool finished_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_;
  int violations_ = 0;
};

}  // namespace queuecast
