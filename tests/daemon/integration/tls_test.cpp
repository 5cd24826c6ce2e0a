// Native TLS end to end, against the real daemon with a certificate made at
// run time: HTTPS snapshots equal SQL, wss:// delivers commits, the gate
// sees https:// origins, plain HTTP gets nothing, hostile handshakes neither
// block nor leak, a bad certificate stops startup with the file's name, and
// SIGHUP swaps the certificate for new connections only.
#include <gtest/gtest.h>

#include <future>

#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_fixture.hpp"
#include "tls_client.hpp"

namespace {

using namespace qc_test;
using namespace std::chrono_literals;

const std::string db = "queuecast_tls";

std::string test_file(const std::string& name) {
  return std::string(std::getenv("QUEUECAST_TEST_LOGS") ? std::getenv("QUEUECAST_TEST_LOGS")
                                                        : "/tmp") +
         "/tls-" + std::to_string(::getpid()) + "-" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

json::object snapshot_fields(const json::object& doc) {
  return {{"phases", doc.at("phases")}, {"total", doc.at("total")}, {"paused", doc.at("paused")}};
}

// A daemon serving TLS on port() and plain readiness on --admin-listen.
struct tls_daemon {
  explicit tls_daemon(std::vector<std::string> extra = {})
      : cert(test_file(std::to_string(free_port()) + "-cert.pem")),
        key(test_file(std::to_string(free_port()) + "-key.pem")),
        fingerprint(make_certificate(cert, key)),
        admin_port(free_port()) {
    std::vector<std::string> args = {"--tls-cert",     cert,
                                     "--tls-key",      key,
                                     "--admin-listen", "127.0.0.1:" + std::to_string(admin_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    process = std::make_unique<daemon_process>(db, args, "", admin_port);
  }
  int port() const { return process->port(); }
  std::string cert, key, fingerprint;
  int admin_port;
  std::unique_ptr<daemon_process> process;
};

class tls_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    create_database(db);
    pg_session s(conninfo(db));
    s.exec("SELECT queuecast.create_queue('q')");
    s.exec("SELECT queuecast.enqueue('q', 'first')");
    s.exec("SELECT queuecast.enqueue('q', 'second')");
  }
  pg_session sql_{conninfo(db)};
};

TEST_F(tls_test, https_snapshot_verified_against_the_certificate_equals_sql) {
  tls_daemon daemon;
  ASSERT_TRUE(caught_up(daemon.admin_port, sql_));
  auto reply = https_get(daemon.port(), "/api/v1/queues/q", daemon.cert);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.fingerprint, daemon.fingerprint);
  auto expected = json::parse(sql_.value("SELECT queuecast.snapshot('q')")).as_object();
  EXPECT_EQ(snapshot_fields(json::parse(reply.body).as_object()), snapshot_fields(expected));
}

TEST_F(tls_test, wss_client_receives_a_commit_made_after_subscribing) {
  tls_daemon daemon;
  auto tls = client_context(daemon.cert);
  wss_client client(daemon.port(), *tls);
  client.send_json({{"type", "subscribe"}, {"topic", "queue:q"}, {"mode", "delta"}});
  ASSERT_TRUE(client.read_until("snapshot")) << "no snapshot over wss://";
  sql_.exec("SELECT queuecast.enqueue('q', 'over tls')");
  auto delta = client.read_until("delta");
  ASSERT_TRUE(delta) << "the commit did not arrive over wss://";
  EXPECT_EQ(delta->at("ops").as_array()[0].at("phase").at("title").as_string(), "over tls");
}

// The gate's same-origin check must know the connection is TLS.
TEST_F(tls_test, same_origin_check_expects_https) {
  tls_daemon daemon;
  auto tls = client_context(daemon.cert);
  std::string host = "127.0.0.1";  // the Host the client sends
  EXPECT_EQ(wss_client::upgrade_status(daemon.port(), *tls, "/ws", "https://" + host), 101);
  EXPECT_EQ(wss_client::upgrade_status(daemon.port(), *tls, "/ws", "http://" + host), 403);
}

TEST_F(tls_test, plain_http_to_the_tls_port_gets_no_answer) {
  tls_daemon daemon;
  auto outcome = raw_exchange(daemon.port(), "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 5s);
  EXPECT_EQ(outcome.received, "") << "a plain request was answered";
  EXPECT_NE(outcome.ended, asio::error::timed_out) << "the connection was kept open";
}

TEST_F(tls_test, a_certificate_that_does_not_load_stops_startup_naming_the_file) {
  std::string cert = test_file("startup-cert.pem"), key = test_file("startup-key.pem");
  std::string other_cert = test_file("startup-other-cert.pem");
  std::string other_key = test_file("startup-other-key.pem");
  make_certificate(cert, key);
  make_certificate(other_cert, other_key);
  std::string not_pem = test_file("startup-not-pem");
  std::ofstream(not_pem) << "not a certificate\n";
  const char* binary = std::getenv("QUEUECASTD") ? std::getenv("QUEUECASTD") : "build/queuecastd";
  auto start = [&](const std::string& c, const std::string& k) {
    std::string output = test_file("startup-output");
    std::string command = std::string(binary) + " --database dbname=" + db +
                          " --listen 127.0.0.1:" + std::to_string(free_port()) + " --tls-cert " +
                          c + " --tls-key " + k + " 2>" + output + " & pid=$!; " +
                          "(sleep 10; kill $pid 2>/dev/null) & wait $pid";
    int status = std::system(command.c_str());
    return std::pair{WEXITSTATUS(status), read_file(output)};
  };
  auto [mismatch_status, mismatch] = start(cert, other_key);
  EXPECT_EQ(mismatch_status, 2) << mismatch;
  EXPECT_NE(mismatch.find("does not match"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find(other_key), std::string::npos) << mismatch;
  auto [bad_cert_status, bad_cert] = start(not_pem, key);
  EXPECT_EQ(bad_cert_status, 2) << bad_cert;
  EXPECT_NE(bad_cert.find("--tls-cert '" + not_pem + "'"), std::string::npos) << bad_cert;
  auto [bad_key_status, bad_key] = start(cert, not_pem);
  EXPECT_EQ(bad_key_status, 2) << bad_key;
  EXPECT_NE(bad_key.find("--tls-key '" + not_pem + "'"), std::string::npos) << bad_key;
}

// Garbage instead of a ClientHello is dropped at once; a stalled handshake
// is dropped after the handshake timeout (10 s); neither blocks an honest
// client meanwhile, and neither keeps its per-address slot.
TEST_F(tls_test, hostile_handshakes_neither_block_nor_leak) {
  constexpr int per_ip = 4;
  tls_daemon daemon({"--max-connections-per-ip", std::to_string(per_ip)});
  // The admin listener shares the per-address limit: metrics are asked
  // from 127.0.0.2, so they never take one of 127.0.0.1's slots.
  auto client_errors = [&] {
    std::string metrics = http_get(daemon.admin_port, "/metrics", {}, "127.0.0.2").second;
    auto at = metrics.find("\nqueuecast_client_errors_total ");
    return at == std::string::npos ? -1 : std::stol(metrics.substr(metrics.find(' ', at + 1)));
  };
  long errors_at_start = client_errors();
  // Twice as many as one address may hold: if failed handshakes kept their
  // slots, the honest clients below would be refused.
  for (int i = 0; i < 2 * per_ip; ++i) {
    auto garbage = raw_exchange(daemon.port(), std::string(300, '\x07') + "not tls", 3s);
    ASSERT_NE(garbage.ended, asio::error::timed_out) << "garbage kept its connection open";
  }

  // A TLS record header announcing 512 bytes of ClientHello, then silence.
  std::optional<raw_outcome> stalled;
  std::promise<void> staller_sent;
  std::jthread staller([&] {  // joined however the test ends
    stalled = raw_exchange(daemon.port(), std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8), 15s,
                           [&] { staller_sent.set_value(); });
  });
  // The staller is connected before the honest clients, so the daemon
  // (accepting in order) holds its stalled handshake while serving them.
  ASSERT_EQ(staller_sent.get_future().wait_for(5s), std::future_status::ready)
      << "the stalling client could not connect";
  // Every slot but the staller's is free: per_ip - 1 honest clients at once,
  // each served while the staller waits.
  auto started = std::chrono::steady_clock::now();
  auto tls = client_context(daemon.cert);
  std::vector<std::unique_ptr<wss_client>> honest;
  for (int i = 0; i < per_ip - 1; ++i)
    ASSERT_NO_THROW(honest.push_back(std::make_unique<wss_client>(daemon.port(), *tls)))
        << "honest client " << i << " refused: failed handshakes kept their slots";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "the stalled client delayed others";
  honest[0]->send_json({{"type", "subscribe"}, {"topic", "queue:q"}});
  EXPECT_TRUE(honest[0]->read_until("snapshot")) << "an honest client got no snapshot";
  staller.join();
  ASSERT_TRUE(stalled);
  EXPECT_NE(stalled->ended, asio::error::timed_out) << "the stalled handshake was never dropped";
  EXPECT_GE(stalled->after, 9s) << "dropped before the handshake timeout";
  EXPECT_EQ(stalled->received, "");
  honest.clear();
  EXPECT_EQ(client_errors(), errors_at_start + 2 * per_ip + 1)
      << "failed and timed-out handshakes are client errors";
}

// SIGHUP: a bad file keeps the old certificate; a good one is served to new
// connections while an open wss:// connection keeps its own and its data.
TEST_F(tls_test, sighup_swaps_the_certificate_for_new_connections_only) {
  tls_daemon daemon;
  auto old_trust = client_context(daemon.cert);
  wss_client open_before(daemon.port(), *old_trust);
  open_before.send_json({{"type", "subscribe"}, {"topic", "queue:q"}, {"mode", "delta"}});
  ASSERT_TRUE(open_before.read_until("snapshot"));
  EXPECT_EQ(open_before.fingerprint(), daemon.fingerprint);

  std::ofstream(daemon.key) << "garbage\n";
  daemon.process->hangup();
  bool failure_logged = false;
  for (int i = 0; i < 100 && !failure_logged; ++i) {
    failure_logged = read_file(daemon.process->log_path()).find("tls_certificate_reload_failed") !=
                     std::string::npos;
    if (!failure_logged) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(failure_logged) << "no reload error in " << daemon.process->log_path();
  EXPECT_EQ(https_get(daemon.port(), "/api/v1/queues/q").fingerprint, daemon.fingerprint)
      << "a bad key file replaced the certificate";

  std::string renewed = make_certificate(daemon.cert, daemon.key);
  ASSERT_NE(renewed, daemon.fingerprint);
  daemon.process->hangup();
  std::string served;
  for (int i = 0; i < 100; ++i) {
    served = https_get(daemon.port(), "/api/v1/queues/q").fingerprint;
    if (served == renewed) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(served, renewed) << "new connections still get the old certificate after SIGHUP";
  EXPECT_EQ(https_get(daemon.port(), "/api/v1/queues/q", daemon.cert).status, 200)
      << "the renewed certificate does not verify";

  sql_.exec("SELECT queuecast.enqueue('q', 'after the reload')");
  auto delta = open_before.read_until("delta");
  ASSERT_TRUE(delta) << "the connection opened before the reload stopped receiving";
  EXPECT_EQ(delta->at("ops").as_array()[0].at("phase").at("title").as_string(), "after the reload");
  EXPECT_EQ(open_before.fingerprint(), daemon.fingerprint);
}

}  // namespace
