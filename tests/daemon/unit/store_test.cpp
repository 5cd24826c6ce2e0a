// The state store: applying history yields the documents SQL would give, and
// deltas whose ops rebuild them; resume windows; divergence is detected.
#include <gtest/gtest.h>

#include "../../common/sample_rows.hpp"
#include "state/store.hpp"

using namespace queuecast;

namespace {

json::object phase(std::int64_t id, const std::string& queue, const std::string& status,
                   int priority = 0, json::value workflow = nullptr) {
  return qc_test::sample_phase(id, queue, status, priority, std::move(workflow));
}

change_row row(std::int64_t seq, std::string entity, std::string op, std::string key,
               json::value data, json::value old_data = nullptr) {
  return qc_test::sample_row<change_row>(seq, std::move(entity), std::move(op), std::move(key),
                                         std::move(data), std::move(old_data));
}

store loaded_store() {
  store s(3);
  json::object queues{{"q", json::object{{"phases", json::array{phase(1, "q", "queued")}},
                                         {"total", 1},
                                         {"paused", false}}}};
  s.load(10, queues, json::object{{"workflows", json::array{}}, {"total", 0}});
  return s;
}

const topic_update* find(const std::vector<topic_update>& updates, const std::string& topic) {
  for (const auto& u : updates) {
    if (u.topic == topic) return &u;
  }
  return nullptr;
}

}  // namespace

TEST(store, load_gives_the_snapshot_documents) {
  store s = loaded_store();
  EXPECT_TRUE(s.has_topic("queue:q"));
  EXPECT_TRUE(s.has_topic("workflows"));
  EXPECT_FALSE(s.has_topic("queue:missing"));
  auto doc = s.document("queue:q");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->at("total").as_int64(), 1);
  EXPECT_EQ(s.topic_seq("queue:q"), 10);
}

TEST(store, insert_update_delete_produce_ops_and_order) {
  store s = loaded_store();
  json::object p2 = phase(2, "q", "queued", 5);
  p2["payload"] = json::object{{"big", "not shown"}};
  auto updates = s.apply({row(11, "phase", "INSERT", "2", p2)});
  const topic_update* u = find(updates, "queue:q");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->seq, 11);
  EXPECT_EQ(u->prev_seq, 10);
  ASSERT_EQ(u->ops.size(), 1u);
  EXPECT_FALSE(u->ops[0].at("phase").as_object().contains("payload"))
      << "payload is not part of the view";
  auto doc = *s.document("queue:q");
  EXPECT_EQ(doc.at("phases").as_array()[0].at("id").as_int64(), 2) << "higher priority first";

  s.apply({row(12, "phase", "UPDATE", "1", json::object{{"id", 1}, {"status", "running"}})});
  doc = *s.document("queue:q");
  EXPECT_EQ(doc.at("phases").as_array()[0].at("status").as_string(), "running") << "running first";

  updates = s.apply({row(13, "phase", "DELETE", "2", json::object{{"id", 2}, {"queue", "q"}})});
  EXPECT_EQ(find(updates, "queue:q")->ops[0].at("op").as_string(), "remove");
  EXPECT_EQ(s.document("queue:q")->at("total").as_int64(), 1);
}

TEST(store, a_row_that_does_not_follow_the_state_seq_is_refused) {
  store s = loaded_store();
  auto first =
      s.apply({row(11, "queue", "UPDATE", "q", json::object{{"name", "q"}, {"paused", true}})});
  EXPECT_EQ(first.size(), 1u);
  EXPECT_THROW(
      s.apply({row(11, "queue", "UPDATE", "q", json::object{{"name", "q"}, {"paused", false}})}),
      state_diverged)
      << "history only grows: a seq seen twice means a history we cannot follow";
  EXPECT_TRUE(s.document("queue:q")->at("paused").as_bool());
  EXPECT_EQ(s.seq(), 11);
}

