// The operators' API (docs/protocol.md, "Operators' API") tried from outside
// over real sockets, against a daemon whose actions run as a real
// non-superuser role granted queuecast_operator: an operator's action reaches
// subscribers through the live feed and the history names who acted; viewers,
// other queues' operators, missing or bad tokens, foreign origins, form posts
// and malformed bodies change nothing and get a clear error; a phase's detail
// shows the same timeline as SQL.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "daemon_fixture.hpp"
#include "tokens.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

const std::string db = "queuecast_api";
const std::string secret = "0123456789abcdef0123456789abcdef-api-secret";
const std::string static_token = "static-admin-token-for-api-tests";
const std::string actions_role = "qc_api_actions";  // granted queuecast_operator
const std::string bare_role = "qc_api_bare";        // granted nothing

using header_list = std::vector<std::pair<std::string, std::string>>;

std::string token(const std::string& sub, const std::string& role, json::array topics) {
  return hs256_token(secret, {{"sub", sub}, {"role", role}, {"topics", topics}, {"exp_in", 600}});
}

const std::string operator_token = token("op-alice", "operator", {"queue:act", "queue:batch"});
const std::string viewer_token = token("viewer-bob", "viewer", {"queue:*"});
const std::string other_operator = token("op-eve", "operator", {"queue:other"});

header_list as(const std::string& bearer) {
  return {{"Authorization", "Bearer " + bearer}, {"Content-Type", "application/json"}};
}

std::pair<int, json::object> post(int port, const std::string& path, const header_list& headers,
                                  const std::string& body = {}) {
  auto [status, text] = http_call(port, http::verb::post, path, headers, body);
  json::value doc = json::parse(text);
  return {status, doc.is_object() ? doc.as_object() : json::object{}};
}

std::pair<int, json::object> get(int port, const std::string& path, const std::string& bearer) {
  auto [status, text] = http_get(port, path, {{"Authorization", "Bearer " + bearer}});
  return {status, json::parse(text).as_object()};
}

// A failed phase of `queue` claimed by `worker`; its id.
long long failed_phase(pg_session& s, const std::string& queue, const std::string& worker,
                       const std::string& title, int max_attempts = 3) {
  long long id = s.number("SELECT queuecast.enqueue('" + queue + "', '" + title +
                          "', p_max_attempts => " + std::to_string(max_attempts) + ")");
  // Claims take the highest priority first: make this one the highest.
  s.exec(
      "UPDATE queuecast.phases SET priority = (SELECT max(priority) + 1 FROM "
      "queuecast.phases) WHERE id = " +
      std::to_string(id));
  long long claimed = s.number("SELECT (queuecast.claim('" + queue + "', '" + worker + "')).id");
  EXPECT_EQ(claimed, id);
  s.exec("SELECT queuecast.fail(" + std::to_string(id) + ", 'boom')");
  return id;
}

std::string status_of(pg_session& s, long long id) {
  return s.value("SELECT status FROM queuecast.phases WHERE id = " + std::to_string(id));
}

class api_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    for (const auto& role : {actions_role, bare_role}) {
      s.exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role +
             "') THEN CREATE ROLE " + role + " LOGIN; END IF; END $$");
    }
    s.exec("GRANT queuecast_operator TO " + actions_role);
    for (const auto* q : {"act", "batch", "other"})
      s.exec(std::string("SELECT queuecast.create_queue('") + q + "')");
    daemon_ = new daemon_process(db,
                                 {"--jwt-secret-file", write_test_file("api-secret", secret),
                                  "--token-file", write_test_file("api-token", static_token),
                                  "--actions-database", "dbname=" + db + " user=" + actions_role},
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
daemon_process* api_test::daemon_ = nullptr;

TEST_F(api_test, an_operator_pauses_a_queue_every_subscriber_sees_it_and_history_names_the_actor) {
  ws_client watcher(port(), "/ws", {{"Authorization", "Bearer " + static_token}});
  watcher.send_json({{"type", "subscribe"}, {"topic", "queue:act"}});
  auto first = watcher.read_until("snapshot", "queue:act");
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->at("data").at("paused").as_bool());

  auto [status, body] = post(port(), "/api/v1/queues/act/pause", as(operator_token));
  ASSERT_EQ(status, 200) << json::serialize(body);
  EXPECT_TRUE(body.at("changed").as_bool());
  auto paused = watcher.read_until("snapshot", "queue:act");
  ASSERT_TRUE(paused) << "the action reaches subscribers through the live feed";
  EXPECT_TRUE(paused->at("data").at("paused").as_bool());

  EXPECT_EQ(sql_.value("SELECT role_name || ' / ' || application_name FROM queuecast.changes "
                       "WHERE entity = 'queue' AND key = 'act' ORDER BY seq DESC LIMIT 1"),
            actions_role + " / queuecastd operator op-alice");
  // Pausing a paused queue changes nothing and says so.
  auto again = post(port(), "/api/v1/queues/act/pause", as(operator_token));
  EXPECT_EQ(again.first, 200);
  EXPECT_FALSE(again.second.at("changed").as_bool());
  auto resumed = post(port(), "/api/v1/queues/act/resume", as(operator_token));
  EXPECT_EQ(resumed.first, 200);
  EXPECT_EQ(sql_.value("SELECT paused FROM queuecast.queues WHERE name = 'act'"), "f");
}

