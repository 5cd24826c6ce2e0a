#include "auth/claims.hpp"

#include <cmath>
#include <limits>

namespace queuecast::auth {

namespace json = boost::json;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

enum class rounding { down, up };

// A NumericDate (seconds since the epoch, maybe fractional) as whole seconds,
// rounded towards the stricter side; nullopt when it is not a usable number.
std::optional<std::int64_t> numeric_date(const json::value& v, rounding r) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double d = r == rounding::down ? std::floor(v.get_double()) : std::ceil(v.get_double());
    // ±2^62: far beyond any date, and exactly convertible.
    constexpr double bound = 4611686018427387904.0;
    if (!std::isfinite(d) || d > bound || d < -bound) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// `exp` as a time_point, clamped to what system_clock can hold (~year 2262).
system_clock::time_point to_time_point(std::int64_t s) {
  const std::int64_t max_s =
      std::chrono::duration_cast<seconds>(system_clock::duration::max()).count();
  const std::int64_t min_s =
      std::chrono::duration_cast<seconds>(system_clock::duration::min()).count();
  return system_clock::time_point(seconds(std::clamp(s, min_s, max_s)));
}

std::optional<rejection> check_times(const json::object& claims, const auth_config& cfg,
                                     std::int64_t now_s, principal& who) {
  const std::int64_t leeway = cfg.leeway.count();
  const json::value* exp = claims.if_contains("exp");
  if (!exp) return rejection{errc::missing_exp, "the token has no \"exp\"; tokens must expire"};
  auto exp_s = numeric_date(*exp, rounding::down);
  if (!exp_s) return rejection{errc::bad_claims, "\"exp\" is not a number of seconds"};
  // RFC 7519 §4.1.4: valid only while now is before exp. now_s - leeway
  // cannot overflow (now is a real clock; leeway is small and not negative).
  if (now_s - leeway >= *exp_s) {
    return rejection{errc::expired, "expired " + std::to_string(now_s - *exp_s) + " s ago"};
  }
  who.expires = to_time_point(*exp_s);
  if (const json::value* nbf = claims.if_contains("nbf")) {
    auto nbf_s = numeric_date(*nbf, rounding::up);
    if (!nbf_s) return rejection{errc::bad_claims, "\"nbf\" is not a number of seconds"};
    if (now_s + leeway < *nbf_s) {
      return rejection{errc::not_yet_valid,
                       "valid only in " + std::to_string(*nbf_s - now_s) + " s (nbf)"};
    }
  }
  return std::nullopt;
}

std::optional<rejection> check_issuer_audience(const json::object& claims, const auth_config& cfg) {
  const json::value* iss = claims.if_contains("iss");
  if (iss && !iss->is_string()) return rejection{errc::bad_claims, "\"iss\" is not a string"};
  if (!cfg.issuer.empty() && (!iss || iss->get_string() != cfg.issuer)) {
    return rejection{errc::wrong_issuer, iss ? "issuer \"" + printable(iss->get_string()) +
                                                   "\" is not the configured one"
                                             : std::string("the token has no \"iss\"")};
  }
  const json::value* aud = claims.if_contains("aud");
  bool found = false;
  if (aud && aud->is_string()) {
    found = aud->get_string() == cfg.audience;
  } else if (aud && aud->is_array()) {
    for (const json::value& a : aud->get_array()) {
      if (!a.is_string()) return rejection{errc::bad_claims, "\"aud\" has a non-string entry"};
      found = found || a.get_string() == cfg.audience;
    }
  } else if (aud) {
    return rejection{errc::bad_claims, "\"aud\" is neither a string nor an array of strings"};
  }
  if (!cfg.audience.empty() && !found) {
    return rejection{errc::wrong_audience,
                     aud ? std::string("the configured audience is not in \"aud\"")
                         : std::string("the token has no \"aud\"")};
  }
  return std::nullopt;
}

std::optional<rejection> read_access(const json::object& claims, principal& who) {
  if (const json::value* sub = claims.if_contains("sub")) {
    if (!sub->is_string()) return rejection{errc::bad_claims, "\"sub\" is not a string"};
    who.subject = std::string(sub->get_string());
  }
  if (const json::value* topics = claims.if_contains("topics")) {
    if (!topics->is_array()) return rejection{errc::bad_claims, "\"topics\" is not an array"};
    for (const json::value& t : topics->get_array()) {
      if (!t.is_string()) return rejection{errc::bad_claims, "\"topics\" has a non-string entry"};
      who.topic_patterns.emplace_back(t.get_string());
    }
  }
  if (const json::value* r = claims.if_contains("role")) {
    if (r->is_string() && r->get_string() == "viewer") {
      who.access = role::viewer;
    } else if (r->is_string() && r->get_string() == "operator") {
      who.access = role::operator_;
    } else if (r->is_string() && r->get_string() == "admin") {
      who.access = role::admin;
    } else {
      return rejection{errc::bad_claims, "\"role\" must be \"viewer\", \"operator\" or \"admin\""};
    }
  }
  return std::nullopt;
}

}  // namespace

std::variant<principal, rejection> read_claims(const json::object& claims, const auth_config& cfg,
                                               system_clock::time_point now) {
  principal who;
  const std::int64_t now_s = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  if (auto r = check_times(claims, cfg, now_s, who)) return *r;
  if (auto r = check_issuer_audience(claims, cfg)) return *r;
  if (auto r = read_access(claims, who)) return *r;
  return who;
}

}  // namespace queuecast::auth
