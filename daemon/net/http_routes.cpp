#include "http_routes.hpp"

#include <tuple>

#include "../util/metrics.hpp"
#include "../web_assets.hpp"
#include "messages.hpp"

namespace queuecast {

namespace {

constexpr std::string_view queues_prefix = "/api/v1/queues/";

http_response reply(const http_request& req, http::status status, std::string body,
                    const char* type = "application/json") {
  http_response res{status, req.version()};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  // Every response: no sniffing, no framing, scripts of our own only.
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy", gate::content_security_policy());
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string json_error(const std::string& code, const std::string& message) {
  return json::serialize(json::object{{"error", code}, {"message", message}});
}

bool is_health_route(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

http_response health_route(const http_request& req, std::string_view path, http_context& ctx) {
  if (path == "/healthz") return reply(req, http::status::ok, "{\"status\":\"ok\"}");
  if (path == "/readyz") {
    // The feed changes its readiness under the same lock.
    auto [ready, reason, seq] = ctx.shared.with([&](hub&, store& state) {
      return std::tuple(ctx.ready(), ctx.not_ready_reason(), state.seq());
    });
    if (ready)
      return reply(req, http::status::ok,
                   json::serialize(json::object{{"status", "ready"}, {"seq", seq}}));
    return reply(req, http::status::service_unavailable, json_error("not_ready", reason));
  }
  auto counts = ctx.shared.with([](hub& h, store&) { return h.counts_by_topic(); });
  return reply(req, http::status::ok, process_metrics().render(counts),
               "text/plain; version=0.0.4");
}

// The queues the caller may read.
http_response list_queues(const http_request& req, http_context& ctx, const auth::principal& who) {
  json::array names;
  auto [topics, seq] = ctx.shared.with(
      [](hub&, store& state) { return std::pair(state.topic_names(), state.seq()); });
  for (const auto& topic : topics) {
    if (topic.rfind(queue_topic_prefix, 0) == 0 && gate::may_read(who, topic))
      names.push_back(json::string(topic.substr(queue_topic_prefix.size())));
  }
  return reply(req, http::status::ok,
               json::serialize(json::object{{"queues", names}, {"seq", seq}}));
}

http_response topic_document(const http_request& req, http_context& ctx, const auth::principal& who,
                             const std::string& topic, std::string_view name) {
  if (!valid_topic_syntax(topic))
    return reply(req, http::status::not_found,
                 json_error("unknown_queue", "no queue '" + shown(name) + "'"));
  // Refused before looking: a caller learns nothing about topics it may not read.
  if (!gate::may_read(who, topic))
    return reply(req, http::status::forbidden,
                 json_error("forbidden", "your token does not grant '" + topic + "'"));
  auto [loaded, doc] = ctx.shared.with([&](hub&, store& state) {
    if (!state.loaded()) return std::pair(false, std::optional<std::string>());
    auto found = state.document(topic);
    if (!found) return std::pair(true, std::optional<std::string>());
    (*found)["seq"] = state.seq();
    return std::pair(true, std::optional<std::string>(json::serialize(*found)));
  });
  if (!loaded)
    return reply(req, http::status::service_unavailable, json_error("not_ready", "loading"));
  if (!doc)
    return reply(req, http::status::not_found,
                 json_error("unknown_queue", "no queue '" + shown(name) + "'"));
  return reply(req, http::status::ok, std::move(*doc));
}

// Who the caller is and what the page may offer it.
http_response whoami(const http_request& req, http_context& ctx, const auth::principal& who) {
  const char* role = who.access == auth::role::admin       ? "admin"
                     : who.access == auth::role::operator_ ? "operator"
                                                           : "viewer";
  bool may_act = ctx.actions != nullptr && who.access != auth::role::viewer;
  return reply(req, http::status::ok,
               json::serialize(json::object{{"subject", who.subject},
                                            {"role", role},
                                            {"authenticated", ctx.door.enabled()},
                                            {"may_act", may_act}}));
}

http_response route(const http_request& req, http_context& ctx, const request_origin& from) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    return reply(req, http::status::method_not_allowed,
                 json_error("method_not_allowed", "use GET"));
  // Beast accepts any target ("?x", "*", "http://h/p"); ours are paths.
  if (path.empty() || path.front() != '/')
    return reply(req, http::status::bad_request,
                 json_error("bad_request", "the request target must be a path starting with /"));
  if (auto refused = ctx.door.check_browser(req, from.tls))
    return reply(req, refused->status, json_error(refused->code, refused->message));

  bool admin_elsewhere = ctx.cfg.admin_port != 0 && !from.admin_listener;
  if (from.admin_listener) {
    // The private interface serves health and metrics only, without credentials.
    if (is_health_route(path)) return health_route(req, path, ctx);
    return reply(req, http::status::not_found,
                 json_error("not_found", "only /healthz, /readyz and /metrics are served here"));
  }
  // The page and its scripts hold no data: they load before sign-in.
  std::string_view file = path == "/" ? "/index.html" : path;
  if (const web_asset* asset = find_web_asset(file.substr(1)))
    return reply(req, http::status::ok, std::string(asset->content), asset->content_type);
  if (admin_elsewhere && is_health_route(path))
    return reply(req, http::status::not_found, json_error("not_found", "served on --admin-listen"));

  bool data_route = is_health_route(path) || path == "/api/v1/queues" ||
                    path.rfind(queues_prefix, 0) == 0 || path == "/api/v1/workflows" ||
                    path == "/api/v1/whoami";
  if (!data_route)
    return reply(req, http::status::not_found, json_error("not_found", "no such path"));

  auto credential = gate::header_credential(req);
  auth::verdict verdict = ctx.door.authenticate(credential, from.peer);
  if (!verdict.who) return unauthorized_response(req, credential.has_value(), verdict);
  const auth::principal& who = *verdict.who;
  if (path == "/metrics" && ctx.door.enabled() && who.access != auth::role::admin)
    return reply(req, http::status::forbidden,
                 json_error("forbidden", "metrics name every topic: they need role admin"));
  if (is_health_route(path)) return health_route(req, path, ctx);
  if (path == "/api/v1/queues") return list_queues(req, ctx, who);
  if (path == "/api/v1/whoami") return whoami(req, ctx, who);
  if (path == "/api/v1/workflows") return topic_document(req, ctx, who, "workflows", "workflows");
  std::string_view name = path.substr(queues_prefix.size());
  return topic_document(req, ctx, who, std::string(queue_topic_prefix) + std::string(name), name);
}

// The value of ?name= in a target; our names need no percent-decoding.
std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos)
      return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return {};
}

}  // namespace

