// Fan-out load generator that measures what production clients see
// (bench/fanout_realistic.sh runs it against queuecastd, the baseline relay
// and the limit writer).
//
// N WebSocket clients on one URL path, then R single-row UPDATEs per second
// for D seconds. Each UPDATE writes the wall-clock time in µs, taken just
// before the statement, into the title of the queue's marker phase as
// "t<µs>"; every message that carries the marker phase (a whole snapshot, or
// a delta's upsert) therefore names the update it reflects. Per update and
// client it records the receipt, and reports:
//   p50/p99/max of receipt - UPDATE time, over every (client, update) receipt;
//   delivered/expected (expected = clients x updates; conflation in snapshot
//   mode legitimately delivers fewer);
//   never_seen: updates whose state no client received (a skipped state is
//   legitimate in snapshot mode, so also:) never_reached: updates that no
//   client received nor passed (no later state either), and final_ok: clients
//   whose newest state at the end is the last update;
//   wire bytes (TCP payload after the handshake) and WebSocket payload bytes
//   per client.
//
// A raw epoll client, single-threaded, rather than Boost.Beast: at 10 000
// clients and 16 KB messages the generator shares the 2 cores with the server
// and PostgreSQL, and reading into one buffer with one parse per message
// keeps its share small (its CPU time is printed, gen_cpu_s).
//
// Usage: fanout_client PORT PATH MODE CONNINFO QUEUE CLIENTS RATE SECONDS [DRAIN_SECONDS]
//   PATH  /ws, /api/v1/ws/queue?queue=q, or any path of the relay/limit writer;
//         /sse?topic=queue:q&mode=M: Server-Sent Events instead of WebSocket
//         (a plain GET, each event's data line is one message)
//   MODE  snapshot | delta (send a subscribe to queue:QUEUE) | none (no subscribe)
// FANOUT_CLIENT_PARSE=1: parse every message with Boost.JSON, as a real
// client does, before looking at it. Slower readers: the server's socket
// buffers fill, and that changes what conflating servers deliver.
// FANOUT_CLIENT_DEFLATE=1: offer permessage-deflate (as browsers do) and
// inflate what comes compressed. A snapshot is inflated only as far as its
// marker (near the front): the generator's cost stays that of the plain
// client's scan, not a full inflate of every 16 KB message. wire bytes are
// then the compressed bytes; deflated= counts the clients that got the
// extension.
// Prints one line of key=value pairs. Loopback only; every wait is bounded.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class state { connecting, handshake, open, closed };

struct client {
  int fd = -1;
  state st = state::connecting;
  bool ready = false;           // has received its first state document
  std::string in;               // bytes not yet parsed (partial frame or handshake)
  std::string msg;              // fragments of the message being assembled
  bool msg_compressed = false;  // RSV1 on the message's first frame
  bool deflate = false;         // permessage-deflate negotiated
  std::int64_t newest = 0;      // newest marker time seen (µs), 0 = none
  std::uint64_t wire_bytes = 0, payload_bytes = 0;
  int close_code = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> receipts;  // (sent, received)
};

// The marker times in a message, in order: "title"s whose value is
// t<digits>. Only the marker phase has such titles. A delta carries one per
// upsert of the marker, and one delta can carry several (a batch of commits
// read together: one op per change), so a delta is scanned to its end. A
// snapshot carries exactly one, near its front (the marker is the oldest
// phase): the scan stops there, which keeps the generator's cost per 16 KB
// message small (a full scan made it the bottleneck at 1 000 clients).
template <class Found>
void marker_times(std::string_view m, Found&& found) {
  bool all = m.substr(0, 32).find("\"delta\"") != std::string_view::npos;
  static constexpr std::string_view needle = "\"title\"";
  const char* p = m.data();
  const char* end = m.data() + m.size();
  while (const void* hit =
             memmem(p, static_cast<std::size_t>(end - p), needle.data(), needle.size())) {
    p = static_cast<const char*>(hit) + needle.size();
    while (p < end && (*p == ' ' || *p == ':')) ++p;  // jsonb text has ": "
    if (end - p > 2 && p[0] == '"' && p[1] == 't' && p[2] >= '0' && p[2] <= '9') {
      found(std::strtoll(p + 2, nullptr, 10));
      if (!all) return;
    }
  }
}

