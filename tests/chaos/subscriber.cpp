#include "subscriber.hpp"

#include <iostream>

namespace qc_chaos {

subscriber::subscriber(asio::io_context& ioc, subscriber_options options,
                       std::function<int(int)> port_of, std::uint64_t seed)
    : ioc_(ioc),
      options_(std::move(options)),
      port_of_(std::move(port_of)),
      rng_(seed),
      timer_(ioc),
      state_(options_.topic),
      daemon_(options_.home) {}

std::string subscriber::describe() const {
  return options_.topic + (options_.sse ? " sse" : "") +
         (options_.delta_mode ? " delta" : " snapshot") + (options_.slow ? " slow" : "") +
         (options_.wanders ? " wandering" : "") + " home=" + std::to_string(options_.home);
}

void subscriber::violation(const std::string& what) {
  violations_.push_back(describe() + ": " + what);
}

void subscriber::stop() {
  stopped_ = true;
  timer_.cancel();
  if (ws_) beast::get_lowest_layer(*ws_).close();
  if (sse_) sse_->close();
}

void subscriber::reconnect_now() {
  if (stopped_ || (!ws_ && !sse_)) return;
  counts_.voluntary_reconnects++;
  // The pending read fails; its handler reconnects.
  if (ws_) beast::get_lowest_layer(*ws_).close();
  if (sse_) sse_->close();
}

void subscriber::connect() {
  if (stopped_) return;
  if (options_.wanders) daemon_ = static_cast<int>(rng_() % 2);
  if (options_.sse) {
    sse_ = std::make_unique<beast::tcp_stream>(ioc_);
    sse_->expires_after(std::chrono::seconds(5));
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(port_of_(daemon_)));
    sse_->async_connect(
        endpoint, [self = shared_from_this()](beast::error_code ec) { self->on_sse_connect(ec); });
    return;
  }
  ws_ = std::make_unique<websocket::stream<beast::tcp_stream>>(ioc_);
  ws_->read_message_max(64 << 20);
  beast::get_lowest_layer(*ws_).expires_after(std::chrono::seconds(5));
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                         static_cast<unsigned short>(port_of_(daemon_)));
  beast::get_lowest_layer(*ws_).async_connect(
      endpoint, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
}

void subscriber::on_connect(beast::error_code ec) {
  if (ec) return connection_lost("connect: " + ec.message());
  ws_->async_handshake("127.0.0.1", "/ws", [self = shared_from_this()](beast::error_code ec) {
    self->on_handshake(ec);
  });
}

void subscriber::on_handshake(beast::error_code ec) {
  if (ec) return connection_lost("handshake: " + ec.message());
  beast::get_lowest_layer(*ws_).expires_never();
  counts_.connects++;
  json::object request{{"type", "subscribe"},
                       {"topic", options_.topic},
                       {"mode", options_.delta_mode ? "delta" : "snapshot"}};
  if (has_state_) request["since"] = last_seq_;
  auto text = std::make_shared<std::string>(json::serialize(request));
  ws_->text(true);
  ws_->async_write(asio::buffer(*text),
                   [self = shared_from_this(), text](beast::error_code ec, std::size_t) {
                     if (ec) return self->connection_lost("write: " + ec.message());
                     self->read();
                   });
}

void subscriber::read() {
  if (stopped_) return;
  ws_->async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->on_read(ec, n);
  });
}

void subscriber::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == websocket::error::closed) counts_.server_closes++;
    return connection_lost("read: " + ec.message());
  }
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  handle_text(text);
  after_message([self = shared_from_this()] { self->read(); });
}

void subscriber::handle_text(const std::string& text) {
  counts_.messages++;
  try {
    handle(json::parse(text).as_object());
  } catch (const std::exception& e) {
    violation(std::string("bad message (") + e.what() + "): " + text.substr(0, 200));
  }
}

// A slow consumer reads on after a pause: the daemon must conflate or cut it
// off, never stall.
void subscriber::after_message(std::function<void()> next) {
  if (!options_.slow) return next();
  timer_.expires_after(std::chrono::milliseconds(20 + rng_() % 60));
  timer_.async_wait([next = std::move(next)](beast::error_code ec) {
    if (!ec) next();
  });
}

// --- Server-Sent Events: the same checks, another transport ----------------

void subscriber::on_sse_connect(beast::error_code ec) {
  if (ec) return connection_lost("connect: " + ec.message());
  counts_.connects++;
  std::string topic;
  for (char c : options_.topic) topic += c == ':' ? std::string("%3A") : std::string(1, c);
  auto request = std::make_shared<std::string>(
      "GET /sse?topic=" + topic + "&mode=" + (options_.delta_mode ? "delta" : "snapshot") +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      (has_state_ ? "Last-Event-ID: " + std::to_string(last_seq_) + "\r\n" : std::string()) +
      "\r\n");
  sse_buffer_.clear();
  sse_head_done_ = false;
  asio::async_write(*sse_, asio::buffer(*request),
                    [self = shared_from_this(), request](beast::error_code ec, std::size_t) {
                      if (ec) return self->connection_lost("write: " + ec.message());
                      self->sse_->expires_never();
                      self->read_sse();
                    });
}

