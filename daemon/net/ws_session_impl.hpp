// ws_session's member definitions, for its two explicit instantiations:
// ws_session_plain.cpp and ws_session_tls.cpp. Each is one of the largest
// compilations of the daemon; in two files they build in parallel.
#pragma once

#include "ws_session.hpp"

#include "deflate_offer.hpp"

#include "../util/log.hpp"
#include "../util/metrics.hpp"

namespace queuecast {

// What a compatibility endpoint subscribes its topic as.
inline sub_format compat_format(session_kind kind) {
  switch (kind) {
    case session_kind::compat_queue:
      return sub_format::queue_update;
    case session_kind::queue_jobs:
      return sub_format::queue_jobs;
    case session_kind::job_events:
    case session_kind::protocol:
      break;
  }
  return sub_format::job_events;
}

namespace ws_session_limits {

// Client messages: a burst of 100, then 50 per second. Past the limit a
// message is refused with an error; a client that keeps going is closed.
inline constexpr double rate_burst = 100;
inline constexpr double rate_per_second = 50;
inline constexpr int violations_before_close = 200;
// A client message's first read takes at most this many bytes, each further
// read of the same message as many as it already has (at most Beast's
// tcp_frame_size): an idle connection's pending read holds this much. Reads
// after the first copy from Beast's frame buffer, no system call; a
// subscribe takes two.
inline constexpr std::size_t first_read_bytes = 64;

}  // namespace ws_session_limits

// The connection's TCP socket, under TLS or not.
inline asio::ip::tcp::socket& tcp_socket(asio::ip::tcp::socket& socket) {
  return socket;
}
inline asio::ip::tcp::socket& tcp_socket(beast::tcp_stream& stream) {
  return stream.socket();
}

namespace ws_session_detail {

// The upgrade response's Sec-WebSocket-Extensions: our permessage-deflate
// answer or none. Beast's own answer, written before the decorator runs, is
// replaced, so one header goes out, and Beast configures its reader from
// the response sent.
inline void answer_extensions(websocket::response_type& res,
                              const std::optional<std::string>& deflate_answer) {
  res.erase(http::field::sec_websocket_extensions);
  if (deflate_answer && res.result() == http::status::switching_protocols)
    res.set(http::field::sec_websocket_extensions, *deflate_answer);
}

}  // namespace ws_session_detail

template <class Stream>
ws_session<Stream>::ws_session(Stream&& stream, connection_slot slot, http_context& ctx,
                               shard& home, websocket_target target,
                               std::optional<auth::principal> who, std::string peer,
                               std::shared_ptr<asio::ssl::context> tls)
    : tls_(std::move(tls)),
      ws_(std::move(stream)),
      slot_(std::move(slot)),
      ctx_(ctx),
      sink_(home),
      target_(std::move(target)),
      who_(std::move(who)),
      peer_(std::move(peer)),
      wakeup_(ws_.get_executor()),
      tokens_(ws_session_limits::rate_burst),
      refilled_(std::chrono::steady_clock::now()) {
  process_metrics().connections_total++;
  process_metrics().connections_open++;
}

template <class Stream>
ws_session<Stream>::~ws_session() {
  leave_hub();
  process_metrics().connections_open--;
}

// Memory per idle connection: the upgrade request and the handshake's
// coroutine frame are freed once the upgrade is answered; what stays is the
// writer's coroutine and one pending read.
template <class Stream>
void ws_session<Stream>::start(http_request request) {
  sink_.bind(this->weak_from_this());
  spawn(accept(std::move(request)), "handshake");
}

// Every coroutine of a session ends in a handler that logs what escaped it;
// the session's cleanup runs in its destructor either way.
template <class Stream>
void ws_session<Stream>::spawn(asio::awaitable<void> task, const char* what) {
  asio::co_spawn(ws_.get_executor(), std::move(task),
                 [self = this->shared_from_this(), what](std::exception_ptr error) {
                   if (!error) return;
                   self->finished_ = true;
                   self->leave_hub();
                   try {
                     std::rethrow_exception(error);
                   } catch (const std::exception& e) {
                     log(log_level::error, "session_failed",
                         {{"part", what}, {"peer", self->peer_}, {"error", e.what()}});
                   }
                 });
}

template <class Stream>
asio::awaitable<void> ws_session<Stream>::accept(http_request request) {
  auto self = this->shared_from_this();
  websocket::stream_base::timeout timeouts{ctx_.cfg.handshake_timeout, ctx_.cfg.idle_timeout, true};
  ws_.set_option(timeouts);
  ws_.read_message_max(ctx_.cfg.max_message_bytes);
  bool wants_subprotocol =
      request[http::field::sec_websocket_protocol].find("queuecast.v1") != beast::string_view::npos;
  auto deflate_answer = negotiate_deflate(request);
  ws_.set_option(websocket::stream_base::decorator(
      [wants_subprotocol, deflate_answer](websocket::response_type& res) {
        res.set(http::field::server, server_name);
        if (wants_subprotocol) res.set(http::field::sec_websocket_protocol, "queuecast.v1");
        ws_session_detail::answer_extensions(res, deflate_answer);
      }));
  // The writer sends every byte, the upgrade response included.
  ws_.next_layer().on_output([this] { wake_writer(); });
  spawn(write_loop(), "writer");
  auto [ec] = co_await ws_.async_accept(request, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    finished_ = true;  // the writer sends Beast's refusal, then ends
    wake_writer();
    co_return;
  }
  accepted_ = true;
  if (deflate_) process_metrics().deflate_connections++;
  with_hub([&](hub& h) {
    h.attach(&sink_);  // so status and shutdown frames reach it
    if (target_.kind == session_kind::protocol) {
      // Through the hub's path, so that it comes before any status frame.
      sink_.send(welcome_frame(h.seq()));
    } else if (h.subscription_count(&sink_) == 0) {
      h.subscribe(&sink_, target_.topic, compat_format(target_.kind), std::nullopt);
    }
  });
  if (ctx_.door.enabled()) {
    credentials_timer_ = std::make_unique<asio::steady_timer>(ws_.get_executor());
    spawn(watch_credentials(), "credentials");
  }
  read_next();
}

// Reads client messages until the connection ends. Between messages the
// buffer holds no memory: an idle connection waits with no read buffer of
// its own (Beast's stream has its frame buffer) and no coroutine frame.
template <class Stream>
void ws_session<Stream>::read_next() {
  if (finished_) return end_reading();
  std::size_t limit = std::max(ws_session_limits::first_read_bytes, read_buffer_.size());
  ws_.async_read_some(
      read_buffer_, limit,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

template <class Stream>
void ws_session<Stream>::on_read(beast::error_code ec) {
  // What escapes a handler would end the event loop: as for a coroutine in
  // spawn(), it ends this session only.
  try {
    if (ec) {
      if (ec == websocket::error::message_too_big) process_metrics().client_errors++;
      return end_reading();
    }
    if (ws_.is_message_done()) {
      if (!ws_.got_text()) {
        send(error_frame("binary_frame", "binary frames are not accepted; send JSON text"));
        process_metrics().client_errors++;
      } else {
        handle_text(beast::buffers_to_string(read_buffer_.data()));
      }
      read_buffer_.clear();
      read_buffer_.shrink_to_fit();
    }
  } catch (const std::exception& e) {
    log(log_level::error, "session_failed",
        {{"part", "reader"}, {"peer", peer_}, {"error", e.what()}});
    return end_reading();
  }
  read_next();
}

template <class Stream>
void ws_session<Stream>::end_reading() {
  finished_ = true;
  leave_hub();
  wake_writer();
  if (credentials_timer_) credentials_timer_->cancel();
  // Nobody reads this connection any more (the close handshake is done, or
  // it failed): a write still waiting for the client to drain its socket
  // would hold the connection open. Cut it.
  beast::error_code ignored;
  tcp_socket(beast::get_lowest_layer(ws_)).close(ignored);
}

// permessage-deflate (deflate_offer.hpp): our answer to the client's offers,
// or nullopt. When there is one, Beast's permessage-deflate is enabled too,
// for its reader only (it inflates what the client sends; it writes no
// messages: queue_for_writing does, compressing with frame_deflate.hpp).
template <class Stream>
std::optional<std::string> ws_session<Stream>::negotiate_deflate(const http_request& request) {
  if (!ctx_.cfg.permessage_deflate) return std::nullopt;
  std::string offers;
  auto [first, last] = request.equal_range(http::field::sec_websocket_extensions);
  for (auto field = first; field != last; ++field) {
    if (!offers.empty()) offers += ", ";
    offers += field->value();
  }
  auto answer = answer_deflate_offers(offers);
  deflate_ = answer.has_value();
  if (answer) {
    websocket::permessage_deflate inflate;
    inflate.server_enable = true;
    ws_.set_option(inflate);
  }
  return answer;
}

// Without a principal the connection has --auth-timeout to send one; with a
// token that expires, it lasts until then unless `auth` brings a new one.
template <class Stream>
asio::awaitable<void> ws_session<Stream>::watch_credentials() {
  auto self = this->shared_from_this();
  auto deadline = std::chrono::steady_clock::now() + ctx_.cfg.auth_timeout;
  while (!finished_ && !closing_) {
    if (!who_) {
      credentials_timer_->expires_at(deadline);
    } else if (who_->expires) {
      auto left = *who_->expires - std::chrono::system_clock::now();
      credentials_timer_->expires_after(
          std::chrono::duration_cast<std::chrono::milliseconds>(left));
    } else {
      co_return;  // the static token does not expire
    }
    auto [ec] = co_await credentials_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;  // cancelled: credentials changed, or the session ended
    if (!who_) {
      process_metrics().auth_failures.add("timeout");
      close(close_policy_violation,
            "authentication timeout: send {\"type\":\"hello\",\"token\":...} first");
    } else if (who_->expires && *who_->expires <= std::chrono::system_clock::now()) {
      process_metrics().auth_failures.add("expired_connection");
      close(close_token_expired,
            "token expired; refresh with {\"type\":\"auth\",\"token\":...} "
            "before it expires, or reconnect with a new one");
    }
  }
}

template <class Stream>
void ws_session<Stream>::handle_text(const std::string& text) {
  if (rate_limited()) {
    if (++violations_ > ws_session_limits::violations_before_close)
      return close(close_too_many_messages, "too many messages");
    process_metrics().client_errors++;
    return send(error_frame(
        "rate_limited", "too many messages; at most " +
                            std::to_string(static_cast<int>(ws_session_limits::rate_per_second)) +
                            " per second"));
  }
  try {
    if (target_.kind != session_kind::protocol) {
      // The compatibility endpoints answer a ping in the shape it came in.
      if (text == "ping") return send(std::make_shared<const frame_text>("pong"));
      if (text.find("\"ping\"") != std::string::npos) return send(make_frame({{"type", "pong"}}));
      return;
    }
    handle_request(parse_client_message(text));
  } catch (const std::exception& e) {
    // Whatever went wrong with one message: an error for the client, never a
    // session that ends without its cleanup.
    process_metrics().client_errors++;
    log(log_level::warn, "client_message_failed", {{"peer", peer_}, {"error", e.what()}});
    send(error_frame("internal_error", "the message could not be handled"));
  }
}

template <class Stream>
void ws_session<Stream>::authenticate(const std::string& token, bool refresh) {
  auth::verdict verdict = ctx_.door.authenticate(token, peer_);
  if (!verdict.who) {
    if (refresh && who_) {
      // The old token stays in force until it expires.
      return send(error_frame("auth_failed", "the new token was refused (" + verdict.error + ")"));
    }
    return close(close_policy_violation, "authentication failed (" + verdict.error + ")");
  }
  who_ = std::move(verdict.who);
  if (credentials_timer_) credentials_timer_->cancel();  // watch_credentials re-reads the expiry
  // A refreshed token may grant less: subscriptions it does not cover end.
  auto topics = with_hub([&](hub& h) { return h.topics_of(&sink_); });
  for (const std::string& topic : topics) {
    if (gate::may_read(*who_, topic)) continue;
    with_hub([&](hub& h) {
      h.unsubscribe(&sink_, topic);
      forget_latest(topic);
    });
    send(error_frame("forbidden", "the new token does not grant '" + topic + "'", topic));
    send(make_frame({{"type", "unsubscribed"}, {"topic", topic}}));
  }
  if (refresh) send(make_frame({{"type", "authenticated"}, {"sub", who_->subject}}));
}

template <class Stream>
void ws_session<Stream>::handle_request(const client_message& message) {
  if (auto* hello = std::get_if<hello_request>(&message)) {
    if (!ctx_.door.enabled()) return;  // nothing to check
    return authenticate(hello->token, who_.has_value());
  }
  if (auto* refresh = std::get_if<auth_request>(&message)) {
    if (!ctx_.door.enabled()) return send(make_frame({{"type", "authenticated"}, {"sub", ""}}));
    return authenticate(refresh->token, true);
  }
  if (!who_ && ctx_.door.enabled())
    return close(close_policy_violation,
                 "authentication required: send {\"type\":\"hello\",\"token\":...} first");
  if (auto* bad = std::get_if<bad_request>(&message)) {
    process_metrics().client_errors++;
    return send(error_frame(bad->code, bad->message, bad->topic));
  }
  if (auto* ping = std::get_if<ping_request>(&message)) {
    std::int64_t seq = with_hub([](hub& h) { return h.seq(); });
    return send(make_frame({{"type", "pong"}, {"id", ping->id}, {"seq", seq}}));
  }
  if (auto* unsubscribe = std::get_if<unsubscribe_request>(&message)) {
    bool was_subscribed = with_hub([&](hub& h) {
      if (!h.is_subscribed(&sink_, unsubscribe->topic)) return false;
      h.unsubscribe(&sink_, unsubscribe->topic);
      forget_latest(unsubscribe->topic);
      return true;
    });
    if (!was_subscribed) {
      return send(error_frame("not_subscribed", "not subscribed to '" + unsubscribe->topic + "'",
                              unsubscribe->topic));
    }
    return send(make_frame({{"type", "unsubscribed"}, {"topic", unsubscribe->topic}}));
  }
  subscribe(std::get<subscribe_request>(message));
}

template <class Stream>
void ws_session<Stream>::subscribe(const subscribe_request& request) {
  if (ctx_.door.enabled() && !gate::may_read(*who_, request.topic)) {
    process_metrics().auth_failures.add("forbidden_topic");
    return send(error_frame("forbidden", "your token does not grant '" + request.topic + "'",
                            request.topic));
  }
  bool admitted = with_hub([&](hub& h) {
    // The hub holds the subscriptions: a refused topic (unknown) takes no slot.
    if (!h.is_subscribed(&sink_, request.topic) &&
        h.subscription_count(&sink_) >= ctx_.cfg.max_subscriptions)
      return false;
    // Subscribing again replaces the old subscription (a client resyncing),
    // and the snapshot of it that may still wait.
    h.unsubscribe(&sink_, request.topic);
    forget_latest(request.topic);
    h.subscribe(&sink_, request.topic,
                request.mode == sub_mode::delta ? sub_format::delta : sub_format::snapshot,
                request.since);
    return true;
  });
  if (!admitted) {
    process_metrics().client_errors++;
    send(error_frame(
        "too_many_subscriptions",
        "at most " + std::to_string(ctx_.cfg.max_subscriptions) + " topics per connection",
        request.topic));
  }
}

// Inside with_hub(), after the hub let go of our subscription to `topic`:
// a snapshot of it that waits here or is still on its way from the hub is
// of the old subscription, and is dropped.
template <class Stream>
void ws_session<Stream>::forget_latest(const std::string& topic) {
  sink_.forget_latest(topic);
  latest_.erase(topic);
}

template <class Stream>
void ws_session<Stream>::leave_hub() {
  with_hub([&](hub& h) { h.remove(&sink_); });
}

template <class Stream>
bool ws_session<Stream>::rate_limited() {
  auto now = std::chrono::steady_clock::now();
  tokens_ = std::min(ws_session_limits::rate_burst,
                     tokens_ + std::chrono::duration<double>(now - refilled_).count() *
                                   ws_session_limits::rate_per_second);
  refilled_ = now;
  if (tokens_ < 1) return true;
  tokens_ -= 1;
  return false;
}

template <class Stream>
void ws_session<Stream>::send(frame f) {
  // Our own replies go after what the hub sent us earlier (shards.hpp).
  sink_.home().drain();
  if (finished_ || closing_) return;
  // Inside a shard's drain, frames wait for its end (batch_delivered) and go
  // in one write: a shard that fell behind hands a session several commits
  // at once, and one system call per frame is then what limits fan-out
  // (bench/RESULTS.md, fanout-sse: 10 000 delta clients).
  if (!after_drain_) after_drain_ = sink_.home().after_drain(this->weak_from_this());
  if (!after_drain_ && queue_.empty() && write_at_once(f)) return;
  queue_.push_back(std::move(f));
  if (queue_.size() > ctx_.cfg.max_queue) {
    process_metrics().slow_clients_closed++;
    queue_.clear();
    latest_.clear();
    log(log_level::info, "slow_client_closed", {{"queued", std::to_string(ctx_.cfg.max_queue)}});
    return close(close_too_far_behind, "too far behind; reconnect and resume with since");
  }
  if (!after_drain_) wake_writer();
}

template <class Stream>
void ws_session<Stream>::send_latest(const std::string& topic, frame f) {
  if (finished_ || closing_) return;
  auto [it, inserted] = latest_.try_emplace(topic, f);
  if (!inserted) {
    it->second = std::move(f);
    process_metrics().snapshots_conflated++;
  }
  // Conflated first, written after the shard's batch: written from here, a
  // shard that falls behind would write every state of its backlog.
  if (after_drain_) return;
  after_drain_ = sink_.home().after_drain(this->weak_from_this());
  if (!after_drain_) wake_writer();
}

// The end of a shard's drain: what it handed the session (ordered frames,
// then the newest conflated states) goes at once, in one write
// (write_batch_at_once); the writer takes what is left.
template <class Stream>
void ws_session<Stream>::batch_delivered() {
  after_drain_ = false;
  if (queue_.empty() && latest_.empty()) return;
  if (!write_batch_at_once()) wake_writer();
}

template <class Stream>
void ws_session<Stream>::dropped(const std::string& topic) {
  latest_.erase(topic);
  send(make_frame({{"type", "unsubscribed"}, {"topic", topic}}));
}

template <class Stream>
void ws_session<Stream>::close(std::uint16_t code, std::string reason) {
  sink_.home().drain();  // what the hub sent before goes out before the close frame
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  wake_writer();
}

template <class Stream>
void ws_session<Stream>::wake_writer() {
  wakeup_.cancel();
}

// A frame as it goes on the wire: its header and its bytes, compressed for
// a deflate client when the frame has a compressed form (shared like the
// text: the pointer keeps the whole frame alive).
template <class Stream>
std::pair<std::string, shared_bytes> ws_session<Stream>::wire_form(frame f) const {
  if (const std::string* deflated = deflate_ ? f->deflated() : nullptr)
    return {frame_header(websocket_text, deflated->size(), true),
            shared_bytes(std::move(f), deflated)};
  std::string header = frame_header(websocket_text, f->size());
  return {std::move(header), std::move(f)};
}

// The fast path of a delivery. A frame with nothing queued before it and no
// write in flight goes to the socket from here, on plain TCP: waking the
// writer instead costs a timer cancel, a coroutine resume and a write
// operation's allocations per delivery, more than the system call itself
// (bench/RESULTS.md, fanout-realistic-10k-direct). What the socket does not
// take waits in the outbound stream for the writer, as every frame did.
// False: not written; the caller queues the frame.
template <class Stream>
bool ws_session<Stream>::write_at_once(frame& f) {
  if constexpr (!std::is_same_v<Stream, asio::ip::tcp::socket>) {
    return false;
  } else {
    auto& out = ws_.next_layer();
    if (!accepted_ || finished_ || closing_ || out.busy()) return false;
    auto [header, payload] = wire_form(std::move(f));
    std::size_t bytes = 0;
    bool all = out.write_or_queue(std::move(header), std::move(payload), bytes);
    process_metrics().messages_sent++;
    process_metrics().bytes_sent += bytes;
    process_metrics().socket_writes++;
    if (!all) wake_writer();
    return true;
  }
}

// The batch path of a delivery: on plain TCP, with nothing queued and no
// write in flight, every frame waiting in the session goes to the socket in
// one non-blocking sendmsg from here; what the socket does not take waits
// for the writer. False: nothing was written; the caller wakes the writer.
template <class Stream>
bool ws_session<Stream>::write_batch_at_once() {
  if constexpr (!std::is_same_v<Stream, asio::ip::tcp::socket>) {
    return false;
  } else {
    auto& out = ws_.next_layer();
    if (!accepted_ || finished_ || closing_ || out.busy()) return false;
    queue_for_writing();
    std::size_t bytes = 0;
    out.write_queued_at_once(bytes);
    process_metrics().bytes_sent += bytes;
    process_metrics().socket_writes++;
    if (out.has_output()) wake_writer();
    return true;
  }
}

// Frames waiting in the session move to the outbound stream: the ordered
// ones, then the newest snapshot of each conflated topic.
template <class Stream>
void ws_session<Stream>::queue_for_writing() {
  auto& out = ws_.next_layer();
  auto add = [&](frame f) {
    auto [header, payload] = wire_form(std::move(f));
    out.push_frame(std::move(header), std::move(payload));
    process_metrics().messages_sent++;
  };
  for (frame& f : queue_) add(std::move(f));
  queue_ = {};  // its memory too: a burst's capacity would stay with an idle connection
  for (auto& [topic, f] : latest_) add(std::move(f));
  latest_.clear();
}

template <class Stream>
asio::awaitable<void> ws_session<Stream>::write_loop() {
  auto self = this->shared_from_this();
  auto& out = ws_.next_layer();
  while (true) {
    if (!finished_) queue_for_writing();
    if (out.has_output()) {
      // The kernel takes the write only while little of the connection's
      // output is unsent (max_unsent_bytes in main.cpp): while it waits,
      // newer snapshots replace older ones in latest_, and a client that
      // falls behind gets the newest state next, not a backlog.
      std::size_t bytes = 0;
      std::size_t writes = 0;
      beast::error_code ec = co_await out.flush(bytes, writes);
      process_metrics().bytes_sent += bytes;
      process_metrics().socket_writes += writes;
      if (ec) {
        finished_ = true;
        break;
      }
      continue;
    }
    if (finished_) break;
    if (closing_ && !close_started_) {
      // Everything before the close frame is written; Beast sends it (through
      // `out`), waits for the client's and tears the connection down.
      close_started_ = true;
      spawn(close_handshake(), "close");
      continue;
    }
    wakeup_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await wakeup_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  out.writer_gone();
}

template <class Stream>
asio::awaitable<void> ws_session<Stream>::close_handshake() {
  auto self = this->shared_from_this();
  websocket::close_reason reason(static_cast<websocket::close_code>(close_code_), close_reason_);
  co_await ws_.async_close(reason, asio::as_tuple(asio::use_awaitable));
}

}  // namespace queuecast
