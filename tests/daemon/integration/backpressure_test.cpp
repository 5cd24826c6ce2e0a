// The write path under pressure (issue 11):
// - a snapshot-mode client that stops reading while large snapshots keep
//   coming gets, once it reads again, the newest state within a few
//   messages: what waits for it in the kernel is bounded
//   (TCP_NOTSENT_LOWAT) and its session conflates the rest. Before that
//   bound the kernel's send buffer grew to megabytes of stale 16 KB
//   snapshots that the client had to read through first;
// - frames that wait leave in few gathered writes, in order;
// - pings during large writes get their pongs without corrupting the
//   stream (every byte passes one writer, outbound_stream.hpp);
// - a client that sends pings and never reads cannot grow the daemon's
//   memory.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <string>

#include "daemon_fixture.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;

const std::string db = "queuecast_backpressure";
// 50 phases of ~320 bytes: a snapshot of about 16 KB, as a real queue's.
constexpr int phases = 50;
constexpr int commits = 400;

// Queue `big`: `phases` phases of ~320 bytes, a 16 KB document.
void create_big_queue(pg_session& sql) {
  sql.exec("SELECT queuecast.create_queue('big')");
  sql.exec(
      "SELECT queuecast.enqueue('big', 'phase-' || i || '-' || repeat('y', 300)) "
      "FROM generate_series(1, " +
      std::to_string(phases) + ") AS i");
}

std::string marker_title(int n) {
  return "marker-" + std::to_string(n) + "-" + std::string(300, 'x');
}

TEST(backpressure_test, a_stalled_snapshot_client_gets_the_newest_state_not_a_backlog) {
  create_database(db);
  pg_session sql(conninfo(db));
  create_big_queue(sql);
  std::string first_id = sql.value("SELECT min(id) FROM queuecast.phases WHERE queue = 'big'");
  daemon_process daemon(db);

  ws_client stalled(daemon.port());
  stalled.send_json({{"type", "subscribe"}, {"topic", "queue:big"}, {"mode", "snapshot"}});
  auto first = stalled.read_until("snapshot");
  ASSERT_TRUE(first);
  ASSERT_GE(json::serialize(first->at("data")).size(), 15000u) << "the snapshots are not realistic";

  // The client reads nothing while every commit sends it a 16 KB snapshot:
  // 400 commits, 6.4 MB in all.
  for (int n = 1; n <= commits; ++n)
    sql.exec("UPDATE queuecast.phases SET title = '" + marker_title(n) +
             "' WHERE id = " + first_id);
  ASSERT_TRUE(caught_up(daemon.port(), sql));
  std::this_thread::sleep_for(500ms);  // whatever the daemon writes meanwhile, it has written

  // Now it reads: the newest state within a handful of messages. What may
  // stand before it: the client's own receive buffer (128 KB by default on
  // Linux, about 8 snapshots) and the daemon's 16 KB of unsent bytes.
  std::string newest = marker_title(commits);
  int read_before_newest = 0;
  bool found = false;
  stalled.set_timeout(5s);
  for (int i = 0; i < commits + 10 && !found; ++i) {
    auto message = stalled.read_json();
    ASSERT_TRUE(message) << "the connection ended after " << i << " messages";
    if (message->at("type").as_string() != "snapshot") continue;
    found = json::serialize(message->at("data")).find(newest) != std::string::npos;
    if (!found) ++read_before_newest;
  }
  ASSERT_TRUE(found) << "the newest state never arrived";
  EXPECT_LE(read_before_newest, 16)
      << "the client read " << read_before_newest << " stale snapshots before the newest one";
  RecordProperty("stale_snapshots_before_newest", read_before_newest);
  std::printf("stale snapshots read before the newest: %d of %d commits\n", read_before_newest,
              commits);
}

// VmRSS of a process, in KB (-1 when unknown).
std::int64_t resident_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

