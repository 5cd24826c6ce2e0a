// One WebSocket client. The reader (completion handlers: an idle
// connection's pending read holds no coroutine frame) parses requests and
// answers them; the writer coroutine sends what waits, one write in flight:
// first the ordered frames (replies, deltas, events), then the newest
// snapshot of each conflated topic, one frame per write, chosen when the
// socket drains. A delta-mode client whose ordered queue passes its bound is
// closed with 4001 and resumes on reconnect; a stalled snapshot-mode client
// costs one frame per topic, never a backlog.
//
// Authentication (docs/protocol.md): a principal from the upgrade's headers,
// or from the first `hello`; an unauthenticated connection is closed after
// --auth-timeout, an expired one with 4401 unless refreshed with `auth`.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection_limits.hpp"
#include "http_routes.hpp"
#include "outbound_stream.hpp"
#include "shards.hpp"

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

// Stream: asio::ip::tcp::socket, or beast::ssl_stream<beast::tcp_stream>
// after the TLS handshake (instantiated in ws_session_plain.cpp and
// ws_session_tls.cpp). Plain TCP gives up beast::tcp_stream with the HTTP
// phase: its timer and state serve only HTTP's timeouts (the WebSocket
// stream has its own), and cost memory on every idle connection.
template <class Stream>
class ws_session : public subscriber_sink, public std::enable_shared_from_this<ws_session<Stream>> {
 public:
  // tls: the context a TLS connection was accepted with (null for plain TCP),
  // held so that a certificate reload never frees it under the connection.
  // home: the shard whose thread runs this session (the stream's executor).
  ws_session(Stream&& stream, connection_slot slot, http_context& ctx, shard& home,
             websocket_target target, std::optional<auth::principal> who, std::string peer,
             std::shared_ptr<asio::ssl::context> tls);
  ~ws_session() override;

  // Answers the upgrade, then runs the session's parts.
  void start(http_request request);
  // Sends a close frame (code, reason) after what is already queued.
  void close(std::uint16_t code, std::string reason) override;

  void send(frame f) override;
  void send_latest(const std::string& topic, frame f) override;
  void dropped(const std::string& topic) override;
  void batch_delivered() override;

 private:
  asio::awaitable<void> accept(http_request request);
  // The reader: completion handlers, not a coroutine, so that an idle
  // connection's pending read holds no coroutine frames.
  void read_next();
  void on_read(beast::error_code ec);
  void end_reading();
  std::optional<std::string> negotiate_deflate(const http_request& request);
  asio::awaitable<void> write_loop();
  std::pair<std::string, shared_bytes> wire_form(frame f) const;
  bool write_at_once(frame& f);
  bool write_batch_at_once();
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
  void forget_latest(const std::string& topic);
  void leave_hub();
  // Runs f(hub&) under the shared hub's lock (shared_hub.hpp); the hub knows
  // this session as sink_.
  template <class F>
  auto with_hub(F&& f) {
    return ctx_.shared.with([&](hub& h, store&) { return f(h); });
  }

  std::shared_ptr<asio::ssl::context> tls_;  // declared first: outlives ws_
  websocket::stream<outbound_stream<Stream>> ws_;
  beast::flat_buffer read_buffer_;  // one client message; empty between messages
  connection_slot slot_;
  http_context& ctx_;
  shard_sink sink_;  // what the hub holds: its calls reach us through our shard
  websocket_target target_;
  std::optional<auth::principal> who_;
  std::string peer_;
  asio::steady_timer wakeup_;
  // Auth deadline, then token expiry; only when authentication is on (not
  // an optional: that would hold the timer's bytes on every connection).
  std::unique_ptr<asio::steady_timer> credentials_timer_;
  // Not a std::deque: libstdc++'s allocates 576 bytes when constructed, on
  // every idle connection. The writer takes the whole queue at once.
  std::vector<frame> queue_;
  std::map<std::string, frame> latest_;
  std::string last_conflated_topic_;  // written last: the next turn goes to the one after it
  bool accepted_ = false;             // the upgrade is answered: frames may go
  bool after_drain_ = false;          // batch_delivered() is due (a delivery in a drain)
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

extern template class ws_session<asio::ip::tcp::socket>;
extern template class ws_session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace queuecast