void subscriber::read_sse() {
  if (stopped_ || !sse_) return;
  sse_->async_read_some(asio::buffer(sse_chunk_),
                        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                          self->on_sse_read(ec, n);
                        });
}

void subscriber::on_sse_read(beast::error_code ec, std::size_t n) {
  if (ec) return connection_lost("read: " + ec.message());
  sse_buffer_.append(sse_chunk_.data(), n);
  if (!sse_head_done_) {
    auto end = sse_buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return read_sse();
    if (sse_buffer_.compare(0, 12, "HTTP/1.1 200") != 0)
      return connection_lost("refused: " + sse_buffer_.substr(0, 40));
    sse_buffer_.erase(0, end + 4);
    sse_head_done_ = true;
  }
  bool closed = false;
  for (auto end = sse_buffer_.find("\n\n"); end != std::string::npos && !closed;
       end = sse_buffer_.find("\n\n")) {
    std::string block = sse_buffer_.substr(0, end);
    sse_buffer_.erase(0, end + 2);
    std::string data;
    bool close_event = false;
    std::size_t at = 0;
    while (at < block.size()) {
      auto nl = block.find('\n', at);
      std::string line = block.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
      at = nl == std::string::npos ? block.size() : nl + 1;
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
      if (line == "event: close") close_event = true;
    }
    if (close_event) {
      counts_.server_closes++;
      closed = true;
    } else if (!data.empty()) {
      handle_text(data);
    }
  }
  if (closed) return connection_lost("closed by the daemon");
  after_message([self = shared_from_this()] { self->read_sse(); });
}

void subscriber::handle(const json::object& message) {
  std::string type(message.at("type").as_string());
  if (type == "subscribed") {
    awaiting_start_ = true;
    resumed_ = message.at("resumed").as_bool();
    if (resumed_) {
      // The chain continues at the daemon's position for the topic, which
      // is at or before the seq we asked for (same state in between).
      counts_.resumed++;
      std::int64_t position = message.at("seq").to_number<std::int64_t>();
      if (position > last_seq_) {
        violation("resumed at seq " + std::to_string(position) + ", after the asked " +
                  std::to_string(last_seq_));
      }
      last_seq_ = position;
    }
  } else if (type == "snapshot" || type == "delta") {
    if (message.at("topic").as_string() != options_.topic) {
      violation("message for another topic: " + json::serialize(message));
      return;
    }
    handle_update(message, type == "delta");
  } else if (type == "status") {
    (message.at("state").as_string() == "stale" ? counts_.stale : counts_.live)++;
  } else if (type == "error") {
    violation("error message: " + json::serialize(message));
  }
  // welcome, status (stale/live) and pong carry nothing to check here.
}

void subscriber::handle_update(const json::object& message, bool is_delta) {
  std::int64_t seq = message.at("seq").to_number<std::int64_t>();
  bool fresh = !is_delta && !message.contains("prev_seq");
  if (fresh) {
    // Only right after `subscribed` without resume may a chain start anew.
    if (!awaiting_start_ || resumed_)
      violation("snapshot without prev_seq in the middle of a stream");
    if (has_state_ && seq < last_seq_)
      violation("fresh snapshot went back from " + std::to_string(last_seq_) + " to " +
                std::to_string(seq));
    counts_.fresh_snapshots++;
  } else {
    std::int64_t prev = message.at("prev_seq").to_number<std::int64_t>();
    // Deltas must chain exactly. Snapshots are whole states: a conflated
    // (slow) snapshot-mode client may skip states, never go back.
    bool chained = is_delta || options_.delta_mode ? prev == last_seq_ : prev >= last_seq_;
    if (!chained) {
      violation("gap or duplicate: prev_seq " + std::to_string(prev) + " after seq " +
                std::to_string(last_seq_));
    }
    if (seq <= last_seq_) violation("seq did not increase: " + std::to_string(seq));
  }
  awaiting_start_ = false;
  if (is_delta) {
    counts_.deltas++;
    std::string error = state_.apply(message.at("ops").as_array());
    if (!error.empty()) violation(error);
  } else {
    counts_.snapshots++;
    state_.reset(message.at("data").as_object());
    has_state_ = true;
  }
  last_seq_ = seq;
}

void subscriber::connection_lost(const std::string&) {
  if (stopped_) return;
  ws_.reset();
  sse_.reset();
  buffer_.consume(buffer_.size());
  timer_.expires_after(std::chrono::milliseconds(50 + rng_() % 250));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->connect();
  });
}

}  // namespace qc_chaos
