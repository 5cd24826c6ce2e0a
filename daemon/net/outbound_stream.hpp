// The layer under a session's websocket::stream through which every byte
// the connection sends passes, in order: Beast's own writes (the upgrade
// response, pongs, keep-alive pings, close frames) and the session's
// frames. The session's writer drains it with flush(): everything waiting
// goes out in one gathered write (up to max_gather buffers), and a frame's
// payload is the shared, immutable bytes every subscriber of its topic gets
// (only the few header bytes are per connection). Beast writes a message
// as one write of its own, and copies nothing shared; this layer is what
// lets many frames share one system call.
//
// Beast's writes are copied here and reported written at once; at most
// max_control_bytes may wait (a client that sends pings and never reads
// gets its connection failed instead of growing this without bound).
// Beast's teardown after a close handshake waits until what is queued has
// been written.
//
// On plain TCP a frame with nothing queued before it can be written at once
// (write_or_queue): one non-blocking sendmsg from the caller, no wake-up of
// the writer; what the socket does not take is queued for the writer.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

namespace queuecast {

namespace asio = boost::asio;
namespace beast = boost::beast;

// A frame's payload as subscribers share it.
using shared_bytes = std::shared_ptr<const std::string>;

inline constexpr std::uint8_t websocket_text = 0x1;  // RFC 6455 opcode

// The header of an unmasked (server to client) WebSocket frame with FIN
// set: 2 to 10 bytes. rsv1: the payload is compressed (permessage-deflate).
std::string frame_header(std::uint8_t opcode, std::size_t payload_bytes, bool rsv1 = false);

template <class Next>
class outbound_stream {
 public:
  using executor_type = typename Next::executor_type;
  using next_layer_type = Next;

  static constexpr std::size_t max_gather = 64;  // buffers per write (IOV_MAX is 1024)
  static constexpr std::size_t max_control_bytes = std::size_t{64} * 1024;

  explicit outbound_stream(Next next) : next_(std::move(next)) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }

