// A snapshot-mode client that stops reading while large snapshots keep
// coming must, once it reads again, get the newest state within a few
// messages: what waits for it in the kernel is bounded (TCP_NOTSENT_LOWAT),
// and the rest is conflated by its session. Before that bound, the kernel's
// send buffer grew to megabytes of stale 16 KB snapshots that the client
// had to read through first (seconds behind, issue 11).
#include <gtest/gtest.h>

#include <chrono>
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

std::string marker_title(int n) {
  return "marker-" + std::to_string(n) + "-" + std::string(300, 'x');
}

TEST(backpressure_test, a_stalled_snapshot_client_gets_the_newest_state_not_a_backlog) {
  create_database(db);
  pg_session sql(conninfo(db));
  sql.exec("SELECT queuecast.create_queue('big')");
  sql.exec(
      "SELECT queuecast.enqueue('big', 'phase-' || i || '-' || repeat('y', 300)) "
      "FROM generate_series(1, " +
      std::to_string(phases) + ") AS i");
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

}  // namespace
