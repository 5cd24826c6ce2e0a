// The verifier the HTTP and token harnesses check credentials with: a static
// token and an HS256 secret, so both credential paths run. The seed corpus's
// tokens are signed with this secret (tests/fuzz/make_tokens.py).
#pragma once

#include <cstdlib>
#include <string_view>
#include <variant>

#include "auth/verifier.hpp"

namespace queuecast::fuzz {

inline constexpr std::string_view static_token = "fuzz-static-token-0123456789";
inline constexpr std::string_view hs256_secret = "fuzz-hs256-secret-0123456789abcdef";

inline auth::verifier& hs256_verifier() {
  static auth::verifier verifier = [] {
    auth::auth_config cfg;
    cfg.static_token = static_token;
    cfg.jwt_secret = hs256_secret;
    auto created = auth::verifier::create(cfg);
    if (auto* error = std::get_if<std::string>(&created)) std::abort();
    return std::move(std::get<auth::verifier>(created));
  }();
  return verifier;
}

}  // namespace queuecast::fuzz