// A client frame: FIN, opcode, masked payload (RFC 6455 requires the mask;
// the key is fixed: a benchmark).
std::string client_frame(int opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

// Small writes (the upgrade request, a subscribe, a pong) on an idle socket:
// they fit in its send buffer; a short write fails the client.
bool send_all(client& c, std::string_view data) {
  ssize_t n = ::write(c.fd, data.data(), data.size());
  return n == static_cast<ssize_t>(data.size());
}

std::int64_t percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return -1;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

struct options {
  int port = 0;
  std::string path, mode, conninfo, queue;
  int clients = 0, rate = 0, seconds = 0, drain = 15;
  bool parse = false;    // FANOUT_CLIENT_PARSE=1
  bool deflate = false;  // FANOUT_CLIENT_DEFLATE=1
};

// Inflates permessage-deflate messages (RFC 7692 §7.2.2): the server takes
// no context over, so one stream reset per message serves every client.
class inflater {
 public:
  inflater() { inflateInit2(&z_, -15); }
  ~inflater() { inflateEnd(&z_); }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  // The message's text, or (limit > 0) at least its first `limit` bytes.
  std::string_view inflate(std::string_view payload, std::size_t limit) {
    inflateReset(&z_);
    in_.assign(payload);
    in_.append("\x00\x00\xff\xff", 4);
    z_.next_in = reinterpret_cast<Bytef*>(in_.data());
    z_.avail_in = static_cast<uInt>(in_.size());
    out_.clear();
    int rc = Z_OK;
    while (rc == Z_OK && z_.avail_in > 0 && (limit == 0 || out_.size() < limit)) {
      std::size_t used = out_.size();
      out_.resize(used + 4096);
      z_.next_out = reinterpret_cast<Bytef*>(out_.data() + used);
      z_.avail_out = 4096;
      rc = ::inflate(&z_, Z_SYNC_FLUSH);
      out_.resize(used + 4096 - z_.avail_out);
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) ++errors;
    return out_;
  }
  std::uint64_t errors = 0;

 private:
  z_stream z_{};
  std::string in_, out_;
};

class generator {
 public:
  explicit generator(options o) : o_(std::move(o)), clients_(static_cast<std::size_t>(o_.clients)) {
    ep_ = epoll_create1(0);
    sse_ = o_.path.rfind("/sse", 0) == 0;
    if (sse_) {
      request_ = "GET " + o_.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o_.port) +
                 "\r\nAccept: text/event-stream\r\n\r\n";
      return;
    }
    subscribe_ = o_.mode == "none"
                     ? std::string()
                     : client_frame(1, "{\"type\":\"subscribe\",\"topic\":\"queue:" + o_.queue +
                                           "\",\"mode\":\"" + o_.mode + "\"}");
    request_ =
        "GET " + o_.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o_.port) +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        (o_.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                    : "") +
        "\r\n";
  }

  // Connects every client, at most 256 handshakes in flight (the listen
  // backlog), and waits until each has its first state document or failed.
  void connect_all(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::size_t next = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      while (next < clients_.size() && pending_ < 256) start(clients_[next++]);
      if (next == clients_.size() && pending_ == 0) break;
      poll(50);
    }
  }

  void poll(int timeout_ms) {
    epoll_event events[512];
    int n = epoll_wait(ep_, events, 512, timeout_ms);
    for (int i = 0; i < n; ++i) {
      client& c = clients_[events[i].data.u32];
      if (c.st == state::connecting) {
        on_connected(c);
      } else {
        on_readable(c);
      }
    }
  }

  // Forgets what the clients received while connecting.
  void reset_counters() {
    for (client& c : clients_) c.wire_bytes = c.payload_bytes = 0;
    messages_ = 0;
  }

  std::vector<client>& clients() { return clients_; }
  int connected() const { return connected_; }
  int failed() const { return failed_; }
  int deflated() const { return deflated_; }
  std::uint64_t inflate_errors() const { return inflate_.errors; }
  std::size_t last_message_bytes() const { return last_message_bytes_; }
  std::uint64_t bad_json() const { return bad_json_; }

 private:
  void start(client& c) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (r < 0 && errno != EINPROGRESS) return fail(c);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    ++pending_;
  }

  void fail(client& c) {
    if (c.st == state::connecting || c.st == state::handshake ||
        (c.st == state::open && !c.ready)) {
      --pending_;
      ++failed_;
    }
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.st = state::closed;
  }

  void on_connected(client& c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || !send_all(c, request_)) return fail(c);
    c.st = state::handshake;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void on_readable(client& c) {
    // A few reads per wake-up, then the next client: level-triggered epoll
    // comes back for the rest.
    for (int round = 0; round < 4 && c.st != state::closed; ++round) {
      ssize_t n = ::read(c.fd, scratch_, sizeof scratch_);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return fail(c);
      if (n < 0) return;
      std::int64_t received = now_us();
      std::string_view data(scratch_, static_cast<std::size_t>(n));
      if (c.st == state::handshake) {
        c.in.append(data);
        if (!on_handshake(c)) return;
        data = {};  // the frames that came with the 101 are in c.in
      } else {
        c.wire_bytes += data.size();
      }
      // Whole frames are parsed in place in the read buffer; only a partial
      // one is copied, into c.in, until the rest arrives.
      if (c.in.empty()) {
        std::size_t used = parse(c, data, received);
        if (c.st == state::open) c.in.assign(data.substr(used));
      } else {
        c.in.append(data);
        std::size_t used = parse(c, c.in, received);
        if (c.st == state::open) c.in.erase(0, used);
      }
      if (static_cast<std::size_t>(n) < sizeof scratch_) return;
    }
  }

  bool on_handshake(client& c) {
    std::size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    if (c.in.compare(0, 12, sse_ ? "HTTP/1.1 200" : "HTTP/1.1 101") != 0) {
      fail(c);
      return false;
    }
    std::string_view head(c.in.data(), end);
    c.deflate = o_.deflate && head.find("permessage-deflate") != std::string_view::npos;
    if (c.deflate) ++deflated_;
    c.in.erase(0, end + 4);
    c.wire_bytes += c.in.size();  // frames that came with the 101
    c.st = state::open;
    ++connected_;
    if (!subscribe_.empty() && !send_all(c, subscribe_)) {
      fail(c);
      return false;
    }
    return true;
  }

  // Handles the complete frames (events) at the front of `in`; returns the
  // bytes used.
  std::size_t parse(client& c, std::string_view in, std::int64_t received) {
    if (sse_) return parse_events(c, in, received);
    std::size_t pos = 0;
    while (c.st == state::open) {
      std::string_view b = in.substr(pos);
      if (b.size() < 2) break;
      auto b0 = static_cast<unsigned char>(b[0]), b1 = static_cast<unsigned char>(b[1]);
      std::uint64_t len = b1 & 0x7f;
      std::size_t header = 2;
      if (len == 126) {
        if (b.size() < 4) break;
        len = (static_cast<std::uint64_t>(static_cast<unsigned char>(b[2])) << 8) |
              static_cast<unsigned char>(b[3]);
        header = 4;
      } else if (len == 127) {
        if (b.size() < 10) break;
        len = 0;
        for (int i = 2; i < 10; ++i)
          len = (len << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
        header = 10;
      }
      if (b1 & 0x80) header += 4;  // a server must not mask; tolerate it anyway
      if (b.size() < header + len) break;
      std::string_view payload = b.substr(header, len);
      pos += header + len;
      int opcode = b0 & 0x0f;
      if (opcode == 9) {  // ping: answer, as a browser does
        if (!send_all(c, client_frame(10, payload))) {
          fail(c);
          break;
        }
      } else if (opcode == 8) {
        if (payload.size() >= 2)
          c.close_code = (static_cast<unsigned char>(payload[0]) << 8) |
                         static_cast<unsigned char>(payload[1]);
        fail(c);
        break;
      } else if (opcode == 0 || opcode == 1 || opcode == 2) {
        c.payload_bytes += len;
        if (opcode != 0) c.msg_compressed = c.deflate && (b0 & 0x40);
        if ((b0 & 0x80) && c.msg.empty()) {
          on_frame_message(c, payload, received);  // unfragmented: no copy
        } else {
          c.msg.append(payload);
          if (b0 & 0x80) {
            on_frame_message(c, c.msg, received);
            c.msg.clear();
          }
        }
      }
    }
    return pos;
  }

  // Server-Sent Events: "id: N\ndata: JSON\n\n" per message (the JSON is
  // one line), comments (": heartbeat") and "retry:" carry none, and
  // "event: close" ends the stream ({"type":"closed","code":N,...}).
  std::size_t parse_events(client& c, std::string_view in, std::int64_t received) {
    std::size_t pos = 0;
    while (c.st == state::open) {
      std::size_t end = in.find("\n\n", pos);
      if (end == std::string_view::npos) break;
      std::string_view event = in.substr(pos, end - pos);
      pos = end + 2;
      std::size_t data = event.rfind("data: ");
      if (data == std::string_view::npos || (data > 0 && event[data - 1] != '\n')) continue;
      std::string_view message = event.substr(data + 6);
      if (event.rfind("event: close", 0) == 0) {
        std::size_t code = message.find("\"code\":");
        if (code != std::string_view::npos) c.close_code = std::atoi(message.data() + code + 7);
        fail(c);
        break;
      }
      c.payload_bytes += message.size();
      on_message(c, message, received);
    }
    return pos;
  }

  // A compressed message is inflated first: a snapshot (one marker, near
  // its front) only as far as the last '}' of its first 4 KB, which ends
  // any marker title in it; the whole message when the marker is not there,
  // when it is a delta (markers anywhere) or when the client parses.
  void on_frame_message(client& c, std::string_view m, std::int64_t received) {
    if (!c.msg_compressed) return on_message(c, m, received);
    constexpr std::size_t prefix = 4096;
    std::string_view text = inflate_.inflate(m, o_.parse ? 0 : prefix);
    if (!o_.parse && text.size() >= prefix &&
        text.substr(0, 32).find("\"delta\"") == std::string_view::npos) {
      std::string_view head = text.substr(0, text.rfind('}') + 1);
      bool found = false;
      marker_times(head, [&](std::int64_t) { found = true; });
      if (found) return on_message(c, head, received);
      text = inflate_.inflate(m, 0);
    } else if (text.size() >= prefix) {
      text = inflate_.inflate(m, 0);
    }
    on_message(c, text, received);
  }

  void on_message(client& c, std::string_view m, std::int64_t received) {
    if (o_.parse) {
      boost::system::error_code ec;
      boost::json::value doc = boost::json::parse(m, ec);
      if (ec) ++bad_json_;
    }
    if (!c.ready && m.find("\"phases\"") != std::string_view::npos) {
      c.ready = true;
      --pending_;
    }
    marker_times(m, [&](std::int64_t sent) {
      if (sent <= c.newest) return;  // the initial state, or a state seen before
      c.newest = sent;
      c.receipts.emplace_back(sent, received);
      last_message_bytes_ = m.size();
      ++messages_;
    });
  }

  options o_;
  std::vector<client> clients_;
  int ep_ = -1;
  int pending_ = 0, connected_ = 0, failed_ = 0, deflated_ = 0;
  inflater inflate_;
  std::uint64_t messages_ = 0, bad_json_ = 0;
  std::size_t last_message_bytes_ = 0;
  std::string subscribe_, request_;
  bool sse_ = false;  // PATH is /sse...: Server-Sent Events, not WebSocket
  char scratch_[256 * 1024];
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(
        stderr,
        "usage: fanout_client PORT PATH snapshot|delta|none CONNINFO QUEUE CLIENTS RATE SECONDS "
        "[DRAIN_SECONDS]\n");
    return 2;
  }
  options o;
  o.port = std::atoi(argv[1]);
  o.path = argv[2];
  o.mode = argv[3];
  o.conninfo = argv[4];
  o.queue = argv[5];
  o.clients = std::atoi(argv[6]);
  o.rate = std::atoi(argv[7]);
  o.seconds = std::atoi(argv[8]);
  if (argc > 9) o.drain = std::atoi(argv[9]);
  const char* parse = std::getenv("FANOUT_CLIENT_PARSE");
  o.parse = parse && std::strcmp(parse, "1") == 0;
  const char* deflate = std::getenv("FANOUT_CLIENT_DEFLATE");
  o.deflate = deflate && std::strcmp(deflate, "1") == 0;
  if (o.clients < 1 || o.rate < 1 || o.seconds < 1 || o.clients > 100000 || o.rate > 10000) {
    std::fprintf(stderr, "fanout_client: bad arguments\n");
    return 2;
  }
  // One socket per client: the soft open-file limit up to the hard one.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  PGconn* db = PQconnectdb(o.conninfo.c_str());
  if (PQstatus(db) != CONNECTION_OK) {
    std::fprintf(stderr, "fanout_client: %s", PQerrorMessage(db));
    return 1;
  }
  const char* params[1] = {o.queue.c_str()};
  PGresult* marker = PQexecParams(db, "SELECT min(id) FROM queuecast.phases WHERE queue = $1", 1,
                                  nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(marker) != PGRES_TUPLES_OK || PQgetisnull(marker, 0, 0)) {
    std::fprintf(stderr, "fanout_client: queue %s has no phases\n", o.queue.c_str());
    return 1;
  }
  std::string marker_id = PQgetvalue(marker, 0, 0);
  PQclear(marker);

  auto* gen = new generator(o);  // on the heap: 10 000 clients and a 256 KB buffer
  gen->connect_all(std::chrono::seconds(90));
  auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < settle) gen->poll(20);
  gen->reset_counters();
  rusage before{};
  getrusage(RUSAGE_SELF, &before);

  // The writer: R UPDATEs a second on its own connection and thread; the
  // time goes into the title just before the statement is sent.
  const std::size_t updates =
      static_cast<std::size_t>(o.rate) * static_cast<std::size_t>(o.seconds);
  std::vector<std::int64_t> sent(updates, 0);
  std::atomic<bool> done{false};
  int failed_updates = 0;
  std::thread writer([&] {
    auto start = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < updates; ++n) {
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(1000000LL * static_cast<long long>(n) / o.rate));
      std::int64_t t = now_us();
      std::string sql = "UPDATE queuecast.phases SET title = 't" + std::to_string(t) +
                        "' WHERE id = " + marker_id;
      PGresult* r = PQexec(db, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) ++failed_updates;
      PQclear(r);
      sent[n] = t;
    }
    done = true;
  });
  // The writer ends after its UPDATEs (the script's `timeout` bounds a hung
  // statement); the drain waits until every open client has the last update.
  while (!done) gen->poll(20);
  writer.join();
  std::int64_t last = sent[updates - 1];
  std::int64_t last_receipt_us = 0;
  auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.drain);
  while (std::chrono::steady_clock::now() < drain_deadline) {
    bool all = true;
    for (client& c : gen->clients())
      if (c.st == state::open && c.newest != last) all = false;
    if (all) break;
    gen->poll(20);
  }
  PQfinish(db);
  rusage after{};
  getrusage(RUSAGE_SELF, &after);

  // Map each receipt to its update; latencies over all receipts.
  std::vector<char> seen(updates, 0);
  std::vector<std::int64_t> latencies;
  std::uint64_t delivered = 0, wire = 0, payload = 0, unknown = 0;
  int final_ok = 0, open = 0;
  std::map<int, int> close_codes;
  std::int64_t newest_overall = 0;
  for (client& c : gen->clients()) {
    for (auto [s, r] : c.receipts) {
      auto it = std::lower_bound(sent.begin(), sent.end(), s);
      if (it == sent.end() || *it != s) {
        ++unknown;  // a title written before this run
        continue;
      }
      seen[static_cast<std::size_t>(it - sent.begin())] = 1;
      latencies.push_back(r - s);
      last_receipt_us = std::max(last_receipt_us, r);
      ++delivered;
    }
    newest_overall = std::max(newest_overall, c.newest);
    if (c.st == state::open) ++open;
    if (c.st == state::open && c.newest == last) ++final_ok;
    if (c.close_code) ++close_codes[c.close_code];
    wire += c.wire_bytes;
    payload += c.payload_bytes;
  }
  std::size_t never_seen = static_cast<std::size_t>(std::count(seen.begin(), seen.end(), 0));
  std::size_t never_reached = static_cast<std::size_t>(
      std::count_if(sent.begin(), sent.end(), [&](std::int64_t s) { return s > newest_overall; }));
  double span = std::max(1e-6, static_cast<double>(last_receipt_us - sent[0]) / 1e6);
  std::int64_t p50 = percentile(latencies, 0.50), p99 = percentile(latencies, 0.99);
  std::int64_t max = latencies.empty() ? -1 : *std::max_element(latencies.begin(), latencies.end());
  auto cpu = [](const rusage& u) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  std::string closes;
  for (auto [code, count] : close_codes)
    closes += (closes.empty() ? "" : ",") + std::to_string(code) + ":" + std::to_string(count);
  std::printf(
      "clients=%d connected=%d failed=%d open_at_end=%d closes=%s rate=%d seconds=%d updates=%zu "
      "failed_updates=%d delivered=%llu expected=%llu delivered_per_s=%.0f p50_us=%lld p99_us=%lld "
      "max_us=%lld never_seen=%zu never_reached=%zu final_ok=%d msg_bytes=%zu "
      "wire_bytes_per_client=%.0f "
      "payload_bytes_per_client=%.0f unknown=%llu gen_cpu_s=%.2f parse=%d bad_json=%llu "
      "deflated=%d inflate_errors=%llu\n",
      o.clients, gen->connected(), gen->failed(), open, closes.empty() ? "none" : closes.c_str(),
      o.rate, o.seconds, updates, failed_updates, static_cast<unsigned long long>(delivered),
      static_cast<unsigned long long>(updates) * static_cast<unsigned long long>(o.clients),
      static_cast<double>(delivered) / span, static_cast<long long>(p50),
      static_cast<long long>(p99), static_cast<long long>(max), never_seen, never_reached, final_ok,
      gen->last_message_bytes(), static_cast<double>(wire) / o.clients,
      static_cast<double>(payload) / o.clients, static_cast<unsigned long long>(unknown),
      cpu(after) - cpu(before), o.parse ? 1 : 0, static_cast<unsigned long long>(gen->bad_json()),
      gen->deflated(), static_cast<unsigned long long>(gen->inflate_errors()));
  std::fflush(stdout);
  // The process exits without closing 10 000 sockets one by one.
  std::_Exit(gen->failed() ? 1 : 0);
}
