// permessage-deflate (RFC 7692, issue 11): clients that offer it get
// messages of 256 bytes and more compressed (RSV1 set), decompressing to
// exactly the text other clients get; each frame is compressed once for all
// of them; a client without the offer, with an offer we cannot honour or a
// malformed one, and every client of a daemon run with
// --permessage-deflate off, gets plain frames and a working connection.
//
// The wire is read by a raw TCP client (raw_ws below): it sees the RSV1
// bit and the compressed size, and inflates each message on its own, as a
// client must be able to without context takeover. A Beast client with
// its own permessage-deflate (a second implementation) reads the same
// messages, and sends its requests compressed.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon_fixture.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;

const std::string chromium_offer = "permessage-deflate; client_max_window_bits";
const std::string our_answer = "permessage-deflate; server_no_context_takeover";

// One permessage-deflate message (RFC 7692 §7.2.2): a fresh raw inflate of
// the payload and 00 00 ff ff; nullopt when it does not inflate.
std::optional<std::string> inflate_message(const std::string& payload) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) return std::nullopt;
  std::string in = payload + std::string("\x00\x00\xff\xff", 4);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buffer[16384];
  while (rc == Z_OK && z.avail_in > 0) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_OK || z.avail_in != 0) return std::nullopt;
  return out;
}

std::string deflate_message(const std::string& text) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);  // without 00 00 ff ff
  deflateEnd(&z);
  return out;
}

// A WebSocket client on a plain socket: the upgrade written by hand (with
// the Sec-WebSocket-Extensions headers given, one line each), frames parsed
// by hand. Every read has a deadline.
class raw_ws {
 public:
  struct message {
    bool rsv1 = false;
    std::size_t wire_bytes = 0;  // the payload as sent
    std::string text;            // inflated when rsv1
  };

  raw_ws(int port, const std::vector<std::string>& extension_headers,
         const std::string& target = "/ws") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("connect failed");
    std::string request = "GET " + target +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n";
    for (const std::string& value : extension_headers)
      request += "Sec-WebSocket-Extensions: " + value + "\r\n";
    request += "\r\n";
    write_all(request);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) throw std::runtime_error("no upgrade response");
    std::string head = in_.substr(0, end + 2);
    in_.erase(0, end + 4);
    status = std::stoi(head.substr(head.find(' ') + 1, 3));
    // Header names are case-insensitive; every Sec-WebSocket-Extensions line.
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string name = "\r\nsec-websocket-extensions:";
    for (auto at = lower.find(name); at != std::string::npos; at = lower.find(name, at + 1)) {
      ++extension_lines;
      auto start = head.find_first_not_of(' ', at + name.size());
      extensions = head.substr(start, head.find("\r\n", start) - start);
    }
  }
  ~raw_ws() { ::close(fd_); }
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  // A text message, masked as clients must; compressed (RSV1) when asked.
  void send_text(const std::string& text, bool compress = false) {
    std::string payload = compress ? deflate_message(text) : text;
    if (payload.size() > 0xffff) throw std::length_error("raw_ws sends up to 64 KB");
    std::string frame;
    frame.push_back(static_cast<char>(0x81 | (compress ? 0x40 : 0)));
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(payload.size() >> 8));
      frame.push_back(static_cast<char>(payload.size() & 0xff));
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
    write_all(frame);
  }

  // The next data message; control frames are skipped; nullopt on timeout,
  // close, or a compressed payload that does not inflate (bad = true).
  std::optional<message> read(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      while (in_.size() < 2)
        if (!fill(deadline)) return std::nullopt;
      auto b0 = static_cast<unsigned char>(in_[0]);
      auto b1 = static_cast<unsigned char>(in_[1]);
      std::size_t header = 2;
      std::uint64_t length = b1 & 0x7f;
      std::size_t extra = length == 126 ? 2 : length == 127 ? 8 : 0;
      while (in_.size() < header + extra)
        if (!fill(deadline)) return std::nullopt;
      if (extra) {
        length = 0;
        for (std::size_t i = 0; i < extra; ++i)
          length = (length << 8) | static_cast<unsigned char>(in_[header + i]);
        header += extra;
      }
      while (in_.size() < header + length)
        if (!fill(deadline)) return std::nullopt;
      std::string payload = in_.substr(header, length);
      in_.erase(0, header + length);
      int opcode = b0 & 0x0f;
      if (opcode == 0x8) {  // close
        if (payload.size() >= 2)
          close_code = (static_cast<unsigned char>(payload[0]) << 8) |
                       static_cast<unsigned char>(payload[1]);
        return std::nullopt;
      }
      if (opcode >= 0x8) continue;  // ping, pong
      EXPECT_TRUE(b0 & 0x80) << "a fragmented message";
      message m;
      m.rsv1 = (b0 & 0x40) != 0;
      m.wire_bytes = payload.size();
      if (m.rsv1) {
        auto text = inflate_message(payload);
        if (!text) {
          bad = true;
          return std::nullopt;
        }
        m.text = std::move(*text);
      } else {
        m.text = std::move(payload);
      }
      return m;
    }
  }

  // Reads until a message of `type` with seq >= `seq` (0: any).
  std::optional<message> read_until(const std::string& type, std::int64_t seq = 0) {
    for (int i = 0; i < 10000; ++i) {
      auto m = read();
      if (!m) return std::nullopt;
      json::object o = json::parse(m->text).as_object();
      if (o.at("type").as_string() == type && (!o.contains("seq") || o.at("seq").as_int64() >= seq))
        return m;
    }
    return std::nullopt;
  }

  int status = 0;
  int extension_lines = 0;
  std::string extensions;  // the last Sec-WebSocket-Extensions value
  bool bad = false;
  int close_code = 0;  // of a close frame read

 private:
  void write_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  bool fill(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[65536];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    in_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string in_;
};