TEST(backpressure_test, frames_that_wait_leave_in_few_writes_and_in_order) {
  const std::string database = "queuecast_gather";
  create_database(database);
  pg_session sql(conninfo(database));
  create_big_queue(sql);
  daemon_process daemon(database);
  ws_client client(daemon.port());
  client.send_json({{"type", "subscribe"}, {"topic", "queue:big"}, {"mode", "delta"}});
  auto first = client.read_until("snapshot");
  ASSERT_TRUE(first);
  std::int64_t last = first->at("seq").as_int64();

  // 100 whole-queue updates, each applied by the daemon before the next
  // (so each is a delta of its own, 16 KB, however slow the daemon), while
  // the client reads nothing: more than the kernel holds, so the rest
  // waits in the session.
  double writes_before = metric(daemon.port(), "queuecast_socket_writes_total");
  double sent_before = metric(daemon.port(), "queuecast_messages_sent_total");
  ASSERT_GE(writes_before, 0) << "no queuecast_socket_writes_total in /metrics";
  for (int n = 0; n < 100; ++n) {
    sql.exec("UPDATE queuecast.phases SET attempts = attempts + 1 WHERE queue = 'big'");
    ASSERT_TRUE(caught_up(daemon.port(), sql));
  }
  ASSERT_TRUE(caught_up(daemon.port(), sql));
  std::int64_t target = sql.number("SELECT queuecast.current_seq()");
  int deltas = 0;
  while (last < target) {
    auto message = client.read_json();
    ASSERT_TRUE(message) << "the stream stopped at seq " << last << " before " << target << " ("
                         << client.error().message() << ")";
    if (message->at("type").as_string() != "delta") continue;
    ASSERT_EQ(message->at("prev_seq").as_int64(), last) << "a gap or a reordering";
    last = message->at("seq").as_int64();
    ++deltas;
  }
  double writes = metric(daemon.port(), "queuecast_socket_writes_total") - writes_before;
  double sent = metric(daemon.port(), "queuecast_messages_sent_total") - sent_before;
  std::printf("%.0f frames in %.0f writes\n", sent, writes);
  EXPECT_GE(sent, deltas);
  // While the client sleeps the kernel takes 16 KB per drain at most, so
  // frames pile up in the session and go out together when it reads.
  EXPECT_LT(writes * 2, sent) << "frames that waited did not share writes";
}

TEST(backpressure_test, pings_during_large_writes_get_pongs_and_the_stream_stays_intact) {
  create_database("queuecast_pings");
  pg_session sql(conninfo("queuecast_pings"));
  create_big_queue(sql);
  daemon_process daemon("queuecast_pings");
  ws_client client(daemon.port());
  client.send_json({{"type", "subscribe"}, {"topic", "queue:big"}, {"mode", "delta"}});
  ASSERT_TRUE(client.read_until("snapshot"));
  // Whole-queue updates make 16 KB deltas; pings go out between them, and
  // the daemon's pongs must go between its frames, never inside one.
  for (int n = 0; n < 40; ++n) {
    sql.exec("UPDATE queuecast.phases SET attempts = attempts + 1 WHERE queue = 'big'");
    client.send_ping();
  }
  ASSERT_TRUE(caught_up(daemon.port(), sql));
  std::int64_t target = sql.number("SELECT queuecast.current_seq()");
  std::int64_t last = 0;
  while (last < target) {
    auto message = client.read_json();  // a corrupted stream fails here
    ASSERT_TRUE(message) << "the stream broke at seq " << last << ": " << client.error().message();
    if (message->at("type").as_string() == "delta") last = message->at("seq").as_int64();
  }
  // Pongs are seen by reads; one more round trip brings any still on the way.
  client.send_json({{"type", "ping"}, {"id", 1}});
  ASSERT_TRUE(client.read_until("pong"));
  EXPECT_EQ(client.pongs(), 40);
}

// One masked ping frame with a 125-byte payload, as a client sends it.
std::string masked_ping() {
  std::string frame = {static_cast<char>(0x89), static_cast<char>(0x80 | 125), 1, 2, 3, 4};
  for (int i = 0; i < 125; ++i) frame.push_back(static_cast<char>('p' ^ (1 + i % 4)));
  return frame;
}

TEST(backpressure_test,
     a_client_that_sends_pings_and_never_reads_is_cut_off_and_cannot_grow_memory) {
  create_database("queuecast_ping_flood");
  daemon_process daemon("queuecast_ping_flood");
  // The upgrade by hand: after it, this client writes pings and reads
  // nothing, so every pong the daemon owes it waits.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(daemon.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(upgrade.size()));
  char response[512];
  ASSERT_GT(::recv(fd, response, sizeof response, 0), 0);  // 101, then never read again
  ::fcntl(fd, F_SETFL, O_NONBLOCK);

  std::int64_t before_kb = resident_kb(daemon.pid());
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += masked_ping();
  // Up to 100 000 pings (12.7 MB) within 20 s: once 64 KB of pongs wait,
  // the daemon fails the connection and closes it.
  int sent = 0;
  bool closed = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::size_t offset = 0;
  while (sent < 100000 && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::send(fd, burst.data() + offset, burst.size() - offset, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    if (n <= 0) {
      closed = true;
      break;
    }
    offset += static_cast<std::size_t>(n);
    if (offset == burst.size()) {
      offset = 0;
      sent += 100;
    }
  }
  std::int64_t after_kb = resident_kb(daemon.pid());
  ::close(fd);
  std::printf("pings sent %d, connection %s, daemon RSS %lld -> %lld KB\n", sent,
              closed ? "closed by the daemon" : "open (the daemon stopped reading)",
              static_cast<long long>(before_kb), static_cast<long long>(after_kb));
  EXPECT_LT(after_kb - before_kb, 8 * 1024) << "pongs nobody reads grew the daemon's memory";
  EXPECT_TRUE(closed) << "the connection stayed open with nobody reading it";
  // And it serves others meanwhile.
  EXPECT_EQ(http_get(daemon.port(), "/healthz").first, 200);
}

}  // namespace
