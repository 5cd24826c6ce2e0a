// Fan-out load generator for queuecastd (bench/fanout_bench.sh runs it).
//
// Opens N WebSocket clients on one queue topic (snapshot mode, as dashboards
// use it), then commits R updates per second for D seconds. Each update
// writes the wall-clock time (µs) into the title of the queue's marker phase;
// a client that receives the snapshot computes commit-to-client latency.
// Prints one line: clients, rate, delivered messages/s, p50/p99/max latency.
// --tls: wss:// (the daemon's certificate is not verified: a benchmark).
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct results {
  std::vector<std::int64_t> latencies_us;
  std::uint64_t messages = 0;
  int connected = 0;
  int failed = 0;
};

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Stream: beast::tcp_stream (ws://) or tls_stream (wss://).
template <class Stream>
class client : public std::enable_shared_from_this<client<Stream>> {
 public:
  // A stalled client subscribes and then never reads again.
  template <class... Layer>
  client(int port, std::string topic, results& out, bool stalled, Layer&&... layer)
      : ws_(std::forward<Layer>(layer)...),
        port_(port),
        topic_(std::move(topic)),
        out_(out),
        stalled_(stalled) {}

  void start() {
    auto self = this->shared_from_this();
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(port_));
    // QUEUECAST_TOKEN: authenticate in the upgrade, as a browser client can.
    if (const char* token = std::getenv("QUEUECAST_TOKEN"); token && *token) {
      std::string protocols = std::string("queuecast.v1, token.") + token;
      ws_.set_option(websocket::stream_base::decorator([protocols](websocket::request_type& req) {
        req.set(beast::http::field::sec_websocket_protocol, protocols);
      }));
    }
    beast::get_lowest_layer(ws_).async_connect(ep, [self](beast::error_code ec) {
      if (ec) return self->fail();
      if constexpr (std::is_same_v<Stream, tls_stream>) {
        self->ws_.next_layer().async_handshake(asio::ssl::stream_base::client,
                                               [self](beast::error_code ec) {
                                                 if (ec) return self->fail();
                                                 self->upgrade();
                                               });
      } else {
        self->upgrade();
      }
    });
  }

 private:
  void upgrade() {
    auto self = this->shared_from_this();
    ws_.async_handshake("127.0.0.1", "/ws", [self](beast::error_code ec) {
      if (ec) return self->fail();
      self->out_.connected++;
      self->request_ = "{\"type\":\"subscribe\",\"topic\":\"" + self->topic_ + "\"}";
      self->ws_.async_write(asio::buffer(self->request_),
                            [self](beast::error_code ec, std::size_t) {
                              if (ec) return self->fail();
                              if (!self->stalled_) self->read();
                            });
    });
  }
  void fail() { out_.failed++; }
  void read() {
    auto self = this->shared_from_this();
    ws_.async_read(buffer_, [self](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->on_message();
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }
  void on_message() {
    std::int64_t received = now_us();
    auto data = buffer_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (text.find("\"snapshot\"") == std::string_view::npos) return;
    auto at = text.find("\"title\":\"t");
    if (at == std::string_view::npos) return;
    std::int64_t sent = std::strtoll(text.data() + at + 10, nullptr, 10);
    if (sent <= 0) return;
    out_.messages++;
    out_.latencies_us.push_back(received - sent);
  }

  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  int port_;
  std::string topic_;
  std::string request_;
  results& out_;
  bool stalled_;
};

std::int64_t percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return -1;
  std::size_t k = static_cast<std::size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  bool tls = argc > 1 && std::strcmp(argv[1], "--tls") == 0;
  if (tls) {
    --argc;
    ++argv;
  }
  if (argc < 7) {
    std::fprintf(stderr,
                 "usage: ws_loadgen [--tls] PORT CONNINFO QUEUE CLIENTS COMMITS_PER_SECOND SECONDS "
                 "[STALLED]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  std::string conninfo = argv[2], queue = argv[3];
  int clients = std::atoi(argv[4]), rate = std::atoi(argv[5]), seconds = std::atoi(argv[6]);
  int stalled = argc > 7 ? std::atoi(argv[7]) : 0;

  PGconn* db = PQconnectdb(conninfo.c_str());
  if (PQstatus(db) != CONNECTION_OK) {
    std::fprintf(stderr, "ws_loadgen: %s", PQerrorMessage(db));
    return 1;
  }
  PGresult* marker =
      PQexec(db, ("SELECT min(id) FROM queuecast.phases WHERE queue = '" + queue + "'").c_str());
  std::string marker_id = PQgetvalue(marker, 0, 0);
  PQclear(marker);

  asio::io_context ioc;
  results out;
  asio::ssl::context tls_context(asio::ssl::context::tls_client);
  tls_context.set_verify_mode(asio::ssl::verify_none);
  std::vector<std::shared_ptr<void>> all;
  auto start_client = [&](results& into, bool stall) {
    if (tls) {
      auto c = std::make_shared<client<tls_stream>>(port, "queue:" + queue, into, stall, ioc,
                                                    tls_context);
      c->start();
      all.push_back(c);
    } else {
      auto c =
          std::make_shared<client<beast::tcp_stream>>(port, "queue:" + queue, into, stall, ioc);
      c->start();
      all.push_back(c);
    }
  };
  results stalled_out;  // stalled clients count their connects here
  for (int i = 0; i < stalled; ++i) start_client(stalled_out, true);
  for (int i = 0; i < clients; ++i) {
    start_client(out, false);
    if (i % 200 == 199) ioc.poll();  // let handshakes progress while connecting
  }
  // Wait (bounded) until every client is connected and has its first snapshot.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.connected + out.failed < clients && std::chrono::steady_clock::now() < deadline) {
    ioc.run_for(std::chrono::milliseconds(50));
  }
  ioc.run_for(std::chrono::milliseconds(500));
  out.latencies_us.clear();
  out.messages = 0;

  std::atomic<bool> done{false};
  std::thread writer([&] {
    auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < rate * seconds; ++n) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(1000000LL * n / rate));
      std::string sql = "UPDATE queuecast.phases SET title = 't" + std::to_string(now_us()) +
                        "' WHERE id = " + marker_id;
      PQclear(PQexec(db, sql.c_str()));
    }
    done = true;
  });
  auto measure_start = std::chrono::steady_clock::now();
  while (!done) ioc.run_for(std::chrono::milliseconds(20));
  ioc.run_for(std::chrono::milliseconds(1000));  // drain what is in flight
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_start).count();
  writer.join();
  PQfinish(db);

  std::size_t samples = out.latencies_us.size();
  std::int64_t p50 = percentile(out.latencies_us, 0.50), p99 = percentile(out.latencies_us, 0.99);
  std::int64_t max =
      samples ? *std::max_element(out.latencies_us.begin(), out.latencies_us.end()) : -1;
  std::printf("stalled=%d ", stalled_out.connected);
  std::printf(
      "clients=%d connected=%d failed=%d rate=%d seconds=%d delivered=%llu delivered_per_s=%.0f "
      "expected=%lld p50_us=%lld p99_us=%lld max_us=%lld\n",
      clients, out.connected, out.failed, rate, seconds,
      static_cast<unsigned long long>(out.messages), out.messages / elapsed,
      static_cast<long long>(rate) * seconds * clients, static_cast<long long>(p50),
      static_cast<long long>(p99), static_cast<long long>(max));
  return out.failed ? 1 : 0;
}
