// TLS test clients for integration tests: a throwaway self-signed
// certificate made at run time, an HTTPS GET, a wss:// client and raw TCP
// probes. Every operation is asynchronous under a deadline, so a daemon that
// misbehaves fails the test instead of hanging it.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

namespace qc_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
namespace json = boost::json;

// Each network step of a test client gives up after this.
inline constexpr std::chrono::seconds client_step_timeout{5};

inline asio::ip::tcp::endpoint loopback(int port) {
  return {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)};
}

// Runs a task to its end on its own io_context; rethrows what it threw.
template <class T>
T run_task(asio::io_context& ioc, asio::awaitable<T> task) {
  auto result = asio::co_spawn(ioc, std::move(task), asio::use_future);
  ioc.restart();
  ioc.run();
  return result.get();
}

// The SHA-256 fingerprint of a certificate, as hex.
inline std::string fingerprint(X509* certificate) {
  if (!certificate) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(certificate, EVP_sha256(), digest, &length);
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

// Writes a fresh P-256 key and a self-signed certificate for IP 127.0.0.1
// (valid for an hour) to the two paths; returns the certificate's fingerprint.
inline std::string make_certificate(const std::string& cert_path, const std::string& key_path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("OpenSSL could not make a key");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), std::random_device{}() & 0x7fffffff);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    throw std::runtime_error("OpenSSL could not sign the certificate");
  std::unique_ptr<FILE, decltype(&std::fclose)> key_file(std::fopen(key_path.c_str(), "w"),
                                                         std::fclose);
  std::unique_ptr<FILE, decltype(&std::fclose)> cert_file(std::fopen(cert_path.c_str(), "w"),
                                                          std::fclose);
  if (!key_file || !cert_file) throw std::runtime_error("cannot write " + cert_path);
  ::chmod(key_path.c_str(), 0600);
  PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_X509(cert_file.get(), cert.get());
  return fingerprint(cert.get());
}

// A client context trusting exactly one certificate, checking that it names
// 127.0.0.1; or, with an empty path, trusting anything (to look at what the
// server presents).
inline std::unique_ptr<ssl::context> client_context(const std::string& trusted_cert) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (trusted_cert.empty()) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  context->load_verify_file(trusted_cert);
  context->set_verify_mode(ssl::verify_peer);
  context->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  return context;
}

using tls_client_stream = beast::ssl_stream<beast::tcp_stream>;

struct https_reply {
  int status = 0;
  std::string body;
  std::string fingerprint;  // of the certificate the server presented
};

inline asio::awaitable<https_reply> https_get_task(ssl::context& tls, int port, std::string path) {
  tls_client_stream stream(co_await asio::this_coro::executor, tls);
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_after(client_step_timeout);
  co_await tcp.async_connect(loopback(port), asio::use_awaitable);
  co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  http::request<http::empty_body> req(http::verb::get, path, 11);
  req.set(http::field::host, "127.0.0.1");
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::use_awaitable);
  X509* peer = SSL_get1_peer_certificate(stream.native_handle());
  https_reply reply{static_cast<int>(res.result_int()), res.body(), fingerprint(peer)};
  X509_free(peer);
  co_return reply;
}

// GET over TLS; throws when the connection or the verification fails.
inline https_reply https_get(int port, const std::string& path,
                             const std::string& trusted_cert = {}) {
  auto tls = client_context(trusted_cert);
  asio::io_context ioc;
  return run_task(ioc, https_get_task(*tls, port, path));
}

// What a raw TCP client got: the bytes, and how the connection ended
// (eof or reset: the server closed it; timed_out: it kept it open).
struct raw_outcome {
  std::string received;
  beast::error_code ended;
  std::chrono::milliseconds after{0};
};

inline asio::awaitable<raw_outcome> raw_exchange_task(int port, std::string send,
                                                      std::chrono::milliseconds wait,
                                                      std::function<void()> sent) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(client_step_timeout);
  co_await stream.async_connect(loopback(port), asio::use_awaitable);
  co_await asio::async_write(stream, asio::buffer(send), asio::use_awaitable);
  if (sent) sent();
  auto started = std::chrono::steady_clock::now();
  stream.expires_after(wait);
  raw_outcome outcome;
  char chunk[4096];
  while (true) {
    auto [ec, n] =
        co_await stream.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    outcome.received.append(chunk, n);
    if (ec) {
      outcome.ended = ec == beast::error::timeout ? asio::error::timed_out : ec;
      break;
    }
  }
  outcome.after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  co_return outcome;
}

