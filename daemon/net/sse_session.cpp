#include "sse_session.hpp"

#include "../util/log.hpp"
#include "../util/metrics.hpp"

namespace queuecast {

namespace {

// A comment line this often keeps proxies from closing an idle stream and
// finds a client that left.
constexpr auto heartbeat_interval = std::chrono::seconds(15);
// A write that takes longer (a client that stopped reading) ends the stream.
constexpr auto write_timeout = std::chrono::seconds(30);
// How long a browser's EventSource waits before it reconnects.
constexpr int retry_ms = 2000;

}  // namespace

template <class Stream>
sse_session<Stream>::sse_session(Stream&& stream, connection_slot slot, http_context& ctx,
                                 shard& home, sse_request request, auth::principal who,
                                 std::string peer, std::shared_ptr<asio::ssl::context> tls)
    : tls_(std::move(tls)),
      stream_(std::move(stream)),
      slot_(std::move(slot)),
      ctx_(ctx),
      sink_(home),
      request_(std::move(request)),
      who_(std::move(who)),
      peer_(std::move(peer)),
      wakeup_(stream_.get_executor()) {
  process_metrics().connections_total++;
  process_metrics().connections_open++;
}

template <class Stream>
sse_session<Stream>::~sse_session() {
  leave_hub();
  process_metrics().connections_open--;
}

template <class Stream>
void sse_session<Stream>::leave_hub() {
  ctx_.shared.with([&](hub& h, store&) { h.remove(&sink_); });
}

template <class Stream>
void sse_session<Stream>::start() {
  sink_.bind(this->weak_from_this());
  asio::co_spawn(stream_.get_executor(), write_loop(),
                 [self = this->shared_from_this()](std::exception_ptr error) {
                   if (!error) return;
                   try {
                     std::rethrow_exception(error);
                   } catch (const std::exception& e) {
                     log(log_level::error, "session_failed",
                         {{"part", "sse"}, {"peer", self->peer_}, {"error", e.what()}});
                   }
                 });
}

template <class Stream>
void sse_session<Stream>::send(frame f) {
  if (closing_) return;
  queue_.push_back(std::move(f));
  if (queue_.size() > ctx_.cfg.max_queue) {
    process_metrics().slow_clients_closed++;
    queue_.clear();
    latest_.reset();
    return close(4001, "too far behind; reconnect with Last-Event-ID");
  }
  wake();
}

template <class Stream>
void sse_session<Stream>::send_latest(const std::string&, frame f) {
  if (closing_) return;
  if (latest_) process_metrics().snapshots_conflated++;
  latest_ = std::move(f);
  wake();
}

template <class Stream>
void sse_session<Stream>::dropped(const std::string& topic) {
  send(make_frame({{"type", "unsubscribed"}, {"topic", topic}}));
  close(1000, "topic deleted");
}

template <class Stream>
void sse_session<Stream>::close(std::uint16_t code, std::string reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ =
      json::serialize(json::object{{"type", "closed"}, {"code", code}, {"reason", reason}});
  wake();
}

template <class Stream>
asio::awaitable<bool> sse_session<Stream>::write(std::string bytes) {
  beast::get_lowest_layer(stream_).expires_after(write_timeout);
  auto [ec, n] =
      co_await asio::async_write(stream_, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
  beast::get_lowest_layer(stream_).expires_never();
  co_return !ec;
}

// The frames' shared event texts in one gathered write: nothing is copied
// per client (the caller keeps the frames alive until it returns).
template <class Stream>
asio::awaitable<bool> sse_session<Stream>::write(const std::vector<asio::const_buffer>& buffers) {
  beast::get_lowest_layer(stream_).expires_after(write_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, buffers, asio::as_tuple(asio::use_awaitable));
  beast::get_lowest_layer(stream_).expires_never();
  co_return !ec;
}

template <class Stream>
asio::awaitable<void> sse_session<Stream>::write_loop() {
  auto self = this->shared_from_this();
  // No Content-Length, no chunking: the body is the stream and ends when the
  // connection does. no-store and X-Accel-Buffering keep proxies from holding it.
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: " + std::string(server_name) +
      "\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n"
      "X-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
      "retry: " +
      std::to_string(retry_ms) + "\n\n";
  if (!co_await write(std::move(head))) co_return;
  ctx_.shared.with([&](hub& h, store&) {
    h.attach(&sink_);  // status frames (stale/live) and shutdown reach it
    h.subscribe(&sink_, request_.topic,
                request_.mode == sub_mode::delta ? sub_format::delta : sub_format::snapshot,
                request_.since);
  });
  while (true) {
    if (queue_.empty() && !latest_ && !closing_) {
      auto deadline = std::chrono::steady_clock::now() + heartbeat_interval;
      if (who_.expires)
        deadline = std::min(deadline, std::chrono::steady_clock::now() +
                                          (*who_.expires - std::chrono::system_clock::now()));
      wakeup_.expires_at(deadline);
      auto [ec] = co_await wakeup_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!ec) {
        // The heartbeat, or the token's end.
        if (who_.expires && std::chrono::system_clock::now() >= *who_.expires) {
          close(4401, "token expired; reconnect with a fresh token");
        } else if (!co_await write(": ping\n\n")) {
          co_return;
        }
      }
      continue;
    }
    std::vector<frame> batch;
    batch.swap(queue_);
    if (latest_) {
      batch.push_back(std::move(*latest_));
      latest_.reset();
    }
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(batch.size());
    for (const frame& f : batch) buffers.emplace_back(asio::buffer(f->sse_event()));
    if (closing_ && queue_.empty()) {
      std::string close_event = "event: close\ndata: " + close_reason_ + "\n\n";
      buffers.emplace_back(asio::buffer(close_event));
      co_await write(buffers);
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both,
                                                         ignored);
      co_return;
    }
    bool written = co_await write(buffers);
    if (!written) co_return;
  }
}

template class sse_session<beast::tcp_stream>;
template class sse_session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace queuecast
