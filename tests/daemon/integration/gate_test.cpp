// One gate for every route, tried from outside as a real client over real
// sockets: no credentials, expired, wrongly signed and alg:none tokens are
// refused everywhere; a token for queue:a reads queue:a and nothing else by
// any endpoint; a refreshed token keeps a connection and its seq chain; a
// foreign Origin and a rebound Host are refused; hostile input leaks nothing.
#include <gtest/gtest.h>

#include <thread>

#include "daemon_fixture.hpp"
#include "tokens.hpp"
#include "ws_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;

const std::string db = "queuecast_gate";
const std::string secret = "0123456789abcdef0123456789abcdef-test-secret";
const std::string static_token = "static-admin-token-for-tests";

using headers = ws_client::header_list;

headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

std::string token_for(json::object claims) {
  return hs256_token(secret, std::move(claims));
}

std::string viewer_of_a() {
  return token_for({{"sub", "alice"}, {"topics", json::array{"queue:a"}}, {"exp_in", 300}});
}

class gate_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    s.exec("SELECT queuecast.create_queue('a')");
    s.exec("SELECT queuecast.create_queue('b')");
    s.exec("SELECT queuecast.enqueue('a', 'in a')");
    s.exec("SELECT queuecast.enqueue('b', 'secret of b')");
    daemon_ = new daemon_process(
        db,
        {"--jwt-secret-file", write_test_file("gate-secret", secret), "--token-file",
         write_test_file("gate-token", static_token), "--auth-timeout", "2"},
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
daemon_process* gate_test::daemon_ = nullptr;

const std::vector<std::string> data_routes = {
    "/api/v1/queues", "/api/v1/queues/a", "/api/v1/workflows", "/metrics", "/healthz", "/readyz"};
const std::vector<std::string> compat_routes = {"/api/v1/ws/queue?queue=a", "/ws/queue?queue=a",
                                                "/ws/workflow?id=1", "/api/ws/jobs?queue=a",
                                                "/ws/jobs?queue=a"};

TEST_F(gate_test, every_data_route_refuses_a_request_without_credentials) {
  for (const auto& route : data_routes) EXPECT_EQ(http_get(port(), route).first, 401) << route;
  for (const auto& route : compat_routes)
    EXPECT_EQ(ws_client::try_upgrade(port(), route), 401) << route;
}

TEST_F(gate_test, expired_wrongly_signed_and_unsigned_tokens_are_refused_everywhere) {
  json::object claims{{"sub", "mallory"}, {"topics", json::array{"*"}}, {"exp_in", 300}};
  json::object expired = claims;
  expired["exp_in"] = -3600;
  std::map<std::string, std::string> bad = {
      {"expired", token_for(expired)},
      {"wrong signature", hs256_token("another-secret-of-32-bytes-or-more!!", claims)},
      {"alg none", hs256_token(secret, claims, "none")},
      {"no exp", token_for({{"sub", "x"}, {"topics", json::array{"*"}}})},
      {"garbage", "not.a.token"},
  };
  for (const auto& [what, token] : bad) {
    for (const auto& route : data_routes)
      EXPECT_EQ(http_get(port(), route, bearer(token)).first, 401) << what << " " << route;
    for (const auto& route : compat_routes)
      EXPECT_EQ(
          ws_client::try_upgrade(port(), route, {{"Sec-WebSocket-Protocol", "token." + token}}),
          401)
          << what << " " << route;
    ws_client client(port());
    client.read_until("welcome");
    client.send_json({{"type", "hello"}, {"token", token}});
    EXPECT_FALSE(client.read_json()) << what;
    EXPECT_EQ(client.close_code(), 1008) << what;
  }
}

TEST_F(gate_test, a_token_for_queue_a_cannot_read_queue_b_by_any_endpoint) {
  std::string token = viewer_of_a();
  EXPECT_EQ(http_get(port(), "/api/v1/queues/a", bearer(token)).first, 200);
  EXPECT_EQ(http_get(port(), "/api/v1/queues/b", bearer(token)).first, 403);
  EXPECT_EQ(http_get(port(), "/api/v1/workflows", bearer(token)).first, 403);
  EXPECT_EQ(http_get(port(), "/metrics", bearer(token)).first, 403) << "metrics need role admin";
  auto list = json::parse(http_get(port(), "/api/v1/queues", bearer(token)).second).as_object();
  EXPECT_EQ(list.at("queues").as_array(), (json::array{"a"})) << "only the queues it may read";
  headers sub = {{"Sec-WebSocket-Protocol", "token." + token}};
  EXPECT_EQ(ws_client::try_upgrade(port(), "/api/v1/ws/queue?queue=a", sub), 101);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/api/v1/ws/queue?queue=b", sub), 403);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/ws/queue?queue=b", bearer(token)), 403);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/ws/workflow?id=1", sub), 403);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/api/ws/jobs?queue=a", sub), 101);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/api/ws/jobs?queue=b", sub), 403);
  EXPECT_EQ(ws_client::try_upgrade(port(), "/api/ws/jobs", sub), 403) << "queue `default`";

  ws_client client(port());
  client.read_until("welcome");
  client.send_json({{"type", "hello"}, {"token", token}});
  client.send_json({{"type", "subscribe"}, {"topic", "queue:b"}});
  auto refused = client.read_json();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->at("type").as_string(), "error");
  EXPECT_EQ(refused->at("code").as_string(), "forbidden");
  client.send_json({{"type", "subscribe"}, {"topic", "workflows"}});
  auto refused_workflows = client.read_json();
  ASSERT_TRUE(refused_workflows);
  EXPECT_EQ(refused_workflows->at("code").as_string(), "forbidden");
  client.send_json({{"type", "subscribe"}, {"topic", "queue:a"}});
  auto subscribed = client.read_json();
  ASSERT_TRUE(subscribed);
  EXPECT_EQ(subscribed->at("type").as_string(), "subscribed");
  auto snapshot = client.read_until("snapshot", "queue:a");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(json::serialize(*snapshot).find("secret of b"), std::string::npos);
}