TEST_F(api_test, an_operator_retries_and_cancels_a_phase_and_illegal_moves_are_conflicts) {
  long long id = failed_phase(sql_, "act", "w1", "to retry");
  std::string path = "/api/v1/phases/" + std::to_string(id);
  auto [status, body] = post(port(), path + "/retry", as(operator_token));
  ASSERT_EQ(status, 200) << json::serialize(body);
  EXPECT_EQ(body.at("phase").at("status").as_string(), "queued");
  EXPECT_EQ(status_of(sql_, id), "queued");

  auto twice = post(port(), path + "/retry", as(operator_token));
  EXPECT_EQ(twice.first, 409);
  EXPECT_EQ(twice.second.at("error").as_string(), "not_allowed_now");
  EXPECT_NE(std::string(twice.second.at("message").as_string()).find("cannot become queued"),
            std::string::npos)
      << json::serialize(twice.second);

  EXPECT_EQ(post(port(), path + "/cancel", as(operator_token)).first, 200);
  EXPECT_EQ(status_of(sql_, id), "cancelled");
  EXPECT_EQ(post(port(), path + "/cancel", as(operator_token)).first, 409);
}

TEST_F(api_test, unknown_and_malformed_phase_ids_are_not_found) {
  for (const std::string id :
       {"999999999", "0", "-1", "abc", "1e3", "99999999999999999999", "1/x"}) {
    auto [status, body] = post(port(), "/api/v1/phases/" + id + "/retry", as(operator_token));
    EXPECT_EQ(status, 404) << id << " " << json::serialize(body);
  }
  EXPECT_EQ(get(port(), "/api/v1/phases/999999999", operator_token).first, 404);
  EXPECT_EQ(post(port(), "/api/v1/queues/nope/pause", as(static_token)).first, 404)
      << "an unknown queue";
  EXPECT_EQ(post(port(), "/api/v1/queues/act/explode", as(static_token)).first, 404);
}

TEST_F(api_test, a_viewer_sees_no_right_to_act_and_its_posts_change_nothing) {
  auto who = get(port(), "/api/v1/whoami", viewer_token);
  ASSERT_EQ(who.first, 200);
  EXPECT_EQ(who.second.at("role").as_string(), "viewer");
  EXPECT_FALSE(who.second.at("may_act").as_bool());
  EXPECT_TRUE(get(port(), "/api/v1/whoami", operator_token).second.at("may_act").as_bool());

  long long id = failed_phase(sql_, "act", "w1", "viewer may not retry");
  long long seq = sql_.number("SELECT queuecast.current_seq()");
  auto [status, body] = post(port(), "/api/v1/queues/act/pause", as(viewer_token));
  EXPECT_EQ(status, 403);
  EXPECT_EQ(body.at("error").as_string(), "forbidden");
  EXPECT_EQ(post(port(), "/api/v1/phases/" + std::to_string(id) + "/retry", as(viewer_token)).first,
            403);
  EXPECT_EQ(post(port(), "/api/v1/queues/act/phases/retry", as(viewer_token), "{}").first, 403);
  EXPECT_EQ(sql_.number("SELECT queuecast.current_seq()"), seq) << "nothing was written";
  // A viewer reads a phase's detail.
  EXPECT_EQ(get(port(), "/api/v1/phases/" + std::to_string(id), viewer_token).first, 200);
}

