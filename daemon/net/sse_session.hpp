// One Server-Sent Events client (docs/protocol.md, "Server-Sent Events"):
// the transport for networks where a WebSocket cannot open. One topic per
// stream; the same hub, the same frames and the same guarantees as /ws:
// each protocol message is one event ("data:" is its JSON, "id:" its seq),
// a stream resumes after Last-Event-ID from the window or history, a
// snapshot-mode stream is conflated, a delta-mode stream that falls past
// --max-queue is ended and resumes on reconnect.
//
// The writer is the only coroutine; the client sends nothing after its
// request, and a client that left is noticed at the next write (every
// heartbeat_interval at the latest). The stream ends when the token expires:
// the client reconnects with a fresh one.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection_limits.hpp"
#include "http_routes.hpp"
#include "shards.hpp"
#include "sse_request.hpp"

namespace queuecast {

namespace asio = boost::asio;
namespace beast = boost::beast;

// Stream: beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class sse_session : public subscriber_sink,
                    public std::enable_shared_from_this<sse_session<Stream>> {
 public:
  sse_session(Stream&& stream, connection_slot slot, http_context& ctx, shard& home,
              sse_request request, auth::principal who, std::string peer,
              std::shared_ptr<asio::ssl::context> tls);
  ~sse_session() override;

  void start();

  void send(frame f) override;
  void send_latest(const std::string& topic, frame f) override;
  void dropped(const std::string& topic) override;
  void close(std::uint16_t code, std::string reason) override;

 private:
  asio::awaitable<void> write_loop();
  asio::awaitable<bool> write(std::string bytes);
  asio::awaitable<bool> write(const std::vector<asio::const_buffer>& buffers);
  void wake() { wakeup_.cancel(); }
  void leave_hub();

  std::shared_ptr<asio::ssl::context> tls_;  // declared first: outlives the stream
  Stream stream_;
  connection_slot slot_;
  http_context& ctx_;
  shard_sink sink_;
  sse_request request_;
  auth::principal who_;
  std::string peer_;
  asio::steady_timer wakeup_;
  std::vector<frame> queue_;
  std::optional<frame> latest_;
  bool closing_ = false;
  std::string close_reason_;
};

extern template class sse_session<beast::tcp_stream>;
extern template class sse_session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace queuecast
