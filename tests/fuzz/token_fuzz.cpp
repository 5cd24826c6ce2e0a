// Fuzzes credential verification: verifier::verify() never throws, returns
// exactly one of a principal and an error, and accepts only the static token
// or a token whose HS256 signature matches the secret. The fuzzer cannot
// forge a signature, so any accepted input other than the static token must
// carry a signature the harness recomputes and finds right.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <chrono>
#include <string>
#include <string_view>

#include "auth/base64url.hpp"
#include "auth_fixture.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace {

// Whether `credential` is header.payload.signature with the right HS256 MAC.
bool signed_with_secret(std::string_view credential) {
  auto last_dot = credential.rfind('.');
  if (last_dot == std::string_view::npos) return false;
  std::string_view signing_input = credential.substr(0, last_dot);
  std::string_view signature = credential.substr(last_dot + 1);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  std::string_view secret = queuecast::fuzz::hs256_secret;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_size);
  auto decoded = queuecast::auth::base64url_decode(signature);
  return decoded && *decoded == std::string(reinterpret_cast<const char*>(mac), mac_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view credential(reinterpret_cast<const char*>(data), size);
  // A fixed "now" (2026-01-01): the corpus's tokens stay valid and runs repeat.
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  queuecast::auth::verdict verdict = queuecast::fuzz::hs256_verifier().verify(credential, now);
  if (verdict.who.has_value() == !verdict.error.empty()) std::abort();  // exactly one
  if (verdict.who && credential != queuecast::fuzz::static_token && !signed_with_secret(credential))
    std::abort();  // accepted without the secret
  return 0;
}
