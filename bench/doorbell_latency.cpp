// Doorbell latency (bench/doorbell_latency.sh): from a change's commit to the
// receipt of the first NOTIFY queuecast that announces it, for writers that
// ring in their own transactions or through the doorbell worker.
//
// WRITERS connections commit COMMITS single-change transactions in all
// (SELECT queuecast.enqueue), each pausing PAUSE_MS between commits, with
// `SET queuecast.doorbell = MODE`. A listener records when each bell arrives
// (wall clock) and the last seq it announces. Afterwards each change's
// committed_at is read from the history; its latency is the arrival of the
// first bell whose `last` reaches its seq, minus committed_at. Commit time
// and arrival are read from the same machine's clock (loopback only).
//
// Usage: doorbell_latency CONNINFO MODE COMMITS WRITERS PAUSE_MS
// Prints one line: mode=... writers=... commits=... bells=... p50_us=... p99_us=... max_us=...
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::system_clock;
constexpr auto run_limit = std::chrono::seconds(120);

PGconn* connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
  return conn;
}

std::string exec(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType status = PQresultStatus(res);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error(message + " in: " + sql);
  }
  std::string value = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
  PQclear(res);
  return value;
}

long long now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now().time_since_epoch())
      .count();
}

struct bell {
  long long received_us;
  long long last;
};

// The "last" number of a payload ({"v":2,"first":..,"last":..,...}).
long long last_of(const char* payload) {
  const char* at = std::strstr(payload, "\"last\":");
  return at ? std::atoll(at + 7) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s CONNINFO MODE COMMITS WRITERS PAUSE_MS\n", argv[0]);
    return 2;
  }
  std::string conninfo = argv[1], mode = argv[2];
  int commits = std::atoi(argv[3]), writers = std::atoi(argv[4]), pause_ms = std::atoi(argv[5]);
  auto deadline = clock_type::now() + run_limit;

  PGconn* listener = connect(conninfo);
  exec(listener, "LISTEN queuecast");
  long long start_seq =
      std::atoll(exec(listener, "SELECT coalesce(max(seq), 0) FROM queuecast.changes").c_str());

  std::atomic<bool> writers_done{false};
  std::vector<bell> bells;
  std::thread listening([&] {
    long long done_at = 0;
    while (clock_type::now() < deadline) {
      PQconsumeInput(listener);
      while (PGnotify* note = PQnotifies(listener)) {
        bells.push_back({now_us(), last_of(note->extra)});
        PQfreemem(note);
      }
      // After the writers: until 2 s without a bell.
      if (writers_done && done_at == 0) done_at = now_us();
      if (done_at &&
          now_us() - std::max(done_at, bells.empty() ? 0 : bells.back().received_us) > 2000000)
        break;
      pollfd fd{PQsocket(listener), POLLIN, 0};
      poll(&fd, 1, 50);
    }
  });

  std::vector<std::thread> writing;
  for (int w = 0; w < writers; ++w) {
    writing.emplace_back([&, w] {
      PGconn* conn = connect(conninfo);
      exec(conn, "SET queuecast.doorbell = " + mode);
      for (int i = w; i < commits && clock_type::now() < deadline; i += writers) {
        exec(conn, "SELECT queuecast.enqueue('bench', 'latency')");
        if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      }
      PQfinish(conn);
    });
  }
  for (auto& t : writing) t.join();
  writers_done = true;
  listening.join();

  PGresult* res = PQexec(listener, ("SELECT seq, (extract(epoch FROM committed_at) * 1e6)::bigint "
                                    "FROM queuecast.changes WHERE seq > " +
                                    std::to_string(start_seq) + " ORDER BY seq")
                                       .c_str());
  std::vector<long long> latencies;
  int unannounced = 0;
  for (int row = 0; row < PQntuples(res); ++row) {
    long long seq = std::atoll(PQgetvalue(res, row, 0));
    long long committed = std::atoll(PQgetvalue(res, row, 1));
    auto first =
        std::find_if(bells.begin(), bells.end(), [&](const bell& b) { return b.last >= seq; });
    if (first == bells.end()) {
      ++unannounced;
      continue;
    }
    latencies.push_back(first->received_us - committed);
  }
  PQclear(res);
  PQfinish(listener);
  if (latencies.empty()) {
    std::fprintf(stderr, "no change was announced\n");
    return 1;
  }
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    return latencies[std::min(latencies.size() - 1,
                              static_cast<std::size_t>(q * latencies.size()))];
  };
  std::printf(
      "mode=%s writers=%d commits=%zu bells=%zu unannounced=%d p50_us=%lld p99_us=%lld "
      "max_us=%lld\n",
      mode.c_str(), writers, latencies.size() + unannounced, bells.size(), unannounced, at(0.5),
      at(0.99), latencies.back());
  return unannounced == 0 ? 0 : 1;
}
