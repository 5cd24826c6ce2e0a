// Server-Sent Events tried from outside over real sockets: the stream
// carries the same messages as /ws (a snapshot equal to SQL, then one delta
// per commit in an unbroken prev_seq chain), resumes after Last-Event-ID
// without a gap, ends when the token expires; missing or bad tokens, other
// queues' tokens, foreign origins and malformed requests are refused.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "daemon_fixture.hpp"
#include "tokens.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;
namespace json = boost::json;

const std::string db = "queuecast_sse";
const std::string secret = "0123456789abcdef0123456789abcdef-sse-secret";
const std::string static_token = "static-admin-token-for-sse-tests";

// One SSE stream over a raw socket: the request, then events as they come.
class sse_stream {
 public:
  sse_stream(int port, const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) < 0)
      throw std::runtime_error("send failed");
  }
  ~sse_stream() { ::close(fd_); }

  // The status line's code (reads the head).
  int status() {
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      if (!fill(10s)) return 0;
    head_ = buffer_.substr(0, buffer_.find("\r\n\r\n") + 4);
    buffer_.erase(0, head_.size());
    return std::stoi(head_.substr(9, 3));
  }
  const std::string& head() const { return head_; }
  std::string rest() {
    while (fill(1s)) {
    }
    return buffer_;
  }

  // The next event's fields (id, event, data); nullopt at the end of the
  // stream or after `wait`. Comments (heartbeats) are skipped.
  std::optional<std::map<std::string, std::string>> next(std::chrono::milliseconds wait = 10s) {
    while (true) {
      auto end = buffer_.find("\n\n");
      if (end != std::string::npos) {
        std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        std::map<std::string, std::string> event;
        std::size_t at = 0;
        while (at <= block.size()) {
          auto nl = block.find('\n', at);
          std::string line = block.substr(at, nl - at);
          at = nl == std::string::npos ? block.size() + 1 : nl + 1;
          if (line.empty() || line[0] == ':') continue;
          auto colon = line.find(':');
          event[line.substr(0, colon)] = line.substr(colon + 2);
        }
        if (event.empty() || event.count("retry")) continue;
        return event;
      }
      if (!fill(wait)) return std::nullopt;
    }
  }

  // The next message (an event's data as JSON) of `type`.
  std::optional<json::object> next_of(const std::string& type) {
    for (int i = 0; i < 10000; ++i) {
      auto event = next();
      if (!event) return std::nullopt;
      if (!event->count("data")) continue;
      auto message = json::parse((*event)["data"]).as_object();
      last_id_ = event->count("id") ? (*event)["id"] : last_id_;
      if (message.at("type").as_string() == type) return message;
    }
    return std::nullopt;
  }
  const std::string& last_id() const { return last_id_; }

 private:
  bool fill(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_;
  std::string buffer_;
  std::string head_;
  std::string last_id_;
};

using header_list = std::vector<std::pair<std::string, std::string>>;
header_list bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

class sse_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    s.exec("SELECT queuecast.create_queue('a')");
    s.exec("SELECT queuecast.create_queue('b')");
    daemon_ = new daemon_process(db,
                                 {"--jwt-secret-file", write_test_file("sse-secret", secret),
                                  "--token", static_token, "--window", "4"},
                                 static_token);
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  static int port() { return daemon_->port(); }
  static daemon_process* daemon_;
  pg_session sql_{conninfo(db)};
};
daemon_process* sse_test::daemon_ = nullptr;

TEST_F(sse_test, a_stream_carries_the_snapshot_then_every_commit_in_an_unbroken_chain) {
  sse_stream stream(port(), "/sse?topic=queue%3Aa", bearer(static_token));
  ASSERT_EQ(stream.status(), 200);
  EXPECT_NE(stream.head().find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(stream.head().find("Cache-Control: no-store"), std::string::npos);
  auto snapshot = stream.next_of("snapshot");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->at("data").as_object(), sql_snapshot(sql_, "a"));
  EXPECT_EQ(stream.last_id(), std::to_string(snapshot->at("seq").as_int64()));
  std::int64_t seq = snapshot->at("seq").as_int64();
  for (int i = 0; i < 20; ++i)
    sql_.exec("SELECT queuecast.enqueue('a', 'sse " + std::to_string(i) + "')");
  // Commits that arrive together may come as one delta: follow the chain to the end.
  std::int64_t now = sql_.number("SELECT queuecast.current_seq()");
  while (seq < now) {
    auto delta = stream.next_of("delta");
    ASSERT_TRUE(delta) << "the stream stopped at seq " << seq << " of " << now;
    EXPECT_EQ(delta->at("prev_seq").as_int64(), seq) << "no gap";
    seq = delta->at("seq").as_int64();
    EXPECT_EQ(stream.last_id(), std::to_string(seq)) << "the event id is the seq";
  }
  EXPECT_EQ(seq, now);
}

