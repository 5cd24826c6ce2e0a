#include "gate.hpp"

#include <mutex>

#include <algorithm>
#include <cctype>

#include "../util/log.hpp"
#include "../util/metrics.hpp"
#include "messages.hpp"

namespace queuecast {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]", "::1" stays.
std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

bool is_loopback_name(std::string_view name) {
  std::string n = lower(name);
  return n == "localhost" || n == "[::1]" || n == "::1" || n.rfind("127.", 0) == 0;
}

bool is_loopback_address(const std::string& address) {
  return address == "::1" || address == "localhost" || address.rfind("127.", 0) == 0;
}

// At most one log line per interval about failed authentications; the
// others are counted and reported with the next line, so a client guessing
// tokens cannot flood the log.
constexpr auto auth_failure_log_interval = std::chrono::seconds(1);
struct failure_log {
  failure_log() noexcept = default;  // a static: it must not throw before main
  std::mutex mutex;                  // sessions on every shard's thread authenticate
  std::chrono::steady_clock::time_point last{};
  std::uint64_t suppressed = 0;
};
failure_log failures;

}  // namespace

gate::gate(const config& cfg, auth::verifier& verifier)
    : cfg_(cfg), verifier_(verifier), loopback_only_(is_loopback_address(cfg.listen_host)) {}

const char* gate::content_security_policy() {
  return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
         "form-action 'none'";
}

bool gate::host_allowed(std::string_view host) const {
  std::string_view name = host_name(host);
  if (!cfg_.allowed_hosts.empty()) {
    std::string n = lower(name);
    return std::any_of(cfg_.allowed_hosts.begin(), cfg_.allowed_hosts.end(),
                       [&](const std::string& allowed) { return lower(allowed) == n; });
  }
  // A page on some other site whose name an attacker points at 127.0.0.1
  // (DNS rebinding) sends its own name here: refuse it.
  return !loopback_only_ || is_loopback_name(name);
}

bool gate::origin_allowed(std::string_view origin, std::string_view host, bool tls) const {
  std::string o = lower(origin);
  if (!cfg_.allowed_origins.empty()) {
    return std::any_of(
        cfg_.allowed_origins.begin(), cfg_.allowed_origins.end(),
        [&](const std::string& allowed) { return allowed == "*" || lower(allowed) == o; });
  }
  // Same origin: the page was served by this daemon at the address the
  // browser used for this request.
  return o == (tls ? "https://" : "http://") + lower(host);
}

std::optional<refusal> gate::check_browser(const http_request& req, bool tls) const {
  std::string_view host(req[http::field::host].data(), req[http::field::host].size());
  if (host.empty() && (loopback_only_ || !cfg_.allowed_hosts.empty())) {
    return refusal{http::status::bad_request, "bad_host", "a Host header is required"};
  }
  if (!host.empty() && !host_allowed(host)) {
    return refusal{http::status::forbidden, "bad_host",
                   "Host '" + shown(host) +
                       "' is not served here; use the daemon's own address or add the name to "
                       "--allowed-hosts"};
  }
  auto origin_field = req.find(http::field::origin);
  if (origin_field != req.end()) {
    std::string_view origin(origin_field->value().data(), origin_field->value().size());
    if (!origin_allowed(origin, host, tls)) {
      process_metrics().origin_refusals++;
      return refusal{
          http::status::forbidden, "bad_origin",
          "Origin '" + shown(origin) + "' may not use this daemon; add it to --allowed-origins"};
    }
  }
  return std::nullopt;
}

std::optional<std::string> gate::header_credential(const http_request& req) {
  std::string_view authorization(req[http::field::authorization].data(),
                                 req[http::field::authorization].size());
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() > bearer.size() &&
      lower(authorization.substr(0, bearer.size())) == lower(bearer)) {
    return std::string(authorization.substr(bearer.size()));
  }
  std::string_view protocols(req[http::field::sec_websocket_protocol].data(),
                             req[http::field::sec_websocket_protocol].size());
  constexpr std::string_view prefix = "token.";
  while (!protocols.empty()) {
    auto comma = protocols.find(',');
    std::string_view entry = protocols.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.size() > prefix.size() && entry.substr(0, prefix.size()) == prefix) {
      return std::string(entry.substr(prefix.size()));
    }
    if (comma == std::string_view::npos) break;
    protocols.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

auth::verdict gate::authenticate(std::optional<std::string_view> credential,
                                 std::string_view peer) const {
  auth::verdict v;
  if (!enabled()) return verifier_.verify("", std::chrono::system_clock::now());
  if (!credential) {
    v.error = std::string(auth::errc::no_credentials);
    v.message = "no credentials";
  } else {
    v = verifier_.verify(*credential, std::chrono::system_clock::now());
  }
  if (v.who) {
    if (enabled())
      log(log_level::debug, "authenticated",
          {{"sub", v.who->subject}, {"peer", std::string(peer)}});
    return v;
  }
  process_metrics().auth_failures.add(v.error);
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(failures.mutex);
  if (now - failures.last >= auth_failure_log_interval) {
    log(log_level::warn, "auth_failed",
        {{"reason", v.error},
         {"detail", v.message},
         {"peer", std::string(peer)},
         {"suppressed_since_last", std::to_string(failures.suppressed)}});
    failures.last = now;
    failures.suppressed = 0;
  } else {
    failures.suppressed++;
  }
  return v;
}

}  // namespace queuecast
