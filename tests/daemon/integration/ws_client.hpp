// A blocking WebSocket test client with a read timeout, for integration
// tests of the real queuecastd process.
#pragma once

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qc_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;

class ws_client {
 public:
  using header_list = std::vector<std::pair<std::string, std::string>>;

  // Connects and upgrades; throws when the daemon refuses (see try_upgrade).
  explicit ws_client(int port, const std::string& target = "/ws", const header_list& headers = {})
      : ws_(ioc_) {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                     static_cast<unsigned short>(port));
    ws_.next_layer().connect(endpoint);
    ws_.read_message_max(256 << 20);
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    std::string host = "127.0.0.1";
    for (const auto& [name, value] : headers)
      if (name == "Host") host = value;
    websocket::response_type res;
    beast::error_code ec;
    ws_.handshake(res, host, target, ec);
    upgrade_status_ = res.result_int();
    if (ec) {
      last_status_holder() = upgrade_status_;
      throw beast::system_error(ec, "upgrade refused with HTTP " + std::to_string(upgrade_status_));
    }
  }

  // The HTTP status of an upgrade attempt: 101 when it was accepted.
  static int try_upgrade(int port, const std::string& target, const header_list& headers = {}) {
    try {
      ws_client client(port, target, headers);
      return client.upgrade_status_;
    } catch (const beast::system_error&) {
      return last_status_holder();
    }
  }

  // How long read_text() waits. Asio's blocking reads ignore SO_RCVTIMEO, so
  // reads are asynchronous, run for at most this long.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  void send_text(const std::string& text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  void send_json(const json::object& message) { send_text(json::serialize(message)); }
  // Bytes straight onto the socket, past the WebSocket layer (to forge frames).
  void send_raw(const std::string& bytes) { asio::write(ws_.next_layer(), asio::buffer(bytes)); }
  // A WebSocket ping (control frame); pongs are counted as reads see them.
  void send_ping() {
    if (!counting_pongs_) {
      counting_pongs_ = true;
      ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
        if (kind == websocket::frame_type::pong) ++pongs_;
      });
    }
    ws_.ping({});
  }
  int pongs() const { return pongs_; }
  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes));
  }

  // The next text message, or nullopt on timeout/close (close_code() says why).
  // The next text message, or nullopt on timeout or close. After a timeout
  // the connection is unusable (the read was cancelled).
  std::optional<std::string> read_text() {
    if (broken_) return std::nullopt;
    beast::flat_buffer buffer;
    beast::error_code ec = asio::error::would_block;
    ws_.async_read(buffer, [&](beast::error_code e, std::size_t) { ec = e; });
    ioc_.restart();
    ioc_.run_for(timeout_);
    if (ec == asio::error::would_block) {
      ws_.next_layer().cancel();
      ioc_.restart();
      ioc_.run();
      broken_ = true;
      error_ = asio::error::timed_out;
      return std::nullopt;
    }
    if (ec) {
      error_ = ec;
      broken_ = true;
      return std::nullopt;
    }
    return beast::buffers_to_string(buffer.data());
  }

  std::optional<json::object> read_json() {
    auto text = read_text();
    if (!text) return std::nullopt;
    return json::parse(*text).as_object();
  }

  // Reads until a message of `type` (for `topic` when given) arrives.
  std::optional<json::object> read_until(const std::string& type, const std::string& topic = {}) {
    for (int i = 0; i < 100000; ++i) {
      auto message = read_json();
      if (!message) return std::nullopt;
      if (message->at("type").as_string() != type) continue;
      if (!topic.empty() && message->at("topic").as_string() != topic) continue;
      return message;
    }
    return std::nullopt;
  }

  int close_code() const { return static_cast<int>(ws_.reason().code); }
  beast::error_code error() const { return error_; }
  bool is_open() const { return ws_.is_open(); }

 private:
  static int& last_status_holder() {
    static thread_local int status = 0;
    return status;
  }
  int upgrade_status_ = 0;
  asio::io_context ioc_;
  websocket::stream<asio::ip::tcp::socket> ws_;
  beast::error_code error_;
  std::chrono::milliseconds timeout_{5000};
  bool broken_ = false;
  bool counting_pongs_ = false;
  int pongs_ = 0;
};

}  // namespace qc_test