// Sends bytes over plain TCP and reads until the server closes the
// connection or `wait` passes. `sent` is called once the bytes are written
// (the connection is then in the daemon's accept queue or accepted).
inline raw_outcome raw_exchange(int port, const std::string& send, std::chrono::milliseconds wait,
                                std::function<void()> sent = {}) {
  asio::io_context ioc;
  return run_task(ioc, raw_exchange_task(port, send, wait, std::move(sent)));
}

// A blocking wss:// client; every step under client_step_timeout.
class wss_client {
 public:
  // Connects and upgrades; throws when anything fails or is refused.
  wss_client(int port, ssl::context& tls, const std::string& target = "/ws",
             const std::string& origin = {})
      : wss_client(port, tls, target, origin, true) {}

  // The HTTP status an upgrade over TLS is answered with (101: accepted).
  static int upgrade_status(int port, ssl::context& tls, const std::string& target,
                            const std::string& origin) {
    return wss_client(port, tls, target, origin, false).upgrade_status_;
  }
  std::string fingerprint() {
    X509* peer = SSL_get1_peer_certificate(ws_.next_layer().native_handle());
    std::string result = qc_test::fingerprint(peer);
    X509_free(peer);
    return result;
  }

  void send_json(const json::object& message) { run_task(ioc_, write(json::serialize(message))); }

  // The next message, or nullopt on timeout or close (the client is then
  // unusable).
  std::optional<json::object> read_json(std::chrono::milliseconds wait = client_step_timeout) {
    auto text = run_task(ioc_, read(wait));
    if (!text) return std::nullopt;
    return json::parse(*text).as_object();
  }

  std::optional<json::object> read_until(const std::string& type) {
    for (int i = 0; i < 1000; ++i) {
      auto message = read_json();
      if (!message) return std::nullopt;
      if (message->at("type").as_string() == type) return message;
    }
    return std::nullopt;
  }

 private:
  wss_client(int port, ssl::context& tls, const std::string& target, const std::string& origin,
             bool must_upgrade)
      : ws_(ioc_, tls) {
    run_task(ioc_, open(port, target, origin));
    if (must_upgrade && upgrade_status_ != 101)
      throw std::runtime_error("upgrade answered " + std::to_string(upgrade_status_));
  }

  // Throws when the connection or TLS fails; a refused upgrade is only
  // recorded in upgrade_status_.
  asio::awaitable<void> open(int port, std::string target, std::string origin) {
    auto& tcp = beast::get_lowest_layer(ws_);
    tcp.expires_after(client_step_timeout);
    co_await tcp.async_connect(loopback(port), asio::use_awaitable);
    co_await ws_.next_layer().async_handshake(ssl::stream_base::client, asio::use_awaitable);
    ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& req) {
      if (!origin.empty()) req.set(http::field::origin, origin);
    }));
    websocket::response_type res;
    auto [ec] =
        co_await ws_.async_handshake(res, "127.0.0.1", target, asio::as_tuple(asio::use_awaitable));
    // 101 with an error (a bad Sec-WebSocket-Accept, ...) is no upgrade.
    upgrade_status_ = ec && res.result_int() == 101 ? 0 : static_cast<int>(res.result_int());
  }
  asio::awaitable<void> write(std::string text) {
    beast::get_lowest_layer(ws_).expires_after(client_step_timeout);
    ws_.text(true);
    co_await ws_.async_write(asio::buffer(text), asio::use_awaitable);
  }
  asio::awaitable<std::optional<std::string>> read(std::chrono::milliseconds wait) {
    beast::get_lowest_layer(ws_).expires_after(wait);
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws_.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::nullopt;
    co_return beast::buffers_to_string(buffer.data());
  }

  asio::io_context ioc_;
  websocket::stream<tls_client_stream> ws_;
  int upgrade_status_ = 0;
};

}  // namespace qc_test
