// The machine's limit for fan-out (bench/fanout_realistic.sh): the least a
// WebSocket server can do per delivery. Single-threaded epoll; on each
// doorbell (LISTEN on the channel the baseline relay's trigger NOTIFYs) it
// reads the queue's snapshot once, encodes one frame, and writes those same
// bytes to every client with one write() per client. A client whose socket
// is full finishes the frame it is on (a frame cannot be cut) and then gets
// the newest frame: conflation, as in snapshot mode, with at most one frame
// per connection held in user space.
//
// No Boost, no TLS: the upgrade handshake is done by hand (SHA-1 + base64
// from OpenSSL). A benchmark tool, not a server to deploy.
//
// Usage: limit_writer PORT CONNINFO QUEUE CHANNEL MAX_SECONDS [delta]
// With `delta`, a new client gets the snapshot and then, per doorbell, a
// delta-sized message: the queue's oldest phase (fanout_client's marker) as
// one upsert, the floor for delta mode's deliveries.
// Runs until SIGTERM/SIGINT or MAX_SECONDS, then prints one line of counters
// to stderr.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t stop = 0;
void on_signal(int) {
  stop = 1;
}

using frame_ptr = std::shared_ptr<const std::string>;

struct connection {
  int fd = -1;
  bool open = false;    // handshake done
  std::string request;  // the upgrade request while it arrives
  frame_ptr frame;      // the frame being written, shared by all clients
  std::size_t offset = 0;
  std::uint64_t version = 0;  // version of `frame`
  bool want_out = false;
};

// A server frame: FIN + text, unmasked, the payload length in 7, 16 or 64 bits.
frame_ptr encode(std::string_view text, std::uint64_t& version) {
  auto f = std::make_shared<std::string>();
  f->reserve(text.size() + 10);
  f->push_back(static_cast<char>(0x81));
  std::uint64_t n = text.size();
  if (n < 126) {
    f->push_back(static_cast<char>(n));
  } else if (n < 65536) {
    f->push_back(static_cast<char>(126));
    f->push_back(static_cast<char>(n >> 8));
    f->push_back(static_cast<char>(n & 0xff));
  } else {
    f->push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      f->push_back(static_cast<char>((n >> shift) & 0xff));
  }
  f->append(text);
  ++version;
  return f;
}

