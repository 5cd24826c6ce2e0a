#include "auth/verifier.hpp"

#include <mutex>

#include "auth/claims.hpp"
#include "auth/constant_time.hpp"
#include "auth/jws.hpp"
#include "auth/keys.hpp"

namespace queuecast::auth {

struct verifier::state {
  auth_config cfg;
  // verify() copies the pointer under the lock and works on its own copy, so
  // a reload() swapping in new keys never changes keys under a running check.
  mutable std::mutex mutex;
  std::shared_ptr<const key_set> keys;

  std::shared_ptr<const key_set> current() const {
    std::lock_guard lock(mutex);
    return keys;
  }
};

namespace {

verdict refuse(std::string_view code, std::string message) {
  return verdict{std::nullopt, std::string(code), std::move(message)};
}

verdict full_access(std::string subject) {
  principal who;
  who.subject = std::move(subject);
  who.topic_patterns = {"*"};
  who.access = role::admin;
  return verdict{std::move(who), "", ""};
}

}  // namespace

verifier::verifier(std::unique_ptr<state> s) : state_(std::move(s)) {}
verifier::verifier(verifier&&) noexcept = default;
verifier& verifier::operator=(verifier&&) noexcept = default;
verifier::~verifier() = default;

std::variant<verifier, std::string> verifier::create(auth_config cfg) {
  if (cfg.leeway.count() < 0) return std::string("the JWT leeway must not be negative");
  if (cfg.static_token.size() > max_credential_bytes) {
    return "the static token is longer than " + std::to_string(max_credential_bytes) + " bytes";
  }
  auto keys = load_keys(cfg);
  if (auto* error = std::get_if<std::string>(&keys)) return *error;
  auto s = std::make_unique<state>();
  s->cfg = std::move(cfg);
  s->keys = std::make_shared<const key_set>(std::move(std::get<key_set>(keys)));
  return verifier(std::move(s));
}

bool verifier::enabled() const {
  const auth_config& c = state_->cfg;
  return !c.static_token.empty() || !c.jwt_secret.empty() || !c.jwt_secret_file.empty() ||
         !c.jwks_file.empty();
}

verdict verifier::verify(std::string_view credential,
                         std::chrono::system_clock::time_point now) const {
  try {
    if (!enabled()) return full_access("anonymous");
    if (credential.empty()) return refuse(errc::no_credentials, "no credential was presented");
    if (credential.size() > max_credential_bytes) {
      return refuse(errc::malformed,
                    "longer than " + std::to_string(max_credential_bytes) + " bytes");
    }
    const std::string& token = state_->cfg.static_token;
    if (!token.empty() && constant_time_equal(credential, token)) {
      return full_access("static-token");
    }
    auto parsed = parse_jws(credential);
    if (auto* r = std::get_if<rejection>(&parsed)) return refuse(r->code, std::move(r->message));
    const jws& jwt = std::get<jws>(parsed);
    if (auto r = check_signature(jwt, *state_->current())) return refuse(r->code, r->message);
    auto claims = read_claims(jwt.payload, state_->cfg, now);
    if (auto* r = std::get_if<rejection>(&claims)) return refuse(r->code, std::move(r->message));
    return verdict{std::move(std::get<principal>(claims)), "", ""};
  } catch (const std::exception& e) {
    return refuse(errc::malformed, std::string("could not read the credential: ") + e.what());
  } catch (...) {
    return refuse(errc::malformed, "could not read the credential");
  }
}

std::string verifier::reload() {
  try {
    auto keys = load_keys(state_->cfg);
    if (auto* error = std::get_if<std::string>(&keys)) return *error + "; keeping the old keys";
    auto fresh = std::make_shared<const key_set>(std::move(std::get<key_set>(keys)));
    std::lock_guard lock(state_->mutex);
    state_->keys = std::move(fresh);
    return "";
  } catch (const std::exception& e) {
    return std::string("reload failed: ") + e.what() + "; keeping the old keys";
  }
}

}  // namespace queuecast::auth