TEST_F(gate_test, a_token_without_topics_reads_nothing) {
  std::string token = token_for({{"sub", "nobody"}, {"exp_in", 300}});
  EXPECT_EQ(http_get(port(), "/api/v1/queues/a", bearer(token)).first, 403);
  auto list = json::parse(http_get(port(), "/api/v1/queues", bearer(token)).second).as_object();
  EXPECT_TRUE(list.at("queues").as_array().empty());
}

TEST_F(gate_test, the_static_token_reads_everything_and_the_page_needs_no_token) {
  EXPECT_EQ(http_get(port(), "/metrics", bearer(static_token)).first, 200);
  EXPECT_EQ(http_get(port(), "/api/v1/queues/b", bearer(static_token)).first, 200);
  EXPECT_EQ(http_get(port(), "/api/v1/queues/a", bearer(static_token + "x")).first, 401);
  auto page = http_get(port(), "/");
  EXPECT_EQ(page.first, 200) << "the dashboard page itself holds no data";
  EXPECT_EQ(page.second.find("secret of b"), std::string::npos);
}

TEST_F(gate_test, an_unauthenticated_websocket_is_closed_after_the_deadline) {
  ws_client silent(port());
  silent.read_until("welcome");
  silent.set_timeout(5000ms);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(silent.read_json());
  EXPECT_EQ(silent.close_code(), 1008);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s) << "--auth-timeout 2";

  ws_client eager(port());
  eager.read_until("welcome");
  eager.send_json({{"type", "subscribe"}, {"topic", "queue:a"}});
  EXPECT_FALSE(eager.read_json());
  EXPECT_EQ(eager.close_code(), 1008) << "a request before hello ends the connection";
}

TEST_F(gate_test, an_expired_connection_is_closed_with_4401) {
  ws_client client(port());
  client.read_until("welcome");
  client.send_json({{"type", "hello"},
                    {"token", token_for({{"topics", json::array{"queue:a"}}, {"exp_in", 2}})}});
  client.send_json({{"type", "ping"}});
  ASSERT_TRUE(client.read_until("pong"));
  client.set_timeout(6000ms);
  EXPECT_FALSE(client.read_until("never"));
  EXPECT_EQ(client.close_code(), 4401);
}

TEST_F(gate_test, refresh_keeps_the_connection_and_its_seq_chain) {
  ws_client client(port());
  client.read_until("welcome");
  client.send_json({{"type", "hello"},
                    {"token", token_for({{"topics", json::array{"queue:a"}}, {"exp_in", 3}})}});
  client.send_json({{"type", "subscribe"}, {"topic", "queue:a"}, {"mode", "delta"}});
  auto subscribed = client.read_until("subscribed");
  ASSERT_TRUE(subscribed);
  std::int64_t seq = subscribed->at("seq").as_int64();
  auto expect_next_delta = [&] {
    auto delta = client.read_until("delta", "queue:a");
    ASSERT_TRUE(delta) << "closed with " << client.close_code();
    EXPECT_EQ(delta->at("prev_seq").as_int64(), seq) << "no gap in the chain";
    seq = delta->at("seq").as_int64();
  };
  sql_.exec("SELECT queuecast.enqueue('a', 'before refresh')");
  expect_next_delta();
  client.send_json({{"type", "auth"},
                    {"token", token_for({{"topics", json::array{"queue:a"}}, {"exp_in", 300}})}});
  ASSERT_TRUE(client.read_until("authenticated"));
  std::this_thread::sleep_for(3500ms);  // past the first token's expiry
  sql_.exec("SELECT queuecast.enqueue('a', 'after the first token expired')");
  expect_next_delta();
  EXPECT_TRUE(client.is_open());
}