TEST(store, a_batch_with_one_malformed_row_changes_nothing) {
  store s = loaded_store();
  EXPECT_THROW(s.apply({row(11, "queue", "UPDATE", "q", json::object{{"paused", true}}),
                        row(12, "phase", "UPDATE", "1", json::object{{"status", "hacked"}})}),
               state_diverged);
  EXPECT_FALSE(s.document("queue:q")->at("paused").as_bool());
  EXPECT_EQ(s.seq(), 10);
}

TEST(store, resume_window_and_its_limit) {
  store s = loaded_store();  // window of 3 changes per topic
  for (int i = 0; i < 5; ++i) {
    s.apply({row(11 + i, "phase", "UPDATE", "1", json::object{{"id", 1}, {"priority", i}})});
  }
  auto plan = s.resume("queue:q", 14);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->position, 14);
  EXPECT_EQ(plan->ops.size(), 1u);
  EXPECT_FALSE(s.resume("queue:q", 11))
      << "beyond the window: a fresh snapshot, never a partial replay";
  auto ahead = s.resume("queue:q", 99);
  EXPECT_FALSE(ahead) << "a client ahead of this daemon waits or starts over";
  auto current = s.resume("queue:q", 15);
  ASSERT_TRUE(current);
  EXPECT_TRUE(current->ops.empty());
}

TEST(store, a_load_seq_between_changes_resumes) {
  store s = loaded_store();
  s.apply({row(12, "phase", "UPDATE", "1", json::object{{"id", 1}, {"priority", 1}})});
  s.apply({row(20, "workflow", "INSERT", "5",
               json::object{{"id", 5}, {"queue", "q"}, {"title", "w"}, {"status", "pending"}})});
  auto plan = s.resume("queue:q", 18);  // another daemon loaded at seq 18
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->position, 12);
  EXPECT_TRUE(plan->ops.empty());
}

TEST(store, truncate_resets_and_queue_delete_drops_the_topic) {
  store s = loaded_store();
  auto updates = s.apply({row(11, "phase", "TRUNCATE", "", nullptr)});
  EXPECT_TRUE(find(updates, "queue:q")->reset);
  EXPECT_FALSE(s.resume("queue:q", 10)) << "no resume across a reset";
  updates = s.apply({row(12, "queue", "DELETE", "q", json::object{{"name", "q"}})});
  EXPECT_TRUE(find(updates, "queue:q")->deleted);
  EXPECT_FALSE(s.has_topic("queue:q"));
}

TEST(store, history_that_does_not_fit_is_detected) {
  store s = loaded_store();
  EXPECT_THROW(
      s.apply({row(11, "phase", "UPDATE", "77", json::object{{"id", 77}, {"status", "running"}})}),
      state_diverged);
  store t = loaded_store();
  EXPECT_THROW(t.apply({row(11, "queue", "UPDATE", "r", json::object{{"name", "r"}},
                            json::object{{"name", "q"}})}),
               state_diverged);
}

TEST(store, workflow_topics_follow_their_phases_and_emit_job_events) {
  store s = loaded_store();
  s.apply({row(11, "workflow", "INSERT", "5",
               json::object{{"id", 5},
                            {"queue", "q"},
                            {"title", "w"},
                            {"status", "pending"},
                            {"payload", json::object{}}})});
  EXPECT_TRUE(s.has_topic("workflow:5"));
  auto updates = s.apply({row(12, "phase", "INSERT", "9", phase(9, "q", "queued", 0, 5))});
  ASSERT_NE(find(updates, "workflow:5"), nullptr);
  EXPECT_EQ(find(updates, "workflow:5")->events.at(0).type, "phase_created");
  updates =
      s.apply({row(13, "phase", "UPDATE", "9", json::object{{"id", 9}, {"status", "running"}})});
  EXPECT_EQ(find(updates, "workflow:5")->events.at(0).type, "phase_started");
  auto doc = *s.document("workflow:5");
  EXPECT_EQ(doc.at("workflow").at("title").as_string(), "w");
  EXPECT_EQ(doc.at("phases").as_array().size(), 1u);
  EXPECT_FALSE(doc.at("workflow").as_object().contains("payload"));
}
