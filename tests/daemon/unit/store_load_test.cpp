// Loading and forgetting: a state built queue by queue is invisible until it
// is installed, and then equals load(); rows that are deleted leave nothing
// behind; topic names parse only in full.
#include <gtest/gtest.h>

#include "../../common/sample_rows.hpp"
#include "state/store.hpp"
#include "state/topic_names.hpp"

using namespace queuecast;

namespace queuecast {
void PrintTo(const store_footprint& f, std::ostream* out) {
  *out << "{queues " << f.queues << ", workflows " << f.workflows << ", phases " << f.phases
       << ", workflow_indexes " << f.workflow_indexes << ", topics " << f.topics
       << ", window_changes " << f.window_changes << "}";
}
}  // namespace queuecast

namespace {

json::object phase(std::int64_t id, const std::string& queue, const std::string& status,
                   json::value workflow = nullptr) {
  return qc_test::sample_phase(id, queue, status, 0, std::move(workflow));
}

change_row row(std::int64_t seq, std::string entity, std::string op, std::string key,
               json::value data) {
  return qc_test::sample_row<change_row>(seq, std::move(entity), std::move(op), std::move(key),
                                         std::move(data));
}

json::object workflow(std::int64_t id, const std::string& status) {
  return {{"id", id},
          {"queue", "q"},
          {"title", "w"},
          {"status", status},
          {"current_phase", 1},
          {"created_at", "2026-01-01T00:00:00+00:00"},
          {"updated_at", "2026-01-01T00:00:00+00:00"},
          {"started_at", nullptr},
          {"finished_at", nullptr}};
}

json::object queue_snapshot(json::array phases, bool paused) {
  std::size_t total = phases.size();
  return {{"phases", std::move(phases)},
          {"total", static_cast<std::int64_t>(total)},
          {"paused", paused}};
}

std::map<std::string, json::object> documents(const store& s) {
  std::map<std::string, json::object> out;
  for (const auto& topic : s.topic_names()) out[topic] = *s.document(topic);
  return out;
}

}  // namespace

TEST(store_load, a_store_serves_its_old_state_while_a_builder_fills_and_install_equals_load) {
  store live;
  live.load(10,
            json::object{{"old", queue_snapshot(json::array{phase(1, "old", "queued")}, false)}},
            json::object{{"workflows", json::array{}}, {"total", 0}});
  auto before = documents(live);

  json::object queues{
      {"q",
       queue_snapshot(json::array{phase(2, "q", "running", 7), phase(3, "q", "queued")}, true)},
      {"r", queue_snapshot(json::array{phase(4, "r", "failed", 7)}, false)}};
  json::object workflows{{"workflows", json::array{workflow(7, "running"), workflow(8, "failed")}},
                         {"total", 2}};
  state_builder built(20);
  for (const auto& q : queues) {
    built.add_queue(std::string(q.key()), q.value().as_object());
    EXPECT_EQ(documents(live), before) << "a half-built state is not visible";
    EXPECT_EQ(live.seq(), 10);
  }
  for (const auto& w : workflows.at("workflows").as_array()) built.add_workflow(w.as_object());
  EXPECT_EQ(built.queues(), 2u);
  EXPECT_EQ(built.phases(), 3u);
  EXPECT_EQ(documents(live), before);
  EXPECT_FALSE(live.has_topic("queue:q"));

  auto gone = live.install(std::move(built));
  EXPECT_EQ(gone, std::vector<std::string>{"queue:old"});
  EXPECT_EQ(live.seq(), 20);
  store loaded;
  loaded.load(20, queues, workflows);
  EXPECT_EQ(documents(live), documents(loaded));
  EXPECT_EQ(live.footprint(), loaded.footprint());
  EXPECT_EQ(live.document("workflow:7")->at("phases").as_array().size(), 2u);
  EXPECT_EQ(live.topic_seq("queue:q"), 20);
}

TEST(store_load, a_snapshot_that_does_not_fit_leaves_the_store_as_it_was) {
  store s;
  s.load(10, json::object{{"q", queue_snapshot(json::array{phase(1, "q", "queued")}, false)}},
         json::object{{"workflows", json::array{}}, {"total", 0}});
  auto before = documents(s);
  EXPECT_ANY_THROW(s.load(
      11, json::object{{"q", queue_snapshot(json::array{phase(2, "other", "queued")}, false)}},
      json::object{{"workflows", json::array{}}, {"total", 0}}));
  EXPECT_EQ(documents(s), before);
  EXPECT_EQ(s.seq(), 10);
}

