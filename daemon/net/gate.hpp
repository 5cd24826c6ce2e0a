// The one gate every request passes (docs/security.md): the Host and Origin
// checks that keep browsers from being used against the daemon (DNS
// rebinding, cross-site WebSocket hijacking), then who the caller is (a
// credential from the Authorization header, the Sec-WebSocket-Protocol list
// or the `hello` message) and what it may read. Sessions ask; the gate
// decides, counts and logs.
#pragma once

#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "../auth/topics.hpp"
#include "../auth/verifier.hpp"
#include "../config.hpp"

namespace queuecast {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;

// Why a request is turned away: the HTTP status, a stable code for the
// client, and a message that says what to do.
struct refusal {
  http::status status;
  std::string code;
  std::string message;
};

class gate {
 public:
  gate(const config& cfg, auth::verifier& verifier);

  // Whether credentials are required at all.
  bool enabled() const { return verifier_.enabled(); }

  // Host header and, when present, Origin header. `tls`: the request came
  // over TLS (same-origin is then https://<host>).
  std::optional<refusal> check_browser(const http_request& req, bool tls) const;

  // The credential carried by the request's headers: "Authorization: Bearer
  // <credential>", or an entry "token.<credential>" of Sec-WebSocket-Protocol.
  static std::optional<std::string> header_credential(const http_request& req);

  // Verifies a credential; failures are counted by reason and logged (at
  // most one line a second). Without configured credentials, everyone is a
  // full-access principal.
  auth::verdict authenticate(std::optional<std::string_view> credential,
                             std::string_view peer) const;

  // Whether `who` may read `topic` (the claims' grants: auth/topics.hpp).
  static bool may_read(const auth::principal& who, std::string_view topic) {
    return auth::topic_allowed(who, topic);
  }

  // The policy sent with every page: scripts and styles of our own origin
  // only, no framing, WebSockets to our own host.
  static const char* content_security_policy();

 private:
  bool host_allowed(std::string_view host) const;
  bool origin_allowed(std::string_view origin, std::string_view host, bool tls) const;

  const config& cfg_;
  auth::verifier& verifier_;
  bool loopback_only_;  // listening on loopback: only loopback names in Host
};

}  // namespace queuecast
