// Idle WebSocket clients for bench/idle_memory.sh: opens N connections to
// queuecastd's /ws, each with one delta-mode subscription to one topic, and
// holds them idle so the script can read the daemon's memory.
//
//   ws_idle_clients PORT TOPIC N SECONDS
//
// Prints "ready subscribed=S failed=F" once every client got its
// `subscribed` and first `snapshot` (or failed, or 120 s passed), then holds
// the connections until SIGTERM/SIGINT or SECONDS, closes each with a close
// frame (1000) and exits: 0 when every client subscribed and closed cleanly.
// Each client keeps one read pending while idle, so the daemon's keep-alive
// pings are answered. At most `in_flight` handshakes at a time: the daemon
// counts handshaking connections against --max-http-connections.
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

constexpr int in_flight = 200;
constexpr auto subscribe_deadline = std::chrono::seconds(120);
constexpr auto close_deadline = std::chrono::seconds(20);

struct tally {
  int started = 0;
  int subscribed = 0;
  int failed = 0;
  int closed = 0;
  int close_failed = 0;
};

class client : public std::enable_shared_from_this<client> {
 public:
  client(asio::io_context& ioc, asio::ip::tcp::endpoint at, const std::string& topic, tally& t,
         std::function<void()> next)
      : ws_(ioc),
        at_(at),
        request_(R"({"type":"subscribe","topic":")" + topic + R"(","mode":"delta"})"),
        tally_(t),
        next_(std::move(next)) {}

  void start() {
    auto self = shared_from_this();
    beast::get_lowest_layer(ws_).async_connect(at_, [self](beast::error_code ec) {
      if (ec) return self->fail("connect", ec.message());
      self->ws_.async_handshake(self->response_, "127.0.0.1", "/ws", [self](beast::error_code ec) {
        if (ec) {
          auto& res = self->response_;
          return self->fail("upgrade", ec.message() + " (HTTP " + std::to_string(res.result_int()) +
                                           " " + res.body() + ")");
        }
        self->response_ = {};
        self->ws_.async_write(asio::buffer(self->request_),
                              [self](beast::error_code ec, std::size_t) {
                                if (ec) return self->fail("subscribe", ec.message());
                                self->read();
                              });
      });
    });
  }

  // A close frame after the subscription; counted when the daemon answers.
  void close() {
    if (state_ != state::idle) return;
    state_ = state::closing;
    auto self = shared_from_this();
    ws_.async_close(websocket::close_code::normal, [self](beast::error_code ec) {
      if (ec)
        self->tally_.close_failed++;
      else
        self->tally_.closed++;
    });
  }

 private:
  enum class state { subscribing, idle, closing, failed };

  void read() {
    auto self = shared_from_this();
    ws_.async_read(buffer_, [self](beast::error_code ec, std::size_t) {
      if (ec) {
        // A read that ends while closing is the close itself.
        if (self->state_ != state::closing) self->fail("read", ec.message());
        return;
      }
      self->on_message();
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  // welcome, then subscribed, then the snapshot at S: subscribed and idle.
  void on_message() {
    if (state_ != state::subscribing) return;
    auto data = buffer_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (text.find(R"("type":"subscribed")") != std::string_view::npos) got_subscribed_ = true;
    if (text.find(R"("type":"error")") != std::string_view::npos) return fail("reply", text);
    if (got_subscribed_ && text.find(R"("type":"snapshot")") != std::string_view::npos) {
      state_ = state::idle;
      tally_.subscribed++;
      next_();
    }
  }

  void fail(const char* where, std::string_view what) {
    if (state_ == state::failed) return;
    if (tally_.failed == 0) {
      std::fprintf(stderr, "ws_idle_clients: first failure: %s: %.*s\n", where,
                   static_cast<int>(what.size()), what.data());
    }
    bool was_subscribing = state_ == state::subscribing;
    state_ = state::failed;
    tally_.failed++;
    if (was_subscribing) next_();
  }

  websocket::stream<beast::tcp_stream> ws_;
  asio::ip::tcp::endpoint at_;
  beast::flat_buffer buffer_;
  websocket::response_type response_;  // the upgrade's answer, kept to say why it failed
  std::string request_;
  tally& tally_;
  std::function<void()> next_;
  state state_ = state::subscribing;
  bool got_subscribed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: ws_idle_clients PORT TOPIC N SECONDS\n");
    return 2;
  }
  asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                             static_cast<unsigned short>(std::atoi(argv[1])));
  std::string topic = argv[2];
  int n = std::atoi(argv[3]);
  auto hold = std::chrono::seconds(std::atoi(argv[4]));

  asio::io_context ioc;
  tally t;
  std::vector<std::shared_ptr<client>> clients;
  clients.reserve(n);
  // Each finished subscription (or failure) starts the next client.
  std::function<void()> start_next = [&] {
    if (t.started >= n) return;
    t.started++;
    clients.push_back(std::make_shared<client>(ioc, at, topic, t, start_next));
    clients.back()->start();
  };
  for (int i = 0; i < in_flight; ++i) start_next();

  auto deadline = std::chrono::steady_clock::now() + subscribe_deadline;
  while (t.subscribed + t.failed < n && std::chrono::steady_clock::now() < deadline)
    ioc.run_for(std::chrono::milliseconds(50));
  std::printf("ready subscribed=%d failed=%d\n", t.subscribed, t.failed);
  std::fflush(stdout);

  // Idle until told to stop; pending reads answer the daemon's pings.
  bool stop = false;
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](beast::error_code, int) { stop = true; });
  auto hold_until = std::chrono::steady_clock::now() + hold;
  while (!stop && std::chrono::steady_clock::now() < hold_until)
    ioc.run_for(std::chrono::milliseconds(100));

  for (auto& c : clients) c->close();
  auto close_until = std::chrono::steady_clock::now() + close_deadline;
  while (t.closed + t.close_failed < t.subscribed && std::chrono::steady_clock::now() < close_until)
    ioc.run_for(std::chrono::milliseconds(50));
  std::printf("closed=%d close_failed=%d\n", t.closed, t.close_failed);
  bool clean = t.failed == 0 && t.subscribed == n && t.closed == n;
  return clean ? 0 : 1;
}
