// change_problem(): the one check every history row passes before the store
// applies it. A row that passes has the shape the store relies on; anything
// else is named (with its seq) so the daemon reloads instead of applying it.
#include <gtest/gtest.h>

#include "../../common/sample_rows.hpp"
#include "state/change.hpp"

using namespace queuecast;

namespace {

change_row row(std::int64_t seq, std::string entity, std::string op, std::string key,
               json::value data, json::value old_data = nullptr) {
  return qc_test::sample_row<change_row>(seq, std::move(entity), std::move(op), std::move(key),
                                         std::move(data), std::move(old_data), "queue:q");
}

json::object phase_data(std::int64_t id, const char* status = "queued") {
  return {{"id", id}, {"queue", "q"}, {"workflow_id", nullptr}, {"status", status}};
}

// The verdict on `r` after seq 10, with a failure message that shows it.
std::optional<std::string> verdict(const change_row& r) {
  return change_problem(r, 10);
}

void expect_refused(const change_row& r, const std::string& mentions) {
  auto problem = verdict(r);
  ASSERT_TRUE(problem) << "expected a problem mentioning '" << mentions << "', the row passed";
  EXPECT_NE(problem->find("seq " + std::to_string(r.seq)), std::string::npos)
      << "the message names the seq: " << *problem;
  EXPECT_NE(problem->find(mentions), std::string::npos)
      << "expected '" << mentions << "' in: " << *problem;
}

}  // namespace

TEST(change_problem, rows_the_extension_writes_pass) {
  std::vector<change_row> good = {
      row(11, "phase", "INSERT", "7", phase_data(7)),
      row(11, "phase", "UPDATE", "7", json::object{{"id", 7}, {"status", "running"}},
          json::object{{"status", "queued"}}),
      row(11, "phase", "UPDATE", "7", json::object{{"id", 7}, {"queue", "other"}},
          json::object{{"queue", "q"}}),
      row(11, "phase", "DELETE", "7", json::object{{"id", 7}, {"queue", "q"}, {"workflow_id", 3}}),
      row(11, "phase", "TRUNCATE", "", nullptr),
      row(11, "workflow", "INSERT", "3",
          json::object{{"id", 3}, {"queue", "q"}, {"title", "w"}, {"status", "pending"}}),
      row(11, "workflow", "UPDATE", "3", json::object{{"id", 3}, {"status", "paused"}}),
      row(11, "workflow", "DELETE", "3", json::object{{"id", 3}, {"queue", "q"}}),
      row(11, "queue", "INSERT", "q", json::object{{"name", "q"}, {"paused", false}}),
      row(11, "queue", "UPDATE", "q", json::object{{"name", "q"}, {"paused", true}}),
      row(11, "queue", "DELETE", "q.v2-x_1", json::object{{"name", "q.v2-x_1"}}),
      row(11, "queue", "TRUNCATE", "", nullptr),
  };
  for (const change_row& r : good) {
    auto problem = verdict(r);
    EXPECT_FALSE(problem) << r.entity << ' ' << r.op << ": " << problem.value_or("");
  }
  for (const char* status :
       {"queued", "ready", "running", "completed", "failed", "blocked", "cancelled"}) {
    EXPECT_FALSE(verdict(row(11, "phase", "INSERT", "7", phase_data(7, status)))) << status;
  }
  for (const char* status : {"pending", "running", "paused", "completed", "failed", "cancelled"}) {
    EXPECT_FALSE(verdict(row(11, "workflow", "UPDATE", "3", json::object{{"status", status}})))
        << status;
  }
}

TEST(change_problem, seq_must_grow_past_the_state) {
  expect_refused(row(10, "phase", "INSERT", "7", phase_data(7)), "does not follow 10");
  expect_refused(row(3, "phase", "INSERT", "7", phase_data(7)), "does not follow 10");
  expect_refused(row(-1, "phase", "INSERT", "7", phase_data(7)), "does not follow");
  EXPECT_FALSE(change_problem(row(1, "phase", "INSERT", "7", phase_data(7)), 0));
}

