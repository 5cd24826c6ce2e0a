// The key material a verifier holds: the HS256 secret and the public keys of
// the JWKS file. Loaded whole and swapped whole, so a reload never leaves
// half of the new keys in place.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "auth/verifier.hpp"

namespace queuecast::auth {

enum class key_kind { rsa, ec_p256 };

struct public_key {
  std::string kid;  // may be empty
  key_kind kind;
  std::string pem;  // SubjectPublicKeyInfo PEM, as libjwt wants it
};

struct key_set {
  std::string hmac_secret;       // empty: HS256 not accepted
  std::vector<public_key> keys;  // empty: RS256/ES256 not accepted
  bool has_jwks = false;         // a JWKS file is configured
};

// Reads the secret (setting or file) and the JWKS file named in the config.
// The error names the file or setting and says what to fix.
std::variant<key_set, std::string> load_keys(const auth_config& cfg);

// Parses a JWKS document; `source` names it in errors.
std::variant<std::vector<public_key>, std::string> parse_jwks(std::string_view text,
                                                              std::string_view source);

}  // namespace queuecast::auth