TEST_F(sse_test, a_stream_resumes_after_last_event_id_without_a_gap) {
  std::string last;
  {
    sse_stream first(port(), "/sse?topic=queue:a", bearer(static_token));
    ASSERT_EQ(first.status(), 200);
    ASSERT_TRUE(first.next_of("snapshot"));
    last = first.last_id();
  }
  // More commits than the window (4) holds: answered from history.
  for (int i = 0; i < 10; ++i)
    sql_.exec("SELECT queuecast.enqueue('a', 'while away " + std::to_string(i) + "')");
  header_list headers = bearer(static_token);
  headers.push_back({"Last-Event-ID", last});
  sse_stream again(port(), "/sse?topic=queue:a", headers);
  ASSERT_EQ(again.status(), 200);
  auto subscribed = again.next_of("subscribed");
  ASSERT_TRUE(subscribed);
  EXPECT_TRUE(subscribed->at("resumed").as_bool());
  std::int64_t seq = std::stoll(last);
  std::int64_t now = sql_.number("SELECT queuecast.current_seq()");
  while (seq < now) {
    auto delta = again.next_of("delta");
    ASSERT_TRUE(delta);
    EXPECT_EQ(delta->at("prev_seq").as_int64(), seq);
    seq = delta->at("seq").as_int64();
  }
  EXPECT_EQ(seq, now);
}

TEST_F(sse_test, a_stream_ends_when_its_token_expires) {
  std::string token =
      hs256_token(secret, {{"sub", "short"}, {"topics", json::array{"queue:a"}}, {"exp_in", 2}});
  sse_stream stream(port(), "/sse?topic=queue:a", bearer(token));
  ASSERT_EQ(stream.status(), 200);
  ASSERT_TRUE(stream.next_of("snapshot"));
  auto closed = stream.next_of("closed");
  ASSERT_TRUE(closed) << "the stream ended without a close event";
  EXPECT_EQ(closed->at("code").as_int64(), 4401);
  EXPECT_FALSE(stream.next(3s)) << "nothing after the close";
}

TEST_F(sse_test, bad_requests_and_hostile_ones_are_refused) {
  auto status_of = [&](const std::string& target, const header_list& headers) {
    sse_stream s(port(), target, headers);
    return s.status();
  };
  EXPECT_EQ(status_of("/sse?topic=queue:a", {}), 401);
  EXPECT_EQ(status_of("/sse?topic=queue:a", bearer("not-a-token")), 401);
  std::string expired =
      hs256_token(secret, {{"sub", "x"}, {"topics", json::array{"*"}}, {"exp_in", -600}});
  EXPECT_EQ(status_of("/sse?topic=queue:a", bearer(expired)), 401);
  std::string only_b =
      hs256_token(secret, {{"sub", "b"}, {"topics", json::array{"queue:b"}}, {"exp_in", 600}});
  EXPECT_EQ(status_of("/sse?topic=queue:a", bearer(only_b)), 403);
  EXPECT_EQ(status_of("/sse?topic=queue:b", bearer(only_b)), 200);
  header_list foreign = bearer(static_token);
  foreign.push_back({"Origin", "http://evil.example"});
  EXPECT_EQ(status_of("/sse?topic=queue:a", foreign), 403);
  for (const std::string target :
       {"/sse", "/sse?topic=", "/sse?topic=queue:a&topic=queue:b", "/sse?topic=%ZZ",
        "/sse?topic=nonsense", "/sse?topic=queue:a&mode=fast", "/sse?topic=queue:a&since=-1",
        "/sse?topic=queue:a&since=x"}) {
    EXPECT_EQ(status_of(target, bearer(static_token)), 400) << target;
  }
  header_list bad_id = bearer(static_token);
  bad_id.push_back({"Last-Event-ID", "12abc"});
  EXPECT_EQ(status_of("/sse?topic=queue:a", bad_id), 400);
  auto post =
      http_call(port(), boost::beast::http::verb::post, "/sse?topic=queue:a", bearer(static_token));
  EXPECT_EQ(post.first, 405);
  // An unknown queue is answered in the stream, as on /ws.
  sse_stream unknown(port(), "/sse?topic=queue:nope", bearer(static_token));
  ASSERT_EQ(unknown.status(), 200);
  auto error = unknown.next_of("error");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->at("code").as_string(), "unknown_topic");
}

}  // namespace