TEST_F(api_test, missing_bad_and_expired_tokens_are_refused) {
  header_list json_only = {{"Content-Type", "application/json"}};
  EXPECT_EQ(post(port(), "/api/v1/queues/act/pause", json_only).first, 401);
  EXPECT_EQ(post(port(), "/api/v1/queues/act/pause", as("not-a-token")).first, 401);
  std::string expired = hs256_token(
      secret, {{"sub", "late"}, {"role", "admin"}, {"topics", json::array{"*"}}, {"exp_in", -600}});
  EXPECT_EQ(post(port(), "/api/v1/queues/act/pause", as(expired)).first, 401);
  std::string forged = hs256_token("another-secret-of-32-bytes-or-more!!",
                                   {{"sub", "x"}, {"role", "admin"}, {"exp_in", 600}});
  EXPECT_EQ(post(port(), "/api/v1/queues/act/pause", as(forged)).first, 401);
  EXPECT_EQ(http_get(port(), "/api/v1/phases/1").first, 401);
  EXPECT_EQ(http_get(port(), "/api/v1/whoami").first, 401);
  EXPECT_EQ(sql_.value("SELECT paused FROM queuecast.queues WHERE name = 'act'"), "f");
}

TEST_F(api_test, an_operator_of_another_queue_cannot_see_or_touch_this_one) {
  long long id = failed_phase(sql_, "act", "w1", "not for eve");
  std::string path = "/api/v1/phases/" + std::to_string(id);
  EXPECT_EQ(post(port(), "/api/v1/queues/act/pause", as(other_operator)).first, 403);
  // Its phases do not exist for that token: the same answer as an unknown id.
  EXPECT_EQ(post(port(), path + "/retry", as(other_operator)).first, 404);
  EXPECT_EQ(post(port(), path + "/cancel", as(other_operator)).first, 404);
  EXPECT_EQ(get(port(), path, other_operator).first, 404);
  EXPECT_EQ(post(port(), "/api/v1/queues/act/phases/cancel", as(other_operator), "{}").first, 403);
  EXPECT_EQ(status_of(sql_, id), "failed");
  EXPECT_EQ(sql_.value("SELECT paused FROM queuecast.queues WHERE name = 'act'"), "f");
}

TEST_F(api_test, browsers_cannot_be_used_to_forge_an_action) {
  // Another site's page: its Origin is refused even with a valid token.
  header_list foreign = as(static_token);
  foreign.push_back({"Origin", "http://evil.example"});
  auto [status, body] = post(port(), "/api/v1/queues/act/pause", foreign);
  EXPECT_EQ(status, 403) << json::serialize(body);
  // What an HTML form can send without a preflight: no JSON content type.
  for (const std::string type :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    auto form = post(port(), "/api/v1/queues/act/pause",
                     {{"Authorization", "Bearer " + static_token}, {"Content-Type", type}}, "a=b");
    EXPECT_EQ(form.first, 415) << type;
  }
  // A preflight is never granted, and an action is never a GET.
  auto preflight = http_call(port(), http::verb::options, "/api/v1/queues/act/pause",
                             {{"Origin", "http://evil.example"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "authorization,content-type"}});
  EXPECT_GE(preflight.first, 400);
  EXPECT_EQ(
      http_get(port(), "/api/v1/queues/act/pause", {{"Authorization", "Bearer " + static_token}})
          .first,
      405);
  EXPECT_EQ(sql_.value("SELECT paused FROM queuecast.queues WHERE name = 'act'"), "f");
}