// Sec-WebSocket-Accept = base64(SHA-1(key + the RFC 6455 GUID)).
std::string accept_key(std::string_view key) {
  std::string input(key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// The value of a header, case-insensitive name; empty when absent.
std::string header(const std::string& request, const char* name) {
  std::size_t len = std::strlen(name);
  for (std::size_t at = request.find("\r\n"); at != std::string::npos;
       at = request.find("\r\n", at + 2)) {
    if (at + 2 + len < request.size() && strncasecmp(request.c_str() + at + 2, name, len) == 0 &&
        request[at + 2 + len] == ':') {
      std::size_t begin = request.find_first_not_of(' ', at + 3 + len);
      return request.substr(begin, request.find("\r\n", begin) - begin);
    }
  }
  return {};
}

class writer {
 public:
  writer(int listener, PGconn* db, std::string queue, bool delta)
      : listener_(listener), db_(db), queue_(std::move(queue)), delta_(delta) {
    ep_ = epoll_create1(0);
    add(listener_, EPOLLIN, kListener);
    add(PQsocket(db_), EPOLLIN, kDatabase);
    refresh();
  }

  void run(std::chrono::steady_clock::time_point deadline) {
    epoll_event events[1024];
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      int n = epoll_wait(ep_, events, 1024, rang_ ? 0 : 200);
      for (int i = 0; i < n; ++i) {
        std::uint64_t tag = events[i].data.u64;
        if (tag == kListener) {
          accept_all();
        } else if (tag == kDatabase) {
          on_doorbell();
        } else {
          // A connection closed earlier in this batch is gone (null).
          if (tag >= connections_.size() || !connections_[tag]) continue;
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(*connections_[tag]);
          if (connections_[tag] && (events[i].events & EPOLLOUT)) on_writable(*connections_[tag]);
        }
      }
      if (rang_) serve_doorbell();
    }
  }

  void report() const {
    std::fprintf(
        stderr,
        "limit_writer: frames=%llu frame_bytes=%zu deliveries=%llu writes=%llu partial_writes=%llu "
        "connections=%zu\n",
        static_cast<unsigned long long>(version_), latest_ ? latest_->size() : 0,
        static_cast<unsigned long long>(deliveries_), static_cast<unsigned long long>(writes_),
        static_cast<unsigned long long>(partial_), open_);
  }

 private:
  static constexpr std::uint64_t kListener = ~0ULL, kDatabase = ~0ULL - 1;

  void add(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void watch_output(connection& c, bool on) {
    if (c.want_out == on) return;
    c.want_out = on;
    epoll_event ev{};
    ev.events = on ? EPOLLIN | EPOLLOUT : EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(c.fd);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Reads the queue's snapshot and makes it the newest frame; in delta
  // mode the snapshot is what a new client starts from, and the newest
  // frame is the marker phase as a delta.
  bool refresh() {
    frame_ptr snapshot = read_frame("SELECT queuecast.snapshot($1)::text");
    if (!snapshot) return false;
    if (!delta_) {
      latest_ = std::move(snapshot);
      return true;
    }
    first_ = std::move(snapshot);
    frame_ptr delta = read_frame(
        "SELECT json_build_object('type', 'delta', 'ops', json_build_array(json_build_object("
        "'op', 'upsert', 'phase', to_jsonb(p))))::text FROM queuecast.phases p "
        "WHERE id = (SELECT min(id) FROM queuecast.phases WHERE queue = $1)");
    if (!delta) return false;
    latest_ = std::move(delta);
    return true;
  }

  frame_ptr read_frame(const char* sql) {
    const char* params[1] = {queue_.c_str()};
    PGresult* r = PQexecParams(db_, sql, 1, nullptr, params, nullptr, nullptr, 0);
    frame_ptr frame;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
      frame = encode(
          std::string_view(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0))),
          version_);
    else
      std::fprintf(stderr, "limit_writer: %s", PQerrorMessage(db_));
    PQclear(r);
    return frame;
  }

  // The doorbell: notifications for our queue since the last frame. They are
  // served once per loop turn (one read, one frame for however many came), so
  // writes to slow clients interleave with new frames.
  void on_doorbell() {
    if (!PQconsumeInput(db_)) {
      std::fprintf(stderr, "limit_writer: %s", PQerrorMessage(db_));
      stop = 1;
      return;
    }
    collect();
  }

  void collect() {
    while (PGnotify* n = PQnotifies(db_)) {
      rang_ = rang_ || queue_ == n->extra;
      PQfreemem(n);
    }
  }

  void serve_doorbell() {
    rang_ = false;
    if (!refresh()) return;
    for (auto& c : connections_)
      if (c && c->open && !c->want_out) start_frame(*c);
    // Notifications libpq read together with the query's result are queued
    // inside libpq: the socket will not become readable for them.
    collect();
  }

  void start_frame(connection& c, bool first = false) {
    if (!latest_) return;  // no snapshot read yet
    c.frame = first && first_ ? first_ : latest_;
    c.offset = 0;
    c.version = version_;
    on_writable(c);
  }

  // One write per wake-up; a finished frame is followed by the newest one
  // if it changed meanwhile.
  void on_writable(connection& c) {
    ssize_t n = ::send(c.fd, c.frame->data() + c.offset, c.frame->size() - c.offset, MSG_NOSIGNAL);
    ++writes_;
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) close_connection(c);
      return;
    }
    c.offset += static_cast<std::size_t>(n);
    if (c.offset < c.frame->size()) {
      ++partial_;
      watch_output(c, true);
      return;
    }
    ++deliveries_;
    watch_output(c, false);
    if (c.version != version_) start_frame(c);
  }

  void accept_all() {
    for (int i = 0; i < 256; ++i) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (static_cast<std::size_t>(fd) >= connections_.size())
        connections_.resize(static_cast<std::size_t>(fd) + 1);
      connections_[static_cast<std::size_t>(fd)] = std::make_unique<connection>();
      connections_[static_cast<std::size_t>(fd)]->fd = fd;
      add(fd, EPOLLIN, static_cast<std::uint64_t>(fd));
    }
  }

  void on_readable(connection& c) {
    char buffer[4096];
    ssize_t n = ::read(c.fd, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_connection(c);
    if (n < 0 || c.open) return;  // after the handshake, what clients send is ignored
    c.request.append(buffer, static_cast<std::size_t>(n));
    if (c.request.find("\r\n\r\n") == std::string::npos) {
      if (c.request.size() > 8192) close_connection(c);
      return;
    }
    std::string key = header(c.request, "Sec-WebSocket-Key");
    if (key.empty()) return close_connection(c);
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        accept_key(key) + "\r\n\r\n";
    if (::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(response.size()))
      return close_connection(c);
    c.open = true;
    c.request.clear();
    c.request.shrink_to_fit();
    ++open_;
    start_frame(c, true);  // the current state first, as every server here does
  }

  void close_connection(connection& c) {
    if (c.open) --open_;
    int fd = c.fd;
    ::close(fd);
    connections_[static_cast<std::size_t>(fd)].reset();
  }

  int listener_;
  PGconn* db_;
  std::string queue_;
  int ep_ = -1;
  std::vector<std::unique_ptr<connection>> connections_;  // by fd
  bool delta_;
  frame_ptr latest_;
  frame_ptr first_;  // delta mode: the snapshot a new client starts from
  std::uint64_t version_ = 0, deliveries_ = 0, writes_ = 0, partial_ = 0;
  std::size_t open_ = 0;
  bool rang_ = false;  // a notification for our queue awaits its frame
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: limit_writer PORT CONNINFO QUEUE CHANNEL MAX_SECONDS [delta]\n");
    return 2;
  }
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns, the loop ends
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  PGconn* db = PQconnectdb(argv[2]);
  if (PQstatus(db) != CONNECTION_OK) {
    std::fprintf(stderr, "limit_writer: %s", PQerrorMessage(db));
    return 1;
  }
  std::string listen = std::string("LISTEN ") + argv[4];
  PQclear(PQexec(db, listen.c_str()));

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 4096) != 0) {
    std::perror("limit_writer: bind/listen");
    return 1;
  }
  writer w(listener, db, argv[3], argc > 6 && std::string_view(argv[6]) == "delta");
  std::printf("ready\n");
  std::fflush(stdout);
  w.run(std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[5])));
  w.report();
  PQfinish(db);
  return 0;
}
