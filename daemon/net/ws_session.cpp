#include "ws_session.hpp"

#include "../util/log.hpp"
#include "../util/metrics.hpp"

namespace queuecast {

namespace {

// Client messages: a burst of 100, then 50 per second. Past the limit a
// message is refused with an error; a client that keeps going is closed.
constexpr double rate_burst = 100;
constexpr double rate_per_second = 50;
constexpr int violations_before_close = 200;

}  // namespace

ws_session::ws_session(beast::tcp_stream&& stream, hub& fanout, const config& cfg,
                       session_kind kind, std::string fixed_topic)
    : ws_(std::move(stream)),
      hub_(fanout),
      cfg_(cfg),
      kind_(kind),
      fixed_topic_(std::move(fixed_topic)),
      wakeup_(ws_.get_executor()),
      tokens_(rate_burst),
      refilled_(std::chrono::steady_clock::now()) {
  process_metrics().connections_total++;
  process_metrics().connections_open++;
}

ws_session::~ws_session() {
  hub_.remove(this);
  process_metrics().connections_open--;
}

void ws_session::start(http::request<http::string_body> request) {
  asio::co_spawn(ws_.get_executor(), run(std::move(request)), asio::detached);
}

bool ws_session::authorised_by_header(const http::request<http::string_body>& request) const {
  if (cfg_.token.empty()) return true;
  std::string protocols(request[http::field::sec_websocket_protocol]);
  return protocols.find("token." + cfg_.token) != std::string::npos;
}

asio::awaitable<void> ws_session::run(http::request<http::string_body> request) {
  auto self = shared_from_this();
  authorised_ = authorised_by_header(request);
  websocket::stream_base::timeout timeouts{cfg_.handshake_timeout, cfg_.idle_timeout, true};
  ws_.set_option(timeouts);
  ws_.read_message_max(cfg_.max_message_bytes);
  bool wants_subprotocol =
      request[http::field::sec_websocket_protocol].find("queuecast.v1") != beast::string_view::npos;
  ws_.set_option(
      websocket::stream_base::decorator([wants_subprotocol](websocket::response_type& res) {
        res.set(http::field::server, "queuecastd/0.1.0");
        if (wants_subprotocol) res.set(http::field::sec_websocket_protocol, "queuecast.v1");
      }));
  auto [ec] = co_await ws_.async_accept(request, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  hub_.attach(this);  // so status and shutdown frames reach it
  asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
  if (kind_ == session_kind::protocol) {
    send(welcome_frame(hub_.seq()));
  } else if (hub_.subscription_count(this) == 0) {
    hub_.subscribe(
        this, fixed_topic_,
        kind_ == session_kind::compat_queue ? sub_format::queue_update : sub_format::job_events,
        std::nullopt);
  }
  beast::flat_buffer buffer;
  while (!finished_) {
    auto [read_ec, bytes] = co_await ws_.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    if (read_ec) {
      if (read_ec == websocket::error::message_too_big) process_metrics().client_errors++;
      break;
    }
    if (!ws_.got_text()) {
      send(error_frame("binary_frame", "binary frames are not accepted; send JSON text"));
      process_metrics().client_errors++;
    } else {
      handle_text(beast::buffers_to_string(buffer.data()));
    }
    buffer.consume(buffer.size());
  }
  finished_ = true;
  hub_.remove(this);
  wake_writer();
}

void ws_session::handle_text(const std::string& text) {
  if (rate_limited()) {
    if (++violations_ > violations_before_close) return close(4002, "too many messages");
    process_metrics().client_errors++;
    return send(error_frame("rate_limited", "too many messages; at most 50 per second"));
  }
  if (kind_ != session_kind::protocol) {
    // The compatibility endpoints answer a ping in the shape it came in.
    if (text == "ping") return send(std::make_shared<const std::string>("pong"));
    if (text.find("\"ping\"") != std::string::npos) return send(make_frame({{"type", "pong"}}));
    return;
  }
  handle_request(parse_client_message(text));
}

void ws_session::handle_request(const client_message& message) {
  if (auto* hello = std::get_if<hello_request>(&message)) {
    if (!cfg_.token.empty() && hello->token != cfg_.token)
      return close(1008, "authentication failed");
    authorised_ = true;
    return;
  }
  if (!authorised_)
    return close(1008, "authentication required: send {\"type\":\"hello\",\"token\":...} first");
  if (auto* bad = std::get_if<bad_request>(&message)) {
    process_metrics().client_errors++;
    return send(error_frame(bad->code, bad->message, bad->topic));
  }
  if (auto* ping = std::get_if<ping_request>(&message)) {
    return send(make_frame({{"type", "pong"}, {"id", ping->id}, {"seq", hub_.seq()}}));
  }
  if (auto* unsubscribe = std::get_if<unsubscribe_request>(&message)) {
    if (!hub_.is_subscribed(this, unsubscribe->topic)) {
      return send(error_frame("not_subscribed", "not subscribed to '" + unsubscribe->topic + "'",
                              unsubscribe->topic));
    }
    hub_.unsubscribe(this, unsubscribe->topic);
    latest_.erase(unsubscribe->topic);
    return send(make_frame({{"type", "unsubscribed"}, {"topic", unsubscribe->topic}}));
  }
  const auto& request = std::get<subscribe_request>(message);
  // The hub holds the subscriptions: a refused topic (unknown) takes no slot.
  if (!hub_.is_subscribed(this, request.topic) &&
      hub_.subscription_count(this) >= cfg_.max_subscriptions) {
    process_metrics().client_errors++;
    return send(
        error_frame("too_many_subscriptions",
                    "at most " + std::to_string(cfg_.max_subscriptions) + " topics per connection",
                    request.topic));
  }
  // Subscribing again replaces the old subscription (a client resyncing).
  hub_.unsubscribe(this, request.topic);
  latest_.erase(request.topic);
  hub_.subscribe(this, request.topic,
                 request.mode == sub_mode::delta ? sub_format::delta : sub_format::snapshot,
                 request.since);
}

bool ws_session::rate_limited() {
  auto now = std::chrono::steady_clock::now();
  tokens_ = std::min(rate_burst, tokens_ + std::chrono::duration<double>(now - refilled_).count() *
                                               rate_per_second);
  refilled_ = now;
  if (tokens_ < 1) return true;
  tokens_ -= 1;
  return false;
}

void ws_session::send(frame f) {
  if (finished_ || closing_) return;
  queue_.push_back(std::move(f));
  if (queue_.size() > cfg_.max_queue) {
    process_metrics().slow_clients_closed++;
    queue_.clear();
    latest_.clear();
    log(log_level::info, "slow_client_closed", {{"queued", std::to_string(cfg_.max_queue)}});
    return close(4001, "too far behind; reconnect and resume with since");
  }
  wake_writer();
}

void ws_session::send_latest(const std::string& topic, frame f) {
  if (finished_ || closing_) return;
  auto [it, inserted] = latest_.try_emplace(topic, f);
  if (!inserted) {
    it->second = std::move(f);
    process_metrics().snapshots_conflated++;
  }
  wake_writer();
}

void ws_session::dropped(const std::string& topic) {
  latest_.erase(topic);
  send(make_frame({{"type", "unsubscribed"}, {"topic", topic}}));
}

void ws_session::close(std::uint16_t code, std::string reason) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  wake_writer();
}

void ws_session::wake_writer() {
  wakeup_.cancel();
}

asio::awaitable<void> ws_session::write_loop() {
  auto self = shared_from_this();
  while (!finished_) {
    if (queue_.empty() && latest_.empty()) {
      if (closing_) break;
      wakeup_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await wakeup_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    // Everything that waits goes out back to back: ordered frames first,
    // then the newest snapshot per topic.
    std::deque<frame> batch;
    batch.swap(queue_);
    for (auto& [topic, f] : latest_) batch.push_back(std::move(f));
    latest_.clear();
    for (const frame& f : batch) {
      ws_.text(true);
      auto [ec, bytes] =
          co_await ws_.async_write(asio::buffer(*f), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        finished_ = true;
        co_return;
      }
      process_metrics().messages_sent++;
      process_metrics().bytes_sent += bytes;
    }
  }
  if (closing_ && !finished_) {
    websocket::close_reason reason(static_cast<websocket::close_code>(close_code_), close_reason_);
    co_await ws_.async_close(reason, asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace queuecast
