// Who is calling and what may they read: the static token, HS256 tokens with a
// shared secret, RS256/ES256 tokens with keys from a JWKS file. One call,
// verify(), returns one verdict; routes only decide what to do with it.
//
// Glossary: a *credential* is what the client sent (the static token or a
// JWT); a *principal* is who it proved to be; a *verdict* is either a
// principal or a stable error code.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace queuecast::auth {

struct auth_config {
  std::string static_token;  // --token / --token-file: simple mode, full access
  std::string jwt_secret;    // HS256 secret, raw bytes (at least 32)
  std::string
      jwt_secret_file;    // the same from a file (trailing newlines dropped); re-read on reload()
  std::string jwks_file;  // RS256/ES256 public keys as JWKS JSON; re-read on reload()
  std::string audience;   // `aud` must contain it when non-empty
  std::string issuer;     // `iss` must equal it when non-empty
  std::chrono::seconds leeway{30};  // clock skew allowed for exp/nbf
};

enum class role { viewer, operator_, admin };

struct principal {
  std::string subject;                      // `sub` (may be empty), or "static-token"
  std::vector<std::string> topic_patterns;  // claim `topics`: globs, see topic_allowed()
  role access = role::viewer;               // claim `role`; the static token is admin
  std::optional<std::chrono::system_clock::time_point> expires;  // `exp`; none for static token
};

// Stable error codes (logged, counted in metrics, never sent with details).
namespace errc {
inline constexpr std::string_view no_credentials = "no_credentials";
inline constexpr std::string_view malformed = "malformed";
inline constexpr std::string_view bad_signature = "bad_signature";
inline constexpr std::string_view alg_not_allowed = "alg_not_allowed";
inline constexpr std::string_view unknown_key = "unknown_key";
inline constexpr std::string_view expired = "expired";
inline constexpr std::string_view not_yet_valid = "not_yet_valid";
inline constexpr std::string_view wrong_audience = "wrong_audience";
inline constexpr std::string_view wrong_issuer = "wrong_issuer";
inline constexpr std::string_view missing_exp = "missing_exp";
inline constexpr std::string_view bad_claims = "bad_claims";
}  // namespace errc

// Exactly one of `who` and `error` is set.
struct verdict {
  std::optional<principal> who;
  std::string error;    // one of errc
  std::string message;  // for logs; never contains the credential or a secret
};

// Longest credential verify() looks at; anything longer is malformed.
inline constexpr std::size_t max_credential_bytes = 8192;

struct key_set;  // the loaded secret and public keys (keys.hpp)

class verifier {
 public:
  // Loads the secret and JWKS files. On failure: a message naming the file
  // (or setting) and what to fix.
  static std::variant<verifier, std::string> create(auth_config cfg);

  verifier(verifier&&) noexcept;
  verifier& operator=(verifier&&) noexcept;
  ~verifier();

  // False when no static token, secret or JWKS is configured: everything is
  // open, and verify() grants full access to anyone.
  bool enabled() const;

  // Never throws. Safe to call from several threads, also during reload().
  verdict verify(std::string_view credential, std::chrono::system_clock::time_point now) const;

  // SIGHUP: re-reads the secret and JWKS files. On error the old keys stay
  // (all of them: never half a reload) and the error is returned; "" on success.
  std::string reload();

 private:
  struct state;
  explicit verifier(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

}  // namespace queuecast::auth