TEST_F(api_test, malformed_filters_get_a_clear_error_and_hostile_text_is_only_text) {
  const std::string path = "/api/v1/queues/batch/phases/retry";
  for (const std::string& body : std::vector<std::string>{
           "not json", "[1]", R"({"status":"bogus"})", R"({"limit":0})", R"({"limit":100000})",
           R"({"workflow_id":"7"})", R"({"worker":5})", R"({"unknown":1})",
           R"({"text":")" + std::string(300, 'x') + R"("})"}) {
    auto [status, reply] = post(port(), path, as(operator_token), body);
    EXPECT_EQ(status, 400) << body;
    EXPECT_EQ(reply.at("error").as_string(), "bad_request") << body;
  }
  auto [status, reply] =
      post(port(), path, as(operator_token), R"({"text":"'; DROP TABLE queuecast.phases; --"})");
  EXPECT_EQ(status, 200) << json::serialize(reply);
  EXPECT_EQ(reply.at("matched").as_int64(), 0);
  EXPECT_GE(sql_.number("SELECT count(*) FROM queuecast.phases"), 0) << "the table is still there";
}

TEST_F(api_test, retry_matching_retries_what_the_filter_matches_and_reports_what_it_cannot) {
  long long w1_ok = failed_phase(sql_, "batch", "w1", "report a");
  long long w1_used_up = failed_phase(sql_, "batch", "w1", "report b", 1);
  long long w2 = failed_phase(sql_, "batch", "w2", "report c");
  long long w1_other_text = failed_phase(sql_, "batch", "w1", "invoice d");
  auto [status, reply] = post(port(), "/api/v1/queues/batch/phases/retry", as(operator_token),
                              R"({"status":"failed","worker":"w1","text":"REPORT"})");
  ASSERT_EQ(status, 200) << json::serialize(reply);
  EXPECT_EQ(reply.at("matched").as_int64(), 2);
  EXPECT_EQ(json::serialize(reply.at("done")), "[" + std::to_string(w1_ok) + "]");
  ASSERT_EQ(reply.at("refused").as_array().size(), 1u);
  EXPECT_EQ(reply.at("refused").as_array()[0].at("id").as_int64(), w1_used_up);
  EXPECT_NE(std::string(reply.at("refused").as_array()[0].at("error").as_string()).find("attempts"),
            std::string::npos);
  EXPECT_EQ(status_of(sql_, w1_ok), "queued");
  EXPECT_EQ(status_of(sql_, w1_used_up), "failed");
  EXPECT_EQ(status_of(sql_, w2), "failed");
  EXPECT_EQ(status_of(sql_, w1_other_text), "failed");

  auto cancelled = post(port(), "/api/v1/queues/batch/phases/cancel", as(operator_token),
                        R"({"status":"failed"})");
  ASSERT_EQ(cancelled.first, 200);
  EXPECT_EQ(cancelled.second.at("matched").as_int64(), 3);
  EXPECT_EQ(sql_.number("SELECT count(*) FROM queuecast.phases WHERE queue = 'batch' AND status = "
                        "'failed'"),
            0);
}

TEST_F(api_test, a_phase_detail_shows_the_timeline_sql_shows) {
  long long id = failed_phase(sql_, "act", "w-detail", "detailed");
  sql_.exec("SELECT queuecast.retry(" + std::to_string(id) + ")");
  sql_.exec(
      "UPDATE queuecast.phases SET priority = (SELECT max(priority) + 1 FROM "
      "queuecast.phases) WHERE id = " +
      std::to_string(id));
  sql_.exec("SELECT queuecast.claim('act', 'w-detail-2')");
  sql_.exec("SELECT queuecast.complete(" + std::to_string(id) + ")");
  auto [status, detail] = get(port(), "/api/v1/phases/" + std::to_string(id), viewer_token);
  ASSERT_EQ(status, 200) << json::serialize(detail);
  EXPECT_EQ(detail.at("phase").at("id").as_int64(), id);
  EXPECT_EQ(detail.at("phase").at("status").as_string(), "completed");
  auto expected = sql_.column("SELECT seq || ' ' || status FROM queuecast.phase_timeline(" +
                              std::to_string(id) + ") ORDER BY seq");
  const auto& timeline = detail.at("timeline").as_array();
  ASSERT_EQ(timeline.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(std::to_string(timeline[i].at("seq").as_int64()) + " " +
                  std::string(timeline[i].at("status").as_string()),
              *expected[i]);
  }
  // What the scenario made, independent of the SQL function the daemon
  // calls: the comparison above alone would pass with any function.
  std::string statuses;
  for (const auto& t : timeline) statuses += std::string(t.at("status").as_string()) + " ";
  EXPECT_EQ(statuses, "queued running failed queued running completed ");
  EXPECT_EQ(json::serialize(timeline[1].at("worker")), "\"w-detail\"");
  EXPECT_EQ(json::serialize(timeline.back().at("worker")), "\"w-detail-2\"");
  EXPECT_TRUE(timeline.back().at("left_at").is_null()) << "the last status is still open";
}

TEST(api_setup, without_an_actions_database_the_daemon_only_reads) {
  const std::string plain_db = "queuecast_api_plain";
  create_database(plain_db);
  pg_session s(conninfo(plain_db));
  s.exec("SELECT queuecast.create_queue('q')");
  daemon_process d(plain_db, {"--token", static_token}, static_token);
  auto [status, body] = post(d.port(), "/api/v1/queues/q/pause", as(static_token));
  EXPECT_EQ(status, 403);
  EXPECT_EQ(body.at("error").as_string(), "actions_disabled");
  EXPECT_FALSE(get(d.port(), "/api/v1/whoami", static_token).second.at("may_act").as_bool());
  EXPECT_EQ(s.value("SELECT paused FROM queuecast.queues WHERE name = 'q'"), "f");
}

TEST(api_setup, an_actions_role_without_the_grant_is_named_in_the_error) {
  const std::string plain_db = "queuecast_api_bare";
  create_database(plain_db);
  pg_session s(conninfo(plain_db));
  s.exec("SELECT queuecast.create_queue('q')");
  s.exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + bare_role +
         "') THEN CREATE ROLE " + bare_role + " LOGIN; END IF; END $$");
  daemon_process d(
      plain_db,
      {"--token", static_token, "--actions-database", "dbname=" + plain_db + " user=" + bare_role},
      static_token);
  auto [status, body] = post(d.port(), "/api/v1/queues/q/pause", as(static_token));
  EXPECT_EQ(status, 403) << json::serialize(body);
  EXPECT_EQ(body.at("error").as_string(), "daemon_not_permitted");
  EXPECT_EQ(s.value("SELECT paused FROM queuecast.queues WHERE name = 'q'"), "f");
}

}  // namespace

