// Property test of the store against a model of the three tables: seeded
// random histories, shaped as the capture trigger writes them (partial
// UPDATEs, cascaded DELETEs, TRUNCATE ... CASCADE), applied in random batch
// splits, as the feed reads them (a batch may cut a transaction). Properties:
//  (a) now and then and at the end: every document equals the one a fresh
//      load of the model gives, and the one the model itself sorts by the
//      documented order;
//  (b) after each read of the feed: a live delta-mode client (the ops of
//      each topic_update, a snapshot on reset) holds the same documents;
// and at the end, for clients that stopped at earlier reads,
//  (c) their document plus resume() ops, and plus replay_ops() of the rows
//      touched since, equals the current document (nullopt: a fresh start).
// A second test, on histories from the same generator:
//  (d) after most commits, every topic's document_text() (the rows' cached
//      texts joined) is byte for byte the serialisation of its document built
//      from scratch, and at the end the same as a fresh load's.
// A failure names the seed; rerun one with QUEUECAST_PROPERTY_SEED=<n>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../../common/sample_rows.hpp"
#include "state/ordering.hpp"
#include "state/store.hpp"

using namespace queuecast;

namespace {

constexpr int sequences = 200;
constexpr int transactions_per_sequence = 200;

// ---------------------------------------------------------------- the model

// The rows of queuecast.queues, workflows and phases, as plain maps, with
// only the fields the documents show.
struct model {
  std::map<std::string, bool> queues;  // name -> paused
  std::map<std::int64_t, json::object> workflows;
  std::map<std::int64_t, json::object> phases;

  json::object queue_snapshot(const std::string& name) const {
    json::array list;
    for (const auto& [id, p] : phases) {
      if (p.at("queue").as_string() == name) list.push_back(p);
    }
    std::sort(list.begin(), list.end(), [](const json::value& a, const json::value& b) {
      return phase_before(a.as_object(), b.as_object());
    });
    std::size_t total = list.size();
    return {{"phases", std::move(list)},
            {"total", static_cast<std::int64_t>(total)},
            {"paused", queues.at(name)}};
  }
  json::object workflows_snapshot() const {
    json::array list;
    for (const auto& [id, w] : workflows) list.push_back(w);
    std::sort(list.begin(), list.end(), [](const json::value& a, const json::value& b) {
      return workflow_before(a.as_object(), b.as_object());
    });
    std::size_t total = list.size();
    return {{"workflows", std::move(list)}, {"total", static_cast<std::int64_t>(total)}};
  }
  json::object workflow_document(std::int64_t id) const {
    json::array list;
    for (const auto& [pid, p] : phases) {
      if (p.at("workflow_id") == json::value(id)) list.push_back(p);
    }
    std::sort(list.begin(), list.end(), [](const json::value& a, const json::value& b) {
      return phase_before(a.as_object(), b.as_object());
    });
    return {{"workflow", workflows.at(id)}, {"phases", std::move(list)}};
  }
  // Every topic and its document, as the daemon must show them.
  std::map<std::string, json::object> documents() const {
    std::map<std::string, json::object> out;
    for (const auto& [name, paused] : queues) out["queue:" + name] = queue_snapshot(name);
    for (const auto& [id, w] : workflows)
      out["workflow:" + std::to_string(id)] = workflow_document(id);
    out["workflows"] = workflows_snapshot();
    return out;
  }
};

// ---------------------------------------------------- the history generator

const std::vector<std::string> queue_names = {"a", "b", "c", "d"};
const std::vector<std::string> phase_statuses = {"queued", "ready",   "running",  "completed",
                                                 "failed", "blocked", "cancelled"};
const std::vector<std::string> workflow_statuses = {"pending",   "running", "paused",
                                                    "completed", "failed",  "cancelled"};
const std::vector<std::string> times = {"2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00",
                                        "2026-01-02T00:00:00+00:00"};
// Ties, negatives and the extremes the order must survive without overflow.
const std::vector<std::int64_t> priorities = {0, 0, 1, 5, -3, INT64_MAX, INT64_MIN};

// Writes the history rows of random transactions and keeps the model in step,
// following the schema's foreign keys (ON DELETE CASCADE: the parent's row
// first, then its children's in some order; TRUNCATE ... CASCADE: one row per
// table in some order).
class generator {
 public:
  generator(std::uint32_t seed, std::int64_t first_seq) : rng_(seed), seq_(first_seq) {}