  // Who to tell when Beast queued bytes or asked for a teardown.
  void on_output(std::function<void()> notify) { notify_ = std::move(notify); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& bytes) {
          std::size_t size = asio::buffer_size(bytes);
          beast::error_code ec;
          if (control_bytes_ + size > max_control_bytes) {
            ec = asio::error::no_buffer_space;
            size = 0;
          } else {
            std::string copy(size, '\0');
            asio::buffer_copy(asio::buffer(copy), bytes);
            control_bytes_ += size;
            queue().push_back({nullptr, std::move(copy), true});
            if (notify_) notify_();
          }
          auto executor = asio::get_associated_executor(handler, get_executor());
          asio::post(executor, [handler = std::move(handler), ec, size]() mutable {
            std::move(handler)(ec, size);
          });
        },
        token, buffers);
  }

  // The session's frame: a header of its own and the shared payload.
  void push_frame(std::string header, shared_bytes payload) {
    queue().push_back({nullptr, std::move(header), false});
    queue().push_back({std::move(payload), {}, false});
  }
  bool has_output() const { return queued_buffers() != 0 || teardown_.has_value(); }
  // Output queued, or a write in flight: a new frame must wait its turn.
  bool busy() const { return has_output() || flushing_; }

  // Plain TCP, nothing queued and no write in flight (busy() false): writes
  // the frame with one non-blocking sendmsg, and queues what the socket did
  // not take (all of it on EAGAIN or an error, which the writer's next
  // write then reports). True when it was all written; bytes_written says
  // how much went.
  bool write_or_queue(std::string header, shared_bytes payload, std::size_t& bytes_written) requires
      std::is_same_v<Next, asio::ip::tcp::socket> {
    iovec parts[2] = {{header.data(), header.size()},
                      {const_cast<char*>(payload->data()), payload->size()}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    ssize_t sent = ::sendmsg(next_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
    bytes_written = done;
    if (done == header.size() + payload->size()) return true;
    if (done < header.size()) {
      queue().push_back({nullptr, header.substr(done), false});
      done = 0;
    } else {
      done -= header.size();
    }
    queue().push_back({std::move(payload), {}, false, done});
    return false;
  }
  std::size_t queued_buffers() const { return queue_ ? queue_->size() : 0; }

  // Plain TCP, no write in flight: writes what is queued (up to max_gather
  // buffers) with one non-blocking sendmsg, and keeps what the socket did not
  // take for the writer. True when nothing is left. A shard's drain that
  // handed a session several frames sends them with this, in one system
  // call rather than one per frame.
  bool write_queued_at_once(
      std::size_t& bytes_written) requires std::is_same_v<Next, asio::ip::tcp::socket> {
    bytes_written = 0;
    if (flushing_ || queued_buffers() == 0) return queued_buffers() == 0;
    iovec parts[max_gather];
    std::size_t taken = std::min(queue_->size(), max_gather);
    for (std::size_t i = 0; i < taken; ++i) {
      const chunk& c = (*queue_)[i];
      const char* data = c.shared ? c.shared->data() + c.skip : c.owned.data();
      std::size_t size = c.shared ? c.shared->size() - c.skip : c.owned.size();
      parts[i] = {const_cast<char*>(data), size};
    }
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = taken;
    ssize_t sent = ::sendmsg(next_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
    bytes_written = done;
    // Whole chunks go; a chunk written in part keeps what is left (a header
    // by its text, a payload by its offset).
    while (done > 0) {
      chunk& c = queue_->front();
      std::size_t size = c.shared ? c.shared->size() - c.skip : c.owned.size();
      if (done < size) {
        if (c.shared) {
          c.skip += done;
        } else {
          if (c.control) control_bytes_ -= done;
          c.owned.erase(0, done);
        }
        break;
      }
      done -= size;
      if (c.control) control_bytes_ -= c.owned.size();
      queue_->pop_front();
    }
    if (queued_buffers() != 0) return false;
    queue_.reset();
    return true;
  }

  // Writes everything queued, gathering up to max_gather buffers per write;
  // then a teardown Beast asked for. Only the session's writer calls this,
  // so there is never more than one write in flight.
  asio::awaitable<beast::error_code> flush(std::size_t& bytes_written, std::size_t& writes) {
    flushing_ = true;
    beast::error_code failure;
    while (queued_buffers() != 0) {
      std::vector<asio::const_buffer> gather;
      std::size_t taken = std::min(queue_->size(), max_gather);
      gather.reserve(taken);
      for (std::size_t i = 0; i < taken; ++i) {
        const chunk& c = (*queue_)[i];
        gather.push_back(c.shared ? asio::buffer(*c.shared) + c.skip : asio::buffer(c.owned));
      }
      auto [ec, bytes] =
          co_await asio::async_write(next_, gather, asio::as_tuple(asio::use_awaitable));
      bytes_written += bytes;
      ++writes;
      for (std::size_t i = 0; i < taken; ++i) {
        if (queue_->front().control) control_bytes_ -= queue_->front().owned.size();
        queue_->pop_front();
      }
      if (ec) {
        failure = ec;
        break;
      }
    }
    if (queued_buffers() == 0) queue_.reset();
    flushing_ = false;
    finish_teardown();
    co_return failure;
  }

  // The writer is gone (the session ended): a teardown asked for later is
  // done at once, without waiting for a flush nobody will run.
  void writer_gone() {
    writer_gone_ = true;
    if (!flushing_) finish_teardown();
  }

  template <class Handler>
  void request_teardown(beast::role_type role, Handler&& handler) {
    teardown_role_ = role;
    teardown_.emplace(std::forward<Handler>(handler));
    if (writer_gone_ && !flushing_) {
      finish_teardown();
    } else if (notify_) {
      notify_();
    }
  }

 private:
  struct chunk {
    shared_bytes shared;   // a frame's payload, or null: then `owned`
    std::string owned;     // a header, or a copy of Beast's bytes
    bool control;          // Beast's: counts against max_control_bytes
    std::size_t skip = 0;  // bytes of `shared` already written (write_or_queue)
  };

  void finish_teardown() {
    if (!teardown_) return;
    auto handler = std::move(*teardown_);
    teardown_.reset();
    using beast::websocket::async_teardown;
    async_teardown(
        teardown_role_, next_,
        [handler = std::move(handler)](beast::error_code ec) mutable { std::move(handler)(ec); });
  }

  // Allocated while there is output (a deque: the buffers of a write in
  // flight stay where they are while more is queued). Not held empty:
  // libstdc++'s deque allocates 576 bytes when constructed, and most
  // connections are idle most of the time.
  std::deque<chunk>& queue() {
    if (!queue_) queue_ = std::make_unique<std::deque<chunk>>();
    return *queue_;
  }

  Next next_;
  std::unique_ptr<std::deque<chunk>> queue_;
  std::size_t control_bytes_ = 0;
  std::function<void()> notify_;
  std::optional<asio::any_completion_handler<void(beast::error_code)>> teardown_;
  beast::role_type teardown_role_ = beast::role_type::server;
  bool flushing_ = false;
  bool writer_gone_ = false;
};

// Beast's close handshake ends here (found by argument-dependent lookup).
template <class Next, class Handler>
void async_teardown(beast::role_type role, outbound_stream<Next>& stream, Handler&& handler) {
  stream.request_teardown(role, std::forward<Handler>(handler));
}

}  // namespace queuecast