http_response json_reply(const http_request& req, http::status status, std::string body) {
  return reply(req, status, std::move(body));
}

http_response unauthorized_response(const http_request& req, bool sent_credential,
                                    const auth::verdict& verdict) {
  http_response res =
      reply(req, http::status::unauthorized,
            json_error(sent_credential ? "authentication_failed" : "authentication_required",
                       sent_credential ? "the token was refused (" + verdict.error + ")"
                                       : "send Authorization: Bearer <token>"));
  res.set(http::field::www_authenticate, "Bearer realm=\"queuecastd\"");
  return res;
}

http_response error_response(const http_request& req, http::status status, const std::string& code,
                             const std::string& message) {
  return reply(req, status, json_error(code, message));
}

http_response route_request(const http_request& req, http_context& ctx,
                            const request_origin& from) {
  try {
    return route(req, ctx, from);
  } catch (const std::exception& e) {
    process_metrics().client_errors++;
    return reply(req, http::status::internal_server_error,
                 json_error("internal_error", "the request could not be served"));
  }
}

std::optional<websocket_target> websocket_route(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/ws") return websocket_target{session_kind::protocol, {}};
  if (path == "/api/v1/ws/queue" || path == "/ws/queue") {
    std::string queue = query_param(target, "queue");
    return websocket_target{session_kind::compat_queue,
                            std::string(queue_topic_prefix) + (queue.empty() ? "default" : queue)};
  }
  if (path == "/api/ws/jobs" || path == "/ws/jobs") {
    std::string queue = query_param(target, "queue");
    return websocket_target{session_kind::queue_jobs,
                            std::string(queue_topic_prefix) + (queue.empty() ? "default" : queue)};
  }
  if (path == "/ws/workflow")
    return websocket_target{session_kind::job_events,
                            std::string(workflow_topic_prefix) + query_param(target, "id")};
  return std::nullopt;
}

}  // namespace queuecast
