#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace queuecast {

namespace {

namespace ssl = boost::asio::ssl;

// Mozilla's "intermediate" TLS 1.2 suites (ECDHE only: no DH parameters to
// manage); TLS 1.3 keeps OpenSSL's default suites.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// "" when the file can be opened for reading, else why not.
std::string unreadable(const char* flag, const std::string& path) {
  std::ifstream in(path);
  if (in) return "";
  return std::string("cannot read ") + flag + " '" + path + "': " + std::strerror(errno);
}

// The OpenSSL reason behind a failed load, or the error code's own text.
std::string reason(const boost::system::error_code& ec) {
  std::string text = ec.message();
  ERR_clear_error();
  return text;
}

std::variant<std::shared_ptr<ssl::context>, std::string> build(const std::string& cert_file,
                                                               const std::string& key_file) {
  if (auto problem = unreadable("--tls-cert", cert_file); !problem.empty()) return problem;
  if (auto problem = unreadable("--tls-key", key_file); !problem.empty()) return problem;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* handle = context->native_handle();
  SSL_CTX_set_min_proto_version(handle, TLS1_2_VERSION);
  SSL_CTX_set_options(handle, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(handle, tls12_ciphers) != 1) {
    ERR_clear_error();
    return std::string("OpenSSL accepts none of the TLS 1.2 cipher suites");
  }
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return "cannot load the certificate chain from --tls-cert '" + cert_file + "': " + reason(ec) +
           " (a PEM file is expected)";
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH)
    ec = {};  // a key, but not this certificate's: said below
  if (ec)
    return "cannot load the private key from --tls-key '" + key_file + "': " + reason(ec) +
           " (an unencrypted PEM key is expected)";
  if (SSL_CTX_check_private_key(handle) != 1) {
    ERR_clear_error();
    return "the key in --tls-key '" + key_file +
           "' does not match the certificate in --tls-cert '" + cert_file + "'";
  }
  return context;
}

}  // namespace

tls_certificate::tls_certificate(std::string cert_file, std::string key_file,
                                 std::shared_ptr<ssl::context> context)
    : cert_file_(std::move(cert_file)),
      key_file_(std::move(key_file)),
      context_(std::move(context)) {}

std::variant<tls_certificate, std::string> tls_certificate::load(std::string cert_file,
                                                                 std::string key_file) {
  auto built = build(cert_file, key_file);
  if (auto* problem = std::get_if<std::string>(&built)) return *problem;
  return tls_certificate(std::move(cert_file), std::move(key_file),
                         std::move(std::get<std::shared_ptr<ssl::context>>(built)));
}

std::string tls_certificate::reload() {
  auto built = build(cert_file_, key_file_);
  if (auto* problem = std::get_if<std::string>(&built)) return *problem;
  context_ = std::move(std::get<std::shared_ptr<ssl::context>>(built));
  return "";
}

}  // namespace queuecast
