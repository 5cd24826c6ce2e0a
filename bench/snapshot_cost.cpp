// What one commit costs the daemon as its queue grows (issue 11): a queue of
// N phases, then single-phase status changes shaped as the capture writes
// them (an UPDATE whose data holds the key and the changed columns), each
// applied by store::apply and published by hubs as the feed does. CPU time
// per commit (this thread's clock) of:
//   store     store::apply of the one row
//   delta     hub::publish with one delta-mode subscriber
//   snapshot  hub::publish with one snapshot-mode subscriber
//   compat    hub::publish with one /api/v1/ws/queue subscriber
//   all       hub::publish with three subscribers of each of the three kinds
// Each kind has its own hub over the same store, so each column is the frames
// that kind alone needs. No database, no sockets: the sinks keep the newest
// frame and fold every frame's bytes into a digest, so two builds given the
// same arguments can be checked to send byte-identical frames.
//
// Also the memory the store's document cache takes: sizeof a phase row, and
// the heap bytes per phase that making the queue's document once leaves
// behind (0 in a build without the cache).
//
// Usage: snapshot_cost [phases...]   (default 50 500 5000)
// Prints one line per size: phases=N commits=C store_us=... digest=...
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/hub.hpp"
#include "state/store.hpp"

using namespace queuecast;