// The review's finding: metadata, windows and indexes of deleted workflows
// stayed forever. Deleting what was created must give the size back.
TEST(store_load, creating_and_deleting_10000_workflows_leaves_the_footprint_as_it_was) {
  store s(64);
  s.load(1, json::object{{"q", queue_snapshot(json::array{phase(1, "q", "queued")}, false)}},
         json::object{{"workflows", json::array{}}, {"total", 0}});
  std::int64_t seq = 1, id = 100;
  // One workflow's life as the database writes it: the workflow, two phases,
  // an update, then ON DELETE CASCADE (the workflow's row first).
  auto life = [&] {
    std::int64_t w = id++, p1 = id++, p2 = id++;
    s.apply({row(++seq, "workflow", "INSERT", std::to_string(w), workflow(w, "pending")),
             row(++seq, "phase", "INSERT", std::to_string(p1), phase(p1, "q", "queued", w)),
             row(++seq, "phase", "INSERT", std::to_string(p2), phase(p2, "q", "blocked", w))});
    s.apply({row(++seq, "phase", "UPDATE", std::to_string(p1),
                 json::object{{"id", p1}, {"status", "running"}})});
    json::object gone_phase{{"queue", "q"}, {"workflow_id", w}};
    gone_phase["id"] = p1;
    json::object gone_phase2 = gone_phase;
    gone_phase2["id"] = p2;
    s.apply({row(++seq, "workflow", "DELETE", std::to_string(w), json::object{{"id", w}}),
             row(++seq, "phase", "DELETE", std::to_string(p1), gone_phase),
             row(++seq, "phase", "DELETE", std::to_string(p2), gone_phase2)});
  };
  for (int i = 0; i < 64; ++i) life();  // the lasting topics' windows fill up to their bound
  store_footprint start = s.footprint();
  for (int i = 0; i < 10000; ++i) life();
  EXPECT_EQ(s.footprint(), start);
  EXPECT_EQ(start.topics, 2u) << "queue:q and workflows";
  EXPECT_EQ(start.phases, 1u);
  EXPECT_EQ(start.workflow_indexes, 0u);
  EXPECT_EQ(start.window_changes, 128u) << "two topics, 64 changes each";
}

// A workflow deleted while its phases were moved elsewhere first: the index
// of its phases empties and goes.
TEST(store_load, a_phase_leaving_a_workflow_leaves_no_empty_index) {
  store s;
  s.load(1, json::object{{"q", queue_snapshot(json::array{phase(1, "q", "queued", 7)}, false)}},
         json::object{{"workflows", json::array{workflow(7, "running")}}, {"total", 1}});
  EXPECT_EQ(s.footprint().workflow_indexes, 1u);
  s.apply({row(2, "phase", "UPDATE", "1", json::object{{"id", 1}, {"workflow_id", nullptr}})});
  EXPECT_EQ(s.footprint().workflow_indexes, 0u);
  EXPECT_TRUE(s.document("workflow:7")->at("phases").as_array().empty());
  s.apply({row(3, "workflow", "DELETE", "7", json::object{{"id", 7}})});
  EXPECT_EQ(s.footprint().topics, 2u);
  EXPECT_FALSE(s.has_topic("workflow:7"));
}

// The order is kept as rows change, not re-sorted on read: an update that
// changes a sort field moves the row.
TEST(store_load, an_update_of_a_sort_field_moves_the_row) {
  store s;
  s.load(1,
         json::object{
             {"q", queue_snapshot(json::array{phase(1, "q", "queued"), phase(2, "q", "queued")},
                                  false)}},
         json::object{{"workflows", json::array{workflow(7, "pending"), workflow(8, "pending")}},
                      {"total", 2}});
  auto ids = [&](const std::string& topic, const char* list) {
    std::vector<std::int64_t> out;
    json::object doc = *s.document(topic);
    for (const auto& item : doc.at(list).as_array()) out.push_back(item.at("id").as_int64());
    return out;
  };
  EXPECT_EQ(ids("queue:q", "phases"), (std::vector<std::int64_t>{1, 2}));
  s.apply({row(2, "phase", "UPDATE", "2", json::object{{"id", 2}, {"priority", 9}})});
  EXPECT_EQ(ids("queue:q", "phases"), (std::vector<std::int64_t>{2, 1}));
  s.apply({row(3, "phase", "UPDATE", "2", json::object{{"id", 2}, {"status", "completed"}})});
  EXPECT_EQ(ids("queue:q", "phases"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(ids("workflows", "workflows"), (std::vector<std::int64_t>{8, 7})) << "id descending";
  s.apply({row(4, "workflow", "UPDATE", "7", json::object{{"id", 7}, {"status", "failed"}})});
  EXPECT_EQ(ids("workflows", "workflows"), (std::vector<std::int64_t>{7, 8})) << "failed first";
  EXPECT_EQ(s.document("workflows")->at("total").as_int64(), 2);
}

TEST(topic_names, build_and_parse_in_full) {
  EXPECT_EQ(queue_topic("default"), "queue:default");
  EXPECT_EQ(workflow_topic(42), "workflow:42");
  EXPECT_EQ(queue_of_topic("queue:a.b"), std::optional<std::string_view>("a.b"));
  EXPECT_FALSE(queue_of_topic("workflows"));
  EXPECT_EQ(workflow_of_topic("workflow:42"), std::optional<std::int64_t>(42));
  EXPECT_FALSE(workflow_of_topic("workflow:42x"));
  EXPECT_FALSE(workflow_of_topic("workflow:"));
  EXPECT_FALSE(workflow_of_topic("workflows"));
  EXPECT_FALSE(workflow_of_topic("workflow:99999999999999999999"));
}