TEST_F(gate_test, a_refresh_that_grants_less_ends_the_subscriptions_it_does_not_cover) {
  ws_client client(port());
  client.read_until("welcome");
  client.send_json({{"type", "hello"}, {"token", static_token}});
  client.send_json({{"type", "subscribe"}, {"topic", "queue:b"}});
  ASSERT_TRUE(client.read_until("subscribed", "queue:b"));
  client.send_json({{"type", "auth"}, {"token", viewer_of_a()}});
  auto error = client.read_until("error");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->at("code").as_string(), "forbidden");
  ASSERT_TRUE(client.read_until("unsubscribed", "queue:b"));
}

TEST_F(gate_test, a_foreign_origin_and_a_rebound_host_are_refused) {
  std::string own = "http://127.0.0.1:" + std::to_string(port());
  headers token = {{"Sec-WebSocket-Protocol", "token." + static_token}};
  auto with = [&](headers h, std::pair<std::string, std::string> extra) {
    h.push_back(std::move(extra));
    return h;
  };
  EXPECT_EQ(ws_client::try_upgrade(port(), "/ws", with(token, {"Origin", "http://evil.example"})),
            403)
      << "cross-site WebSocket hijacking";
  // A browser sends the port in Host, so its own origin matches.
  EXPECT_EQ(ws_client::try_upgrade(port(), "/ws",
                                   with(with(token, {"Origin", own}),
                                        {"Host", "127.0.0.1:" + std::to_string(port())})),
            101);
  EXPECT_EQ(http_get(port(), "/api/v1/queues/a",
                     with(bearer(static_token), {"Origin", "http://evil.example"}))
                .first,
            403);
  EXPECT_EQ(http_get(port(), "/", {{"Host", "evil.example:" + std::to_string(port())}}).first, 403)
      << "DNS rebinding to a loopback daemon";
  EXPECT_EQ(http_get(port(), "/", {{"Host", "localhost:" + std::to_string(port())}}).first, 200);

  daemon_process open_to(db, {"--token", static_token, "--allowed-origins", "http://evil.example"},
                         static_token);
  EXPECT_EQ(
      ws_client::try_upgrade(open_to.port(), "/ws", with(token, {"Origin", "http://evil.example"})),
      101)
      << "allowed when configured";
  EXPECT_EQ(ws_client::try_upgrade(open_to.port(), "/ws",
                                   with(token, {"Origin", "http://other.example"})),
            403);
}

TEST_F(gate_test, security_headers_on_every_response) {
  namespace http = boost::beast::http;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())});
  http::request<http::empty_body> req(http::verb::get, "/", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_NE(std::string(res["Content-Security-Policy"]).find("script-src 'self'"),
            std::string::npos);
  EXPECT_NE(std::string(res["Content-Security-Policy"]).find("frame-ancestors 'none'"),
            std::string::npos);
  EXPECT_EQ(std::string(res["X-Content-Type-Options"]), "nosniff");
}

TEST_F(gate_test, a_since_beyond_int64_is_a_client_error_and_the_connection_goes_on) {
  ws_client client(port());
  client.read_until("welcome");
  client.send_json({{"type", "hello"}, {"token", static_token}});
  client.send_text(R"({"type":"subscribe","topic":"queue:a","since":9223372036854775808})");
  auto error = client.read_json();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->at("code").as_string(), "bad_request");
  client.send_text(R"({"type":"subscribe","topic":"queue:a","since":18446744073709551615})");
  auto beyond_uint64 = client.read_json();
  ASSERT_TRUE(beyond_uint64);
  EXPECT_EQ(beyond_uint64->at("code").as_string(), "bad_request");
  client.send_json({{"type", "ping"}});
  EXPECT_TRUE(client.read_until("pong"));
}

}  // namespace

namespace {

TEST_F(gate_test, admin_listen_serves_health_and_metrics_only_and_takes_them_off_the_main_port) {
  int admin_port = free_port();
  daemon_process d(
      db, {"--token", static_token, "--admin-listen", "127.0.0.1:" + std::to_string(admin_port)},
      static_token);
  for (const char* route : {"/healthz", "/readyz", "/metrics"}) {
    EXPECT_EQ(http_get(admin_port, route).first, 200) << route << " without credentials there";
    EXPECT_EQ(http_get(d.port(), route, bearer(static_token)).first, 404) << route << " moved";
  }
  EXPECT_EQ(http_get(admin_port, "/api/v1/queues/a").first, 404) << "no data on the admin port";
  EXPECT_EQ(http_get(admin_port, "/").first, 404);
  EXPECT_EQ(ws_client::try_upgrade(admin_port, "/api/v1/ws/queue?queue=a"), 404);
  EXPECT_EQ(http_get(d.port(), "/api/v1/queues/a", bearer(static_token)).first, 200);
}

}  // namespace