namespace {

double cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Keeps what it is given; fold() digests it (FNV-1a over every frame, in
// order) outside the timed part, so the columns are the hub's work only.
struct digest_sink : subscriber_sink {
  std::uint64_t digest = 1469598103934665603ULL;
  std::size_t frames = 0;
  std::vector<frame> given;
  frame latest;  // what a conflating session would still hold

  void send(frame f) override { given.push_back(std::move(f)); }
  void send_latest(const std::string&, frame f) override {
    latest = f;
    given.push_back(std::move(f));
  }
  void dropped(const std::string&) override {}
  void close(std::uint16_t, std::string) override {}
  void fold() {
    for (const frame& f : given) {
      for (unsigned char c : *f) digest = (digest ^ c) * 1099511628211ULL;
      ++frames;
    }
    given.clear();
  }
};

const char* const statuses[] = {"queued", "ready", "running", "completed", "failed", "blocked"};

json::object phase(std::int64_t id, const std::string& status) {
  return {{"id", id},
          {"queue", "bench"},
          {"workflow_id", nullptr},
          {"phase_number", id % 7 + 1},
          {"title", "phase " + std::to_string(id) + ": build and test the component"},
          {"status", status},
          {"position", id},
          {"priority", id % 3},
          {"worker", nullptr},
          {"attempts", 0},
          {"max_attempts", 3},
          {"error", nullptr},
          {"created_at", "2026-01-01T00:00:00.123456+00:00"},
          {"updated_at", "2026-01-01T00:00:00.123456+00:00"},
          {"started_at", nullptr},
          {"finished_at", nullptr}};
}

std::string stamp(std::int64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2026-01-02T%02lld:%02lld:%02lld.%06lld+00:00",
                static_cast<long long>(n / 3600 % 24), static_cast<long long>(n / 60 % 60),
                static_cast<long long>(n % 60), static_cast<long long>(n % 1000000));
  return buf;
}

struct kind {
  const char* name;
  std::vector<sub_format> formats;
};

// Heap bytes the store's document cache takes for `topic` (0 in a build
// without one): the heap in use before and after the document is made once.
template <class Store>
std::size_t cache_bytes(const Store& state, const std::string& topic) {
  if constexpr (requires { state.document_text(topic); }) {
    std::size_t before = mallinfo2().uordblks;
    { auto text = state.document_text(topic); }  // discarded: what stays is the cache
    return mallinfo2().uordblks - before;
  } else {
    return 0;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void run(std::int64_t phases) {
  // Enough commits for a stable median, bounded in time at any size.
  const int commits = phases <= 500 ? 400 : 100;
  store state;
  state_builder built(1);
  json::array list;
  std::vector<std::string> status_of(static_cast<std::size_t>(phases) + 1);
  std::mt19937 rng(11);
  for (std::int64_t id = 1; id <= phases; ++id) {
    status_of[id] = statuses[rng() % 6];
    list.push_back(phase(id, status_of[id]));
  }
  built.add_queue("bench", json::object{{"phases", std::move(list)}, {"paused", false}});
  state.install(std::move(built));

  const std::string topic = "queue:bench";
  std::size_t cached = cache_bytes(state, topic);
  std::vector<kind> kinds = {{"delta", {sub_format::delta}},
                             {"snapshot", {sub_format::snapshot}},
                             {"compat", {sub_format::queue_update}},
                             {"all",
                              {sub_format::delta, sub_format::snapshot, sub_format::queue_update,
                               sub_format::delta, sub_format::snapshot, sub_format::queue_update,
                               sub_format::delta, sub_format::snapshot, sub_format::queue_update}}};
  std::vector<std::unique_ptr<hub>> hubs;
  std::vector<std::vector<std::unique_ptr<digest_sink>>> sinks(kinds.size());
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    hubs.push_back(std::make_unique<hub>(state));
    for (sub_format f : kinds[k].formats) {
      sinks[k].push_back(std::make_unique<digest_sink>());
      hubs[k]->subscribe(sinks[k].back().get(), topic, f, std::nullopt);
    }
  }

  std::vector<double> store_us;
  std::vector<std::vector<double>> hub_us(kinds.size());
  std::int64_t seq = 1;
  for (int i = 0; i < commits; ++i) {
    std::int64_t id = 1 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(phases));
    std::string before = status_of[id], after = before;
    while (after == before) after = statuses[rng() % 6];
    status_of[id] = after;
    change_row row;
    row.seq = ++seq;
    row.topic = topic;
    row.entity = "phase";
    row.key = std::to_string(id);
    row.op = "UPDATE";
    row.data = json::object{{"id", id}, {"status", after}, {"updated_at", stamp(seq)}};
    row.old_data = json::object{{"status", before}, {"updated_at", stamp(seq - 1)}};
    std::vector<change_row> batch{std::move(row)};

    double t0 = cpu_us();
    std::vector<topic_update> updates = state.apply(batch);
    store_us.push_back(cpu_us() - t0);
    // The first hub after the commit finds the caches cold and serialises
    // the changed phase; the others find it done. Taking turns spreads that
    // over every column.
    for (std::size_t turn = 0; turn < kinds.size(); ++turn) {
      std::size_t k = (turn + static_cast<std::size_t>(i)) % kinds.size();
      double t = cpu_us();
      hubs[k]->publish(updates);
      hub_us[k].push_back(cpu_us() - t);
    }
    for (auto& of_kind : sinks) {
      for (auto& s : of_kind) s->fold();
    }
  }

  std::uint64_t digest = 1469598103934665603ULL;
  std::size_t frames = 0;
  for (auto& of_kind : sinks) {
    for (auto& s : of_kind) {
      s->fold();  // the subscribe replies, when nothing was published
      digest = (digest ^ s->digest) * 1099511628211ULL;
      frames += s->frames;
    }
  }
  std::printf("phases=%lld commits=%d store_us=%.2f", static_cast<long long>(phases), commits,
              median(store_us));
  for (std::size_t k = 0; k < kinds.size(); ++k)
    std::printf(" %s_us=%.2f", kinds[k].name, median(hub_us[k]));
  std::printf(" row_bytes=%zu cache_bytes_per_phase=%zu", sizeof(tables::phase_row),
              cached / static_cast<std::size_t>(phases));
  std::printf(" snapshot_bytes=%zu frames=%zu digest=%016llx\n",
              sinks[1].front()->latest ? sinks[1].front()->latest->size() : 0, frames,
              static_cast<unsigned long long>(digest));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoll(argv[i]));
  if (sizes.empty()) sizes = {50, 500, 5000};
  for (std::int64_t n : sizes) run(n);
  return 0;
}