namespace {

TEST_F(api_test, stats_count_what_sql_counts_and_refuse_what_they_must) {
  sql_.exec("SELECT queuecast.create_queue('stats')");
  for (int i = 0; i < 6; ++i) failed_phase(sql_, "stats", "w", "stat " + std::to_string(i));
  sql_.exec("SELECT queuecast.enqueue('stats', 'waiting')");
  auto [status, stats] = get(port(), "/api/v1/queues/stats/stats?minutes=30", viewer_token);
  ASSERT_EQ(status, 200);
  const auto& buckets = stats.at("buckets").as_array();
  EXPECT_GE(buckets.size(), 30u);
  std::int64_t failed = 0;
  for (const auto& b : buckets) failed += b.at("failed").as_int64();
  EXPECT_EQ(failed, sql_.number("SELECT count(*) FROM queuecast.phases WHERE queue = 'stats' AND "
                                "status = 'failed'"));
  EXPECT_EQ(buckets.back().at("depth").as_int64(),
            sql_.number("SELECT count(*) FROM queuecast.phases WHERE queue = 'stats' AND status "
                        "IN ('queued', 'ready')"));
  EXPECT_EQ(stats.at("wait_ms").at("count").as_int64(), 6);
  // Asked again at once, by another caller: the same answer, not a second
  // statement (its window would start later).
  auto again = get(port(), "/api/v1/queues/stats/stats?minutes=30", static_token);
  EXPECT_EQ(again.second.at("since"), stats.at("since"));
  // The kept answer is given only to callers the queue's grant admits.
  EXPECT_EQ(get(port(), "/api/v1/queues/stats/stats?minutes=30", other_operator).first, 403);
  EXPECT_EQ(http_get(port(), "/api/v1/queues/stats/stats?minutes=30").first, 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  auto later = get(port(), "/api/v1/queues/stats/stats?minutes=30", viewer_token);
  EXPECT_NE(later.second.at("since"), stats.at("since")) << "answers are kept 2 s, no longer";
  EXPECT_EQ(get(port(), "/api/v1/queues/stats/stats", other_operator).first, 403);
  EXPECT_EQ(get(port(), "/api/v1/queues/none/stats", static_token).first, 404);
  for (const std::string bad :
       {"?minutes=1", "?minutes=2000", "?minutes=x", "?hours=1", "?minutes=60&x=1"})
    EXPECT_EQ(get(port(), "/api/v1/queues/stats/stats" + bad, static_token).first, 400) << bad;
  EXPECT_EQ(http_get(port(), "/api/v1/queues/stats/stats").first, 401);
}

}  // namespace

namespace {

// The detail reads the history from the phase's creation on: an earlier
// phase that had the same id (ids restart after TRUNCATE ... RESTART
// IDENTITY) is not part of its timeline.
TEST(api_setup, a_detail_shows_only_its_own_phase_when_an_id_was_used_before) {
  const std::string plain_db = "queuecast_api_reuse";
  create_database(plain_db);
  pg_session s(conninfo(plain_db));
  s.exec("SELECT queuecast.create_queue('q')");
  long long old_id = s.number("SELECT queuecast.enqueue('q', 'first of its id')");
  s.exec("SELECT queuecast.claim('q', 'old-worker')");
  s.exec("SELECT queuecast.fail(" + std::to_string(old_id) + ", 'gone')");
  s.exec("TRUNCATE queuecast.phases RESTART IDENTITY CASCADE");
  long long new_id = s.number("SELECT queuecast.enqueue('q', 'second of its id')");
  ASSERT_EQ(new_id, old_id);
  daemon_process d(plain_db, {"--token", static_token}, static_token);
  auto [status, detail] = get(d.port(), "/api/v1/phases/" + std::to_string(new_id), static_token);
  ASSERT_EQ(status, 200) << json::serialize(detail);
  const auto& timeline = detail.at("timeline").as_array();
  ASSERT_EQ(timeline.size(), 1u) << json::serialize(timeline);
  EXPECT_EQ(timeline[0].at("status").as_string(), "queued");
  EXPECT_TRUE(timeline[0].at("worker").is_null());
}

}  // namespace
