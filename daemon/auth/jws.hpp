// A compact JWS (header.payload.signature, RFC 7515) taken apart, and its
// signature checked against the loaded keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json.hpp>

#include "auth/keys.hpp"
#include "auth/rejection.hpp"

namespace queuecast::auth {

struct jws {
  std::string_view token;          // the whole credential
  std::string_view signing_input;  // "header.payload", what the signature covers
  boost::json::object header;
  boost::json::object payload;  // not to be trusted before check_signature()
  std::string signature;        // decoded bytes
  std::string alg;
  std::optional<std::string> kid;
};

// Structure only: three base64url parts, JSON objects, a string `alg`.
// Every failure is `malformed`.
std::variant<jws, rejection> parse_jws(std::string_view token);

// HS256 with the secret (OpenSSL HMAC, constant-time compare); RS256/ES256
// with the JWKS key the `kid` names (libjwt). Any other alg, or an alg whose
// keys are not configured, is refused before any key is touched: the alg
// decides which key store is consulted, so an RSA public key can never be
// used as an HMAC secret.
std::optional<rejection> check_signature(const jws& token, const key_set& keys);

}  // namespace queuecast::auth
