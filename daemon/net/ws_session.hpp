// One WebSocket client. The reader coroutine parses requests and answers
// them; the writer coroutine sends what waits, one write in flight: first the
// ordered frames (replies, deltas, events), then the newest snapshot of each
// conflated topic, one frame per write, chosen when the socket drains. A delta-mode client whose
// ordered queue passes its bound is closed with 4001 and resumes on reconnect; a stalled
// snapshot-mode client costs one frame per topic, never a backlog.
//
// Authentication (docs/protocol.md): a principal from the upgrade's headers,
// or from the first `hello`; an unauthenticated connection is closed after
// --auth-timeout, an expired one with 4401 unless refreshed with `auth`.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "connection_limits.hpp"
#include "http_routes.hpp"
#include "outbound_stream.hpp"

namespace queuecast {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

// Close codes of RFC 6455 we send.
inline constexpr std::uint16_t close_normal = 1000;
inline constexpr std::uint16_t close_policy_violation = 1008;
// Close codes of our own (docs/protocol.md).
inline constexpr std::uint16_t close_too_far_behind = 4001;
inline constexpr std::uint16_t close_too_many_messages = 4002;
inline constexpr std::uint16_t close_token_expired = 4401;

// Stream: beast::tcp_stream, or beast::ssl_stream<beast::tcp_stream> after
// the TLS handshake (both instantiated in ws_session.cpp).
template <class Stream>
class ws_session : public subscriber_sink, public std::enable_shared_from_this<ws_session<Stream>> {
 public:
  // tls: the context a TLS connection was accepted with (null for plain TCP),
  // held so that a certificate reload never frees it under the connection.
  ws_session(Stream&& stream, connection_slot slot, http_context& ctx, websocket_target target,
             std::optional<auth::principal> who, std::string peer,
             std::shared_ptr<asio::ssl::context> tls);
  ~ws_session() override;

  void start(http_request request);
  // Sends a close frame (code, reason) after what is already queued.
  void close(std::uint16_t code, std::string reason) override;

  void send(frame f) override;
  void send_latest(const std::string& topic, frame f) override;
  void dropped(const std::string& topic) override;

 private:
  asio::awaitable<void> run(http_request request);
  std::optional<std::string> negotiate_deflate(const http_request& request);
  asio::awaitable<void> write_loop();
  void queue_for_writing();
  asio::awaitable<void> close_handshake();
  asio::awaitable<void> watch_credentials();
  void spawn(asio::awaitable<void> task, const char* what);
  void handle_text(const std::string& text);
  void handle_request(const client_message& message);
  void authenticate(const std::string& token, bool refresh);
  void subscribe(const subscribe_request& request);
  bool rate_limited();
  void wake_writer();

  std::shared_ptr<asio::ssl::context> tls_;  // declared first: outlives ws_
  websocket::stream<outbound_stream<Stream>> ws_;
  connection_slot slot_;
  http_context& ctx_;
  websocket_target target_;
  std::optional<auth::principal> who_;
  std::string peer_;
  asio::steady_timer wakeup_;
  asio::steady_timer credentials_timer_;  // auth deadline, then token expiry
  std::deque<frame> queue_;
  std::map<std::string, frame> latest_;
  std::string last_conflated_topic_;  // written last: the next turn goes to the one after it
  bool closing_ = false;
  bool close_started_ = false;  // the close frame is Beast's to send now
  bool finished_ = false;
  bool deflate_ = false;  // permessage-deflate negotiated: frames go compressed
  std::uint16_t close_code_ = close_normal;
  std::string close_reason_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_;
  int violations_ = 0;
};

extern template class ws_session<beast::tcp_stream>;
extern template class ws_session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace queuecast
