// One JWK (RFC 7517) to a PEM public key, with OpenSSL 3: libjwt 1.10 only
// takes PEM and knows nothing of JWKS.
#pragma once

#include <string>
#include <variant>

#include <boost/json.hpp>

#include "auth/keys.hpp"

namespace queuecast::auth {

// RSA (at least 2048 bits) and EC P-256 public keys. The error says what is
// wrong with the key, without naming the file (the caller adds that).
std::variant<public_key, std::string> jwk_to_public_key(const boost::json::object& jwk);

}  // namespace queuecast::auth