  // Some phases, workflows and queues to load from.
  void seed_model(model& m) {
    m.queues["a"] = false;
    m.queues["b"] = true;
    for (int i = 0; i < 3; ++i) m.workflows[next_id_] = new_workflow(m, next_id_), ++next_id_;
    for (int i = 0; i < 8; ++i) m.phases[next_id_] = new_phase(m, next_id_), ++next_id_;
  }

  // One committed transaction's rows (one to a few), applied to the model.
  std::vector<change_row> transaction(model& m) {
    std::vector<change_row> rows;
    if (pick(20) == 0) seq_ += pick(3);  // an aborted commit leaves a hole
    // Rare: every client resuming from before it gets a fresh start.
    if (pick(200) == 0) {
      truncate(m, rows, pick(3));
      return rows;
    }
    int kind = pick(100);
    if (kind < 4) {
      queue_insert(m, rows);
    } else if (kind < 10) {
      queue_update(m, rows);
    } else if (kind < 12) {
      queue_delete(m, rows);
    } else if (kind < 20) {
      workflow_insert(m, rows);
    } else if (kind < 30) {
      workflow_update(m, rows);
    } else if (kind < 34) {
      workflow_delete(m, rows);
    } else if (kind < 52) {
      phase_insert(m, rows);
    } else if (kind < 85) {
      phase_update(m, rows);
    } else {
      phase_delete(m, rows);
    }
    return rows;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <class T>
  const T& one_of(const std::vector<T>& items) {
    return items[pick(static_cast<int>(items.size()))];
  }
  template <class Map>
  std::optional<typename Map::key_type> any_key(const Map& items) {
    if (items.empty()) return std::nullopt;
    auto it = items.begin();
    std::advance(it, pick(static_cast<int>(items.size())));
    return it->first;
  }
  json::value any_workflow(const model& m) {
    auto id = any_key(m.workflows);
    if (!id || pick(3) == 0) return nullptr;
    return *id;
  }

  json::object new_workflow(const model& m, std::int64_t id) {
    return {{"id", id},
            {"queue", *any_key(m.queues)},
            {"title", "w" + std::to_string(id)},
            {"status", one_of(workflow_statuses)},
            {"current_phase", pick(3)},
            {"created_at", times[0]},
            {"updated_at", one_of(times)},
            {"started_at", nullptr},
            {"finished_at", nullptr}};
  }
  json::object new_phase(const model& m, std::int64_t id) {
    json::object p = qc_test::sample_phase(id, *any_key(m.queues), one_of(phase_statuses),
                                           one_of(priorities), any_workflow(m));
    p["position"] = pick(4);  // ties: the id decides
    return p;
  }

  void add(std::vector<change_row>& rows, std::string entity, std::string op, std::string key,
           json::value data, json::value old_data, std::string topic) {
    rows.push_back(qc_test::sample_row<change_row>(++seq_, std::move(entity), std::move(op),
                                                   std::move(key), std::move(data),
                                                   std::move(old_data), std::move(topic)));
  }

  // A partial UPDATE: data has the key and the changed columns, old_data the
  // old values of the changed columns (docs/capture.md).
  void update(std::vector<change_row>& rows, const std::string& entity, json::object& row,
              const json::object& changes, const std::string& key_field, const std::string& topic) {
    json::object data{{key_field, row.at(key_field)}}, old_data;
    for (const auto& [field, value] : changes) {
      if (row.at(field) == value) continue;
      data[field] = value;
      old_data[field] = row.at(field);
      row[field] = value;
    }
    std::string key = row.at(key_field).is_string() ? std::string(row.at(key_field).as_string())
                                                    : std::to_string(row.at(key_field).as_int64());
    add(rows, entity, "UPDATE", key, data, old_data.empty() ? json::value() : old_data, topic);
  }

  void queue_insert(model& m, std::vector<change_row>& rows) {
    const std::string& name = one_of(queue_names);
    if (m.queues.count(name)) return;
    bool paused = pick(2);
    m.queues[name] = paused;
    add(rows, "queue", "INSERT", name,
        json::object{{"name", name}, {"paused", paused}, {"description", nullptr}}, nullptr,
        "queue:" + name);
  }
  void queue_update(model& m, std::vector<change_row>& rows) {
    auto name = any_key(m.queues);
    if (!name) return;
    json::object row{{"name", *name}, {"paused", m.queues[*name]}, {"description", nullptr}};
    json::object changes;
    if (pick(4) == 0) {
      changes["description"] = "d" + std::to_string(pick(100));
    } else {
      changes["paused"] = !m.queues[*name];
    }
    update(rows, "queue", row, changes, "name", "queue:" + *name);
    m.queues[*name] = row.at("paused").as_bool();
  }
  void queue_delete(model& m, std::vector<change_row>& rows) {
    auto name = any_key(m.queues);
    if (!name) return;
    add(rows, "queue", "DELETE", *name, json::object{{"name", *name}}, nullptr, "queue:" + *name);
    std::vector<std::int64_t> workflows, phases;
    for (const auto& [id, w] : m.workflows) {
      if (w.at("queue").as_string() == *name) workflows.push_back(id);
    }
    std::set<std::int64_t> doomed(workflows.begin(), workflows.end());
    for (const auto& [id, p] : m.phases) {
      const json::value& w = p.at("workflow_id");
      if (p.at("queue").as_string() == *name || (!w.is_null() && doomed.count(w.as_int64())))
        phases.push_back(id);
    }
    cascade(m, rows, workflows, phases);
    m.queues.erase(*name);
  }
  // The children's DELETE rows, in a random order.
  void cascade(model& m, std::vector<change_row>& rows, std::vector<std::int64_t> workflows,
               std::vector<std::int64_t> phases) {
    std::vector<std::pair<bool, std::int64_t>> all;
    for (auto id : workflows) all.emplace_back(true, id);
    for (auto id : phases) all.emplace_back(false, id);
    std::shuffle(all.begin(), all.end(), rng_);
    for (auto [is_workflow, id] : all) {
      if (is_workflow) {
        const json::object& w = m.workflows.at(id);
        add(rows, "workflow", "DELETE", std::to_string(id),
            json::object{{"id", id}, {"queue", w.at("queue")}}, nullptr, "workflows");
        m.workflows.erase(id);
      } else {
        const json::object& p = m.phases.at(id);
        add(rows, "phase", "DELETE", std::to_string(id),
            json::object{
                {"id", id}, {"queue", p.at("queue")}, {"workflow_id", p.at("workflow_id")}},
            nullptr, "queue:" + std::string(p.at("queue").as_string()));
        m.phases.erase(id);
      }
    }
  }

  void workflow_insert(model& m, std::vector<change_row>& rows) {
    if (m.queues.empty()) return;
    std::int64_t id = next_id_++;
    json::object w = new_workflow(m, id);
    m.workflows[id] = w;
    json::object data = w;
    data["payload"] = json::object{{"not", "shown"}};
    add(rows, "workflow", "INSERT", std::to_string(id), data, nullptr, "workflows");
  }
  void workflow_update(model& m, std::vector<change_row>& rows) {
    auto id = any_key(m.workflows);
    if (!id) return;
    json::object changes;
    if (pick(2)) changes["status"] = one_of(workflow_statuses);
    if (pick(2)) changes["updated_at"] = one_of(times);
    if (pick(4) == 0) changes["title"] = "t" + std::to_string(pick(9));
    if (pick(4) == 0) changes["queue"] = *any_key(m.queues);
    if (pick(6) == 0) changes["payload"] = json::object{{"x", pick(9)}};
    json::object& w = m.workflows.at(*id);
    json::value payload = changes.contains("payload") ? changes["payload"] : json::value();
    changes.erase("payload");
    update(rows, "workflow", w, changes, "id", "workflows");
    if (!payload.is_null()) {  // a changed column the documents do not show
      rows.back().data.as_object()["payload"] = payload;
    }
  }
  void workflow_delete(model& m, std::vector<change_row>& rows) {
    auto id = any_key(m.workflows);
    if (!id) return;
    std::vector<std::int64_t> phases;
    for (const auto& [pid, p] : m.phases) {
      if (p.at("workflow_id") == json::value(*id)) phases.push_back(pid);
    }
    cascade(m, rows, {*id}, phases);
  }

  void phase_insert(model& m, std::vector<change_row>& rows) {
    if (m.queues.empty()) return;
    std::int64_t id = next_id_++;
    json::object p = new_phase(m, id);
    m.phases[id] = p;
    json::object data = p;
    data["payload"] = json::object{{"not", "shown"}};
    add(rows, "phase", "INSERT", std::to_string(id), data, nullptr,
        "queue:" + std::string(p.at("queue").as_string()));
  }
  void phase_update(model& m, std::vector<change_row>& rows) {
    auto id = any_key(m.phases);
    if (!id) return;
    json::object changes;
    if (pick(2)) changes["status"] = one_of(phase_statuses);
    if (pick(4) == 0) changes["priority"] = one_of(priorities);
    if (pick(4) == 0) changes["position"] = pick(4);
    if (pick(4) == 0) changes["worker"] = pick(2) ? json::value("w1") : json::value();
    if (pick(5) == 0) changes["attempts"] = pick(3);
    if (pick(5) == 0) changes["queue"] = *any_key(m.queues);
    if (pick(5) == 0) changes["workflow_id"] = any_workflow(m);
    json::object& p = m.phases.at(*id);
    update(rows, "phase", p, changes, "id", "queue:" + std::string(p.at("queue").as_string()));
    // The row's topic is the phase's queue after the change.
    rows.back().topic = "queue:" + std::string(p.at("queue").as_string());
  }
  void phase_delete(model& m, std::vector<change_row>& rows) {
    auto id = any_key(m.phases);
    if (!id) return;
    cascade(m, rows, {}, {*id});
  }

  // depth 0: TRUNCATE phases; 1: TRUNCATE workflows CASCADE; 2: TRUNCATE
  // queues CASCADE.
  void truncate(model& m, std::vector<change_row>& rows, int depth) {
    std::vector<std::string> tables{"phase"};
    if (depth >= 1) tables.push_back("workflow");
    if (depth >= 2) tables.push_back("queue");
    std::shuffle(tables.begin(), tables.end(), rng_);
    for (const auto& t : tables) {
      add(rows, t, "TRUNCATE", "", nullptr, nullptr, t == "workflow" ? "workflows" : "queue:*");
    }
    m.phases.clear();
    if (depth >= 1) m.workflows.clear();
    if (depth >= 2) m.queues.clear();
  }

  std::mt19937 rng_;
  std::int64_t seq_;
  std::int64_t next_id_ = 1;
};

// -------------------------------------------------------- the client's side

// A client applying ops (docs/protocol.md): objects kept by id, re-sorted by
// the documented order, total set to the count.
class client_doc {
 public:
  client_doc() = default;
  client_doc(const std::string& topic, const json::object& doc)
      : workflows_(topic == "workflows"), doc_(doc) {
    for (const auto& item : doc_.at(list_key()).as_array())
      items_[item.at("id").as_int64()] = item.as_object();
    doc_.erase(list_key());
  }