// Beast's client with its permessage-deflate enabled: it offers the
// extension, inflates what it reads and compresses what it sends.
class beast_deflate_client {
 public:
  explicit beast_deflate_client(int port) : ws_(ioc_) {
    ws_.next_layer().connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    ws_.set_option(pmd);
    ws_.read_message_max(256 << 20);
    ws_.handshake(response, "127.0.0.1", "/ws");
  }
  void send_json(const json::object& message) {
    ws_.text(true);
    ws_.write(asio::buffer(json::serialize(message)));
  }
  std::optional<std::string> read_text() {
    beast::flat_buffer buffer;
    beast::error_code ec = asio::error::would_block;
    ws_.async_read(buffer, [&](beast::error_code e, std::size_t) { ec = e; });
    ioc_.restart();
    ioc_.run_for(10s);
    if (ec == asio::error::would_block) {
      ws_.next_layer().cancel();
      ioc_.restart();
      ioc_.run();
      return std::nullopt;
    }
    if (ec) return std::nullopt;
    return beast::buffers_to_string(buffer.data());
  }
  websocket::response_type response;

 private:
  asio::io_context ioc_;
  websocket::stream<asio::ip::tcp::socket> ws_;
};

constexpr int phases = 50;

// Queue `big`: 50 phases whose titles end in a hex digest (compressible
// about as much as real titles, not a run of one letter): a snapshot of
// ~17 KB.
void create_big_queue(pg_session& sql) {
  sql.exec("SELECT queuecast.create_queue('big')");
  sql.exec(
      "SELECT queuecast.enqueue('big', 'phase-' || i || '-' || "
      "md5(i::text)) "
      "FROM generate_series(1, " +
      std::to_string(phases) + ") AS i");
}

void commit(pg_session& sql, int n) {
  sql.exec("UPDATE queuecast.phases SET title = 'commit-" + std::to_string(n) +
           "-' || md5(random()::text) WHERE id = (SELECT min(id) FROM queuecast.phases "
           "WHERE queue = 'big')");
}

json::object subscribe_snapshot() {
  return {{"type", "subscribe"}, {"topic", "queue:big"}, {"mode", "snapshot"}};
}

std::int64_t seq_of(const std::string& text) {
  return json::parse(text).at("seq").as_int64();
}