TEST(change_problem, unknown_entities_and_ops_are_refused) {
  expect_refused(row(11, "phases", "INSERT", "7", phase_data(7)), "unknown entity");
  expect_refused(row(11, "", "INSERT", "7", phase_data(7)), "unknown entity");
  expect_refused(row(11, "phase", "insert", "7", phase_data(7)), "unknown op");
  expect_refused(row(11, "phase", "UPSERT", "7", phase_data(7)), "unknown op");
}

TEST(change_problem, keys_have_their_entity_shape) {
  for (const char* key : {"", "0", "-3", "+3", "3a", " 3", "1e3", "99999999999999999999"}) {
    expect_refused(row(11, "phase", "UPDATE", key, json::object{{"status", "running"}}),
                   "key is not a positive integer");
    expect_refused(row(11, "workflow", "DELETE", key, nullptr), "key is not a positive integer");
  }
  const std::string too_long(64, 'a');
  for (const std::string name : {"", "-q", "q q", "q/../x", "<img>", too_long.c_str()}) {
    expect_refused(row(11, "queue", "UPDATE", name, json::object{{"paused", true}}),
                   "key is not a queue name");
  }
  expect_refused(row(11, "phase", "TRUNCATE", "7", nullptr), "TRUNCATE has a key");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"id", 8}, {"status", "running"}}),
                 "data.id does not match the key");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"id", "7"}}),
                 "data.id does not match the key");
}

TEST(change_problem, data_and_old_data_are_objects_or_null) {
  expect_refused(row(11, "phase", "INSERT", "7", json::array{1, 2}), "data is neither");
  expect_refused(row(11, "phase", "DELETE", "7", "7"), "data is neither");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"status", "running"}}, 5),
                 "old_data is neither");
  expect_refused(row(11, "phase", "UPDATE", "7", nullptr), "UPDATE without data");
  expect_refused(row(11, "queue", "INSERT", "q", nullptr), "INSERT without data");
  EXPECT_FALSE(verdict(row(11, "phase", "DELETE", "7", nullptr)))
      << "a DELETE needs no data: the store removes by key";
}

TEST(change_problem, statuses_come_from_their_sets) {
  expect_refused(row(11, "phase", "INSERT", "7", phase_data(7, "<img src=x onerror=alert(1)>")),
                 "data.status is not a phase status");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"status", "pending"}}),
                 "data.status is not a phase status");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"status", "running"}},
                     json::object{{"status", "lost"}}),
                 "old_data.status is not a phase status");
  expect_refused(row(11, "workflow", "UPDATE", "3", json::object{{"status", "queued"}}),
                 "data.status is not a workflow status");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"status", 3}}),
                 "data.status is not a string");
  auto message = verdict(row(11, "phase", "INSERT", "7", phase_data(7, "<script>")));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->find("<script>"), std::string::npos)
      << "the reason reaches clients: it must not quote the row: " << *message;
}

TEST(change_problem, fields_the_store_reads_have_their_types) {
  json::object no_status = phase_data(7);
  no_status.erase("status");
  expect_refused(row(11, "phase", "INSERT", "7", no_status), "INSERT without data.status");
  json::object no_queue = phase_data(7);
  no_queue.erase("queue");
  expect_refused(row(11, "phase", "INSERT", "7", no_queue), "INSERT without data.queue");
  json::object no_id = phase_data(7);
  no_id.erase("id");
  expect_refused(row(11, "phase", "INSERT", "7", no_id), "INSERT without data.id");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"queue", 5}}), "data.queue");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"workflow_id", "3"}}),
                 "data.workflow_id");
  expect_refused(row(11, "phase", "UPDATE", "7", json::object{{"workflow_id", -3}}),
                 "data.workflow_id");
  expect_refused(row(11, "queue", "UPDATE", "q", json::object{{"paused", "yes"}}), "data.paused");
  expect_refused(row(11, "queue", "INSERT", "q", json::object{{"name", "q"}}),
                 "INSERT without data.paused");
}
