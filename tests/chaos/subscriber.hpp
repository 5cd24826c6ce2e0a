// One chaos-test subscriber: a WebSocket (or Server-Sent Events) client of
// queuecastd that subscribes to one topic, keeps the topic's state, checks the seq chain of every
// message, and reconnects with resume (`since`) whenever its connection ends,
// on purpose or not. All subscribers share one io_context thread.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <array>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "topic_state.hpp"

namespace qc_chaos {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct subscriber_options {
  std::string topic;
  bool delta_mode = false;
  bool slow = false;     // reads with a pause after every message
  bool wanders = false;  // reconnects to a random daemon, not its home
  bool sse = false;      // GET /sse with Last-Event-ID instead of /ws with since
  int home = 0;          // index into the daemon port list
};

struct subscriber_counts {
  long messages = 0, deltas = 0, snapshots = 0;
  long connects = 0, resumed = 0, fresh_snapshots = 0, voluntary_reconnects = 0;
  long server_closes = 0;
  long stale = 0, live = 0;  // status messages: the daemon lost / regained its database
};

class subscriber : public std::enable_shared_from_this<subscriber> {
 public:
  subscriber(asio::io_context& ioc, subscriber_options options, std::function<int(int)> port_of,
             std::uint64_t seed);

  void start() { connect(); }
  void stop();
  // Drops the connection on purpose; the subscriber resumes from its last seq.
  void reconnect_now();

  const subscriber_options& options() const { return options_; }
  const subscriber_counts& counts() const { return counts_; }
  const std::vector<std::string>& violations() const { return violations_; }
  std::int64_t last_seq() const { return last_seq_; }
  bool has_state() const { return has_state_; }
  json::object canonical_state() const { return state_.canonical(); }
  std::string describe() const;

 private:
  void connect();
  void on_connect(beast::error_code ec);
  void on_handshake(beast::error_code ec);
  void read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void on_sse_connect(beast::error_code ec);
  void read_sse();
  void on_sse_read(beast::error_code ec, std::size_t bytes);
  void handle_text(const std::string& text);
  void after_message(std::function<void()> next);
  void handle(const json::object& message);
  void handle_update(const json::object& message, bool is_delta);
  void connection_lost(const std::string& why);
  void violation(const std::string& what);

  asio::io_context& ioc_;
  subscriber_options options_;
  std::function<int(int)> port_of_;
  std::mt19937_64 rng_;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws_;
  std::unique_ptr<beast::tcp_stream> sse_;  // the event stream, in sse mode
  std::string sse_buffer_;                  // bytes read and not yet parsed
  std::array<char, 16384> sse_chunk_{};
  bool sse_head_done_ = false;
  beast::flat_buffer buffer_;
  asio::steady_timer timer_;
  topic_state state_;
  bool has_state_ = false;       // a snapshot has been applied at least once
  bool awaiting_start_ = false;  // after `subscribed`, before its first update
  bool resumed_ = false;
  std::int64_t last_seq_ = -1;  // seq of the last message applied on the topic
  bool stopped_ = false;
  int daemon_ = 0;
  subscriber_counts counts_;
  std::vector<std::string> violations_;
};

}  // namespace qc_chaos