TEST(deflate_test, compressed_messages_are_the_text_plain_clients_get) {
  const std::string database = "queuecast_deflate";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);

  raw_ws deflating(daemon.port(), {chromium_offer});
  ASSERT_EQ(deflating.status, 101);
  ASSERT_EQ(deflating.extensions, our_answer) << "permessage-deflate was not negotiated";
  EXPECT_EQ(deflating.extension_lines, 1);
  raw_ws plain(daemon.port(), {});
  ASSERT_EQ(plain.status, 101);
  EXPECT_EQ(plain.extension_lines, 0);
  beast_deflate_client beast_client(daemon.port());
  // Beast offers server_max_window_bits=15, which the answer repeats.
  ASSERT_EQ(std::string(beast_client.response[beast::http::field::sec_websocket_extensions]),
            our_answer + "; server_max_window_bits=15");

  // The deflate client's request goes compressed: the daemon (Beast's
  // reader) inflates it.
  deflating.send_text(json::serialize(subscribe_snapshot()), true);
  plain.send_text(json::serialize(subscribe_snapshot()));
  beast_client.send_json(subscribe_snapshot());

  std::map<std::int64_t, std::string> plain_texts, deflated_texts, beast_texts;
  auto first = deflating.read_until("snapshot");
  ASSERT_TRUE(first) << (deflating.bad ? "a compressed message did not inflate" : "no snapshot");
  ASSERT_TRUE(first->rsv1) << "a 16 KB snapshot went uncompressed";
  ASSERT_GE(first->text.size(), 15000u) << "the snapshots are not realistic";
  EXPECT_LT(first->wire_bytes, first->text.size() * 7 / 10)
      << "compressed " << first->text.size() << " bytes to " << first->wire_bytes;
  std::printf("a snapshot of %zu bytes went as %zu\n", first->text.size(), first->wire_bytes);
  deflated_texts[seq_of(first->text)] = first->text;

  constexpr int commits = 5;
  for (int n = 1; n <= commits; ++n) {
    commit(sql, n);
    ASSERT_TRUE(caught_up(daemon.port(), sql));
  }
  std::int64_t target = sql.number("SELECT queuecast.current_seq()");
  // Every snapshot each client gets, up to the last commit's.
  for (std::int64_t seq = 0; seq < target;) {
    auto m = deflating.read_until("snapshot");
    ASSERT_TRUE(m) << "deflate client stopped before seq " << target;
    EXPECT_TRUE(m->rsv1);
    seq = seq_of(m->text);
    deflated_texts[seq] = m->text;
  }
  for (std::int64_t seq = 0; seq < target;) {
    auto m = plain.read_until("snapshot");
    ASSERT_TRUE(m) << "plain client stopped before seq " << target;
    EXPECT_FALSE(m->rsv1) << "a client that did not offer the extension got RSV1";
    seq = seq_of(m->text);
    plain_texts[seq] = m->text;
  }
  for (std::int64_t seq = 0; seq < target;) {
    auto text = beast_client.read_text();
    ASSERT_TRUE(text) << "Beast client stopped before seq " << target;
    if (json::parse(*text).at("type").as_string() != "snapshot") continue;
    seq = seq_of(*text);
    beast_texts[seq] = *text;
  }
  // The same text at every seq both saw (a snapshot client may skip one
  // that a newer replaced), the last commit's included.
  ASSERT_TRUE(plain_texts.count(target) && deflated_texts.count(target) &&
              beast_texts.count(target));
  int compared = 0;
  for (const auto& [seq, text] : plain_texts) {
    if (deflated_texts.count(seq)) {
      EXPECT_EQ(deflated_texts[seq], text) << "seq " << seq;
      ++compared;
    }
    if (beast_texts.count(seq)) {
      EXPECT_EQ(beast_texts[seq], text) << "seq " << seq;
    }
  }
  EXPECT_GE(compared, 2);
  EXPECT_EQ(json::parse(deflated_texts[target]), json::parse(plain_texts[target]));
  EXPECT_TRUE(daemon.alive());
}

// Offers and what the daemon answers: nullopt where it must decline. The
// handshake succeeds either way, and the connection then works.
TEST(deflate_test, bad_offers_are_declined_and_the_connection_works) {
  const std::string database = "queuecast_deflate_offers";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);
  struct offer_case {
    std::vector<std::string> headers;
    std::optional<std::string> answer;
  };
  const std::vector<offer_case> cases = {
      {{}, std::nullopt},
      {{"permessage-deflate"}, our_answer},
      // A smaller window than the 32 KB each frame is compressed with once.
      {{"permessage-deflate; server_max_window_bits=8"}, std::nullopt},
      {{"permessage-deflate; server_max_window_bits=15"},
       our_answer + "; server_max_window_bits=15"},
      {{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, our_answer},
      {{"permessage-deflate; unknown_param=1"}, std::nullopt},
      {{"permessage-deflate; client_max_window_bits=99"}, std::nullopt},
      {{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
       std::nullopt},
      {{"permessage-deflate; server_max_window_bits"}, std::nullopt},
      {{"permessage-deflate;"}, std::nullopt},
      {{"permessage-deflate; client_max_window_bits=\"15"}, std::nullopt},
      {{"garbage;;;,,=="}, std::nullopt},
      {{std::string(2000, ';')}, std::nullopt},
      {{"x-webkit-deflate-frame", "permessage-deflate; client_no_context_takeover"}, our_answer},
      {{"permessage-deflate", "permessage-deflate"}, our_answer},
  };
  for (const offer_case& c : cases) {
    std::string what = c.headers.empty() ? "(no offer)" : c.headers.front();
    raw_ws client(daemon.port(), c.headers);
    ASSERT_EQ(client.status, 101) << what;
    EXPECT_LE(client.extension_lines, 1) << what;
    if (c.answer) {
      EXPECT_EQ(client.extensions, *c.answer) << what;
    } else {
      EXPECT_EQ(client.extension_lines, 0) << what << " got: " << client.extensions;
    }
    client.send_text(json::serialize(subscribe_snapshot()));
    auto snapshot = client.read_until("snapshot");
    ASSERT_TRUE(snapshot) << what << (client.bad ? ": did not inflate" : ": no snapshot");
    EXPECT_EQ(snapshot->rsv1, c.answer.has_value()) << what;
  }
  EXPECT_TRUE(daemon.alive());
}

// 50 clients with the extension, N commits: N compressions, not 50 N.
TEST(deflate_test, each_frame_is_compressed_once_for_all_its_clients) {
  const std::string database = "queuecast_deflate_once";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);
  std::vector<std::unique_ptr<raw_ws>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<raw_ws>(daemon.port(), std::vector{chromium_offer}));
    ASSERT_EQ(clients.back()->extensions, our_answer);
    clients.back()->send_text(json::serialize(subscribe_snapshot()));
  }
  for (auto& client : clients) ASSERT_TRUE(client->read_until("snapshot"));
  double before = metric(daemon.port(), "queuecast_deflate_compressions_total");
  ASSERT_GE(before, 0) << "no queuecast_deflate_compressions_total in /metrics";
  constexpr int commits = 10;
  for (int n = 1; n <= commits; ++n) {
    commit(sql, n);
    ASSERT_TRUE(caught_up(daemon.port(), sql));
    // Each commit's snapshot reaches every client before the next commit
    // (none is replaced unsent), compressed.
    std::int64_t seq = sql.number("SELECT queuecast.current_seq()");
    for (auto& client : clients) {
      auto m = client->read_until("snapshot", seq);
      ASSERT_TRUE(m) << "commit " << n;
      ASSERT_TRUE(m->rsv1);
      ASSERT_EQ(seq_of(m->text), seq);
    }
  }
  double compressions = metric(daemon.port(), "queuecast_deflate_compressions_total") - before;
  std::printf("%d commits to 50 clients: %.0f compressions\n", commits, compressions);
  EXPECT_EQ(compressions, commits);
  EXPECT_GE(metric(daemon.port(), "queuecast_deflate_connections_total"), 50);
}

