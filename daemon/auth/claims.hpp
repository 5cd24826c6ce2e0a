// The claims of a verified token (RFC 7519 §4.1 plus ours: `topics`, `role`)
// turned into a principal, or refused.
#pragma once

#include <chrono>
#include <variant>

#include <boost/json.hpp>

#include "auth/rejection.hpp"
#include "auth/verifier.hpp"

namespace queuecast::auth {

// Call only after the signature is checked. Order of checks: exp (required),
// nbf, iss, aud, then sub/topics/role types; the first failure wins.
std::variant<principal, rejection> read_claims(const boost::json::object& claims,
                                               const auth_config& cfg,
                                               std::chrono::system_clock::time_point now);

}  // namespace queuecast::auth