  void apply(const json::array& ops) {
    for (const auto& value : ops) {
      const json::object& op = value.as_object();
      std::string_view kind = op.at("op").as_string();
      if (kind == "upsert") {
        const json::object& item = op.at(workflows_ ? "workflow" : "phase").as_object();
        items_[item.at("id").as_int64()] = item;
      } else if (kind == "remove") {
        items_.erase(op.at("id").as_int64());
      } else if (kind == "paused") {
        doc_["paused"] = op.at("value");
      } else if (kind == "workflow") {
        doc_["workflow"] = op.at("workflow");
      } else {
        ADD_FAILURE() << "unknown op " << value;
      }
    }
  }

  json::object document() const {
    json::array list;
    for (const auto& [id, item] : items_) list.push_back(item);
    auto before = workflows_ ? workflow_before : phase_before;
    std::sort(list.begin(), list.end(), [&](const json::value& a, const json::value& b) {
      return before(a.as_object(), b.as_object());
    });
    json::object doc = doc_;
    std::size_t total = list.size();
    doc[list_key()] = std::move(list);
    if (doc.contains("total")) doc["total"] = static_cast<std::int64_t>(total);
    return doc;
  }

 private:
  const char* list_key() const { return workflows_ ? "workflows" : "phases"; }
  bool workflows_ = false;
  json::object doc_;  // all but the list
  std::map<std::int64_t, json::object> items_;
};

json::object apply_ops(const std::string& topic, const json::object& doc, const json::array& ops) {
  client_doc client(topic, doc);
  client.apply(ops);
  return client.document();
}

// What the feed's replay query reads from one history row.
touched_row touched(const change_row& c) {
  auto text = [](const json::value& object, const char* field) -> std::string {
    if (!object.is_object()) return "";
    const json::value* v = object.as_object().if_contains(field);
    if (!v || v->is_null()) return "";
    return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
  };
  return touched_row{c.entity,
                     c.key,
                     c.op,
                     c.topic,
                     text(c.old_data, "queue"),
                     text(c.data, "workflow_id"),
                     text(c.old_data, "workflow_id")};
}

// ------------------------------------------------------------ the property

// How often (c) had something to check: a property that always got nullopt
// would hold vacuously.
struct coverage {
  int resumes = 0, resumed = 0, replays = 0, replayed = 0;
} covered;

// A client's position: the documents of every topic at one seq.
struct checkpoint {
  std::int64_t seq;
  std::map<std::string, std::int64_t> topic_seq;
  std::map<std::string, json::object> documents;
};

struct run {
  std::uint32_t seed;
  std::mt19937 rng;
  std::vector<change_row> history;  // every row written so far
  std::vector<std::size_t> batch_ends;
  explicit run(std::uint32_t s) : seed(s), rng(s ^ 0x5eedu) {}
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }

  // The batches applied so far, for a failure message.
  std::string trail() const {
    std::ostringstream out;
    std::size_t batch = 0;
    for (std::size_t i = 0; i < history.size(); ++i) {
      if (batch < batch_ends.size() && i == batch_ends[batch]) out << "  --\n", ++batch;
      if (batch == batch_ends.size()) break;
      const change_row& c = history[i];
      out << "  " << c.seq << " " << c.entity << " " << c.op << " " << c.key << " " << c.data << " "
          << c.old_data << "\n";
    }
    return out.str();
  }
};

json::object load_input(const model& m, std::mt19937& rng) {
  json::object queues;
  for (const auto& [name, paused] : m.queues) {
    json::object snapshot = m.queue_snapshot(name);
    auto& phases = snapshot["phases"].as_array();
    std::shuffle(phases.begin(), phases.end(), rng);  // load() must not rely on the order
    queues[name] = snapshot;
  }
  return queues;
}

::testing::AssertionResult same(const json::object& client, const json::object& now) {
  if (client == now) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the client has " << json::serialize(client)
                                       << "\n  the store has " << json::serialize(now) << "\n";
}

// "" when both hold the same topics and documents, else the first difference.
std::string difference(const std::map<std::string, json::object>& expected,
                       const std::map<std::string, json::object>& actual) {
  std::set<std::string> topics;
  for (const auto& [topic, doc] : expected) topics.insert(topic);
  for (const auto& [topic, doc] : actual) topics.insert(topic);
  for (const auto& topic : topics) {
    auto e = expected.find(topic), a = actual.find(topic);
    if (e != expected.end() && a != actual.end() && e->second == a->second) continue;
    auto text = [](auto it, auto end) {
      return it == end ? std::string("(no topic)") : json::serialize(it->second);
    };
    return topic + "\n  expected " + text(e, expected.end()) + "\n  actual   " +
           text(a, actual.end());
  }
  return "";
}

std::map<std::string, json::object> all_documents(const store& s) {
  std::map<std::string, json::object> out;
  for (const auto& topic : s.topic_names()) out[topic] = *s.document(topic);
  return out;
}

// (a): the applied store, a fresh load and the model agree on every topic.
void check_documents(run& r, const store& s, const model& m, std::int64_t seq) {
  store fresh;
  fresh.load(seq, load_input(m, r.rng), m.workflows_snapshot());
  auto expected = m.documents();
  auto applied = all_documents(s);
  auto loaded = all_documents(fresh);
  ASSERT_EQ(difference(expected, loaded), "") << "seed " << r.seed << ": a fresh load";
  ASSERT_EQ(difference(expected, applied), "")
      << "seed " << r.seed << " seq " << seq << ": the applied history\nbatches:\n"
      << r.trail();
}

// (c): from an earlier checkpoint, resume() and replay_ops() reach the
// current document of every topic that existed then and exists now.
void check_resumes(run& r, const store& s, const checkpoint& then) {
  const std::vector<change_row>& history = r.history;
  for (const auto& [topic, doc] : then.documents) {
    if (!s.has_topic(topic)) continue;
    json::object now = *s.document(topic);
    // The client's since: the seq of its last message on the topic, or the
    // position of the whole state (both name the same document).
    std::int64_t since = r.pick(2) ? then.seq : then.topic_seq.at(topic);
    covered.resumes++;
    if (auto plan = s.resume(topic, since)) {
      covered.resumed++;
      EXPECT_LE(plan->position, since) << "seed " << r.seed;
      EXPECT_TRUE(same(apply_ops(topic, doc, plan->ops), now))
          << "seed " << r.seed << ": resume(" << topic << ", " << since << ") ops " << plan->ops;
    }
    std::vector<touched_row> rows;  // what the feed reads: every row after since
    for (const auto& c : history) {
      if (c.seq > since) rows.push_back(touched(c));
    }
    covered.replays++;
    if (auto ops = s.replay_ops(topic, rows)) {
      covered.replayed++;
      EXPECT_TRUE(same(apply_ops(topic, doc, *ops), now))
          << "seed " << r.seed << ": replay_ops(" << topic << ") since " << since << " ops " << *ops
          << "\nbatches:\n"
          << r.trail();
    }
  }
}

// One batch through the store, and through (b)'s live client.
void apply_batch(run& r, store& s, std::vector<change_row> batch,
                 std::map<std::string, client_doc>& live) {
  r.batch_ends.push_back((r.batch_ends.empty() ? 0 : r.batch_ends.back()) + batch.size());
  std::vector<topic_update> updates;
  try {
    updates = s.apply(batch);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "seed " << r.seed << ": apply threw " << e.what() << "\nbatches:\n"
                  << r.trail();
    return;
  }
  for (const auto& u : updates) {
    if (u.deleted) {
      live.erase(u.topic);
    } else if (u.reset || !live.count(u.topic)) {
      live[u.topic] =
          client_doc(u.topic, *s.document(u.topic));  // a snapshot (or a first subscription)
    } else {
      live[u.topic].apply(u.ops);
    }
  }
}

void run_sequence(std::uint32_t seed) {
  run r(seed);
  model m;
  generator gen(seed, 100);
  gen.seed_model(m);
  store s(static_cast<std::size_t>(2 + r.pick(40)));  // small windows: both ways of resuming
  s.load(100, load_input(m, r.rng), m.workflows_snapshot());

  std::map<std::string, client_doc> live;  // (b)'s client, subscribed to every topic
  for (const auto& [topic, doc] : all_documents(s)) live[topic] = client_doc(topic, doc);
  std::vector<change_row> pending;
  std::vector<checkpoint> checkpoints;
  for (int t = 0; t < transactions_per_sequence; ++t) {
    auto rows = gen.transaction(m);
    r.history.insert(r.history.end(), rows.begin(), rows.end());
    pending.insert(pending.end(), rows.begin(), rows.end());
    // Now and then the feed reads what is there, in batches of any size that
    // may cut a transaction.
    bool last = t + 1 == transactions_per_sequence;
    if (!last && r.pick(4) != 0) continue;
    while (!pending.empty()) {
      std::size_t n = std::min<std::size_t>(1 + r.pick(12), pending.size());
      apply_batch(r, s, {pending.begin(), pending.begin() + n}, live);
      if (::testing::Test::HasFailure()) return;
      pending.erase(pending.begin(), pending.begin() + n);
    }
    std::map<std::string, json::object> documents = all_documents(s);
    std::map<std::string, json::object> client;
    for (const auto& [topic, doc] : live) client[topic] = doc.document();
    ASSERT_EQ(difference(documents, client), "")
        << "seed " << r.seed << ": a live delta client diverged\nbatches:\n"
        << r.trail();
    if (r.pick(2) == 0) {  // a client that stops here and resumes at the end
      checkpoint cp{s.seq(), {}, std::move(documents)};
      for (const auto& [topic, doc] : cp.documents) cp.topic_seq[topic] = s.topic_seq(topic);
      checkpoints.push_back(std::move(cp));
    }
    if (last || r.pick(4) == 0) {  // the store is at the model's state
      check_documents(r, s, m, s.seq());
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  for (int i = 0; i < 6 && !checkpoints.empty(); ++i) {
    check_resumes(r, s, checkpoints[r.pick(static_cast<int>(checkpoints.size()))]);
  }
  if (!checkpoints.empty()) check_resumes(r, s, checkpoints.front());
}

}  // namespace

TEST(store_property, applied_history_equals_a_fresh_load_and_clients_catch_up) {
  // CPU time, not wall time: the test machine may be shared.
  std::clock_t start = std::clock();
  std::uint32_t first = 1, last = sequences;
  if (const char* one = std::getenv("QUEUECAST_PROPERTY_SEED")) first = last = std::atoi(one);
  for (std::uint32_t seed = first; seed <= last; ++seed) {
    try {
      run_sequence(seed);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "seed " << seed << ": " << e.what();
    }
    if (HasFailure()) {
      ADD_FAILURE() << "failing seed " << seed << " (rerun: QUEUECAST_PROPERTY_SEED=" << seed
                    << ")";
      return;
    }
  }
  double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  std::printf("%d sequences of %d transactions: %.2f s CPU\n", last - first + 1,
              transactions_per_sequence, seconds);
  std::printf("resumed %d of %d, replayed %d of %d\n", covered.resumed, covered.resumes,
              covered.replayed, covered.replays);
  EXPECT_LT(seconds, 5.0) << "the property test must stay quick";
  if (first != last) {
    EXPECT_GT(covered.resumed, covered.resumes / 10) << "(c) hardly ever resumed from the window";
    EXPECT_GT(covered.replayed, covered.replays / 10) << "(c) hardly ever replayed from history";
  }
}

// ------------------------------------------- (d) the cached document texts

namespace {

// Every topic's document_text() (joined from the rows' cached texts) is the
// serialisation of its document built from scratch, byte for byte.
void check_texts(std::uint32_t seed, const store& s, std::int64_t seq) {
  for (const auto& topic : s.topic_names()) {
    std::optional<std::string> text = s.document_text(topic);
    ASSERT_TRUE(text) << "seed " << seed << ": no text for " << topic;
    ASSERT_EQ(*text, json::serialize(*s.document(topic)))
        << "seed " << seed << " seq " << seq << ": the cached text of " << topic;
  }
}

// Seeded histories applied one transaction at a time; the texts are read
// after most of them, so rows are cached, then changed (once or several
// times before the next read), then read again. At the end, the texts equal
// those of a fresh load of the same rows: what a reload would send.
void text_sequence(std::uint32_t seed) {
  run r(seed);
  model m;
  generator gen(seed, 100);
  gen.seed_model(m);
  store s;
  s.load(100, load_input(m, r.rng), m.workflows_snapshot());
  for (int t = 0; t < transactions_per_sequence; ++t) {
    std::vector<change_row> rows = gen.transaction(m);
    if (rows.empty()) continue;
    s.apply(rows);
    if (r.pick(4) == 0) continue;  // changes pile up on cached rows
    check_texts(seed, s, s.seq());
    if (::testing::Test::HasFatalFailure()) return;
  }
  check_texts(seed, s, s.seq());
  store fresh;
  fresh.load(s.seq(), load_input(m, r.rng), m.workflows_snapshot());
  ASSERT_EQ(fresh.topic_names(), s.topic_names()) << "seed " << seed;
  for (const auto& topic : s.topic_names())
    ASSERT_EQ(*s.document_text(topic), *fresh.document_text(topic))
        << "seed " << seed << ": applied and freshly loaded texts of " << topic;
}

}  // namespace

TEST(store_property, cached_document_texts_equal_a_fresh_serialisation) {
  std::clock_t start = std::clock();
  std::uint32_t first = 1, last = sequences;
  if (const char* one = std::getenv("QUEUECAST_PROPERTY_SEED")) first = last = std::atoi(one);
  for (std::uint32_t seed = first; seed <= last; ++seed) {
    try {
      text_sequence(seed);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "seed " << seed << ": " << e.what();
    }
    if (HasFailure()) {
      ADD_FAILURE() << "failing seed " << seed << " (rerun: QUEUECAST_PROPERTY_SEED=" << seed
                    << ")";
      return;
    }
  }
  double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  std::printf("document texts: %d sequences of %d transactions: %.2f s CPU\n", last - first + 1,
              transactions_per_sequence, seconds);
  EXPECT_LT(seconds, 5.0) << "the property test must stay quick";
}