TEST(deflate_test, the_flag_off_declines_every_offer) {
  const std::string database = "queuecast_deflate_off";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database, {"--permessage-deflate", "off"});
  raw_ws client(daemon.port(), {chromium_offer});
  ASSERT_EQ(client.status, 101);
  EXPECT_EQ(client.extension_lines, 0) << client.extensions;
  client.send_text(json::serialize(subscribe_snapshot()));
  auto snapshot = client.read_until("snapshot");
  ASSERT_TRUE(snapshot);
  EXPECT_FALSE(snapshot->rsv1);
  // Beast's client, declined, talks plain WebSocket.
  beast_deflate_client beast_client(daemon.port());
  EXPECT_EQ(beast_client.response.count(beast::http::field::sec_websocket_extensions), 0u);
  beast_client.send_json(subscribe_snapshot());
  std::optional<std::string> text;
  while ((text = beast_client.read_text()) &&
         json::parse(*text).at("type").as_string() != "snapshot") {
  }
  EXPECT_TRUE(text);
  EXPECT_EQ(metric(daemon.port(), "queuecast_deflate_compressions_total"), 0);
}

// --max-message-bytes bounds what a client's message inflates to, not its
// compressed size: 1 MB of one letter, a few KB on the wire, is refused
// with 1009 (message too big) before it is inflated whole.
TEST(deflate_test, a_client_message_is_limited_by_its_inflated_size) {
  const std::string database = "queuecast_deflate_bomb";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);
  raw_ws client(daemon.port(), {chromium_offer});
  ASSERT_EQ(client.extensions, our_answer);
  std::string bomb = "{\"type\":\"ping\",\"id\":\"" + std::string(1 << 20, 'a') + "\"}";
  ASSERT_LT(deflate_message(bomb).size(), 65535u);
  client.send_text(bomb, true);
  // The welcome may come first; no pong.
  for (int i = 0; i < 5; ++i) {
    auto m = client.read();
    if (!m) break;
    EXPECT_EQ(m->text.find("pong"), std::string::npos) << "the message was answered";
  }
  EXPECT_EQ(client.close_code, 1009);
  EXPECT_TRUE(daemon.alive());
}

// The compatibility endpoint negotiates it too.
TEST(deflate_test, the_compat_endpoint_compresses_too) {
  const std::string database = "queuecast_deflate_compat";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);
  raw_ws deflating(daemon.port(), {chromium_offer}, "/api/v1/ws/queue?queue=big");
  raw_ws plain(daemon.port(), {}, "/api/v1/ws/queue?queue=big");
  ASSERT_EQ(deflating.extensions, our_answer);
  auto compressed = deflating.read();
  auto text = plain.read();
  ASSERT_TRUE(compressed && text);
  EXPECT_TRUE(compressed->rsv1);
  EXPECT_FALSE(text->rsv1);
  EXPECT_LT(compressed->wire_bytes, text->wire_bytes * 7 / 10);
  EXPECT_EQ(compressed->text, text->text);
}

}  // namespace
