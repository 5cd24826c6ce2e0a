#include "http_session.hpp"

#include "../util/metrics.hpp"
#include "../web_assets.hpp"
#include "ws_session.hpp"

namespace queuecast {

namespace {

using response = http::response<http::string_body>;

response reply(const http::request<http::string_body>& req, http::status status, std::string body,
               const char* type = "application/json") {
  response res{status, req.version()};
  res.set(http::field::server, "queuecastd/0.1.0");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string json_error(const std::string& code, const std::string& message) {
  return json::serialize(json::object{{"error", code}, {"message", message}});
}

// The value of ?name= in a target, percent-decoding not needed for our names.
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

response route(const http::request<http::string_body>& req, http_context& ctx) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return reply(req, http::status::method_not_allowed,
                 json_error("method_not_allowed", "use GET"));
  }
  if (path == "/healthz") return reply(req, http::status::ok, "{\"status\":\"ok\"}");
  if (path == "/readyz") {
    if (ctx.ready())
      return reply(req, http::status::ok,
                   json::serialize(json::object{{"status", "ready"}, {"seq", ctx.state.seq()}}));
    return reply(req, http::status::service_unavailable,
                 json_error("not_ready", ctx.not_ready_reason()));
  }
  if (path == "/metrics") {
    return reply(req, http::status::ok, process_metrics().render(ctx.fanout.counts_by_topic()),
                 "text/plain; version=0.0.4");
  }
  if (path == "/api/v1/queues") {
    json::array names;
    for (const auto& topic : ctx.state.topic_names()) {
      if (topic.rfind("queue:", 0) == 0) names.push_back(json::string(topic.substr(6)));
    }
    return reply(req, http::status::ok,
                 json::serialize(json::object{{"queues", names}, {"seq", ctx.state.seq()}}));
  }
  if (path.rfind("/api/v1/queues/", 0) == 0 || path == "/api/v1/workflows") {
    std::string topic =
        path == "/api/v1/workflows" ? "workflows" : "queue:" + std::string(path.substr(15));
    if (!ctx.state.loaded())
      return reply(req, http::status::service_unavailable, json_error("not_ready", "loading"));
    auto doc = valid_topic_syntax(topic) ? ctx.state.document(topic) : std::nullopt;
    if (!doc)
      return reply(req, http::status::not_found,
                   json_error("unknown_queue", "no queue '" + std::string(path.substr(15)) + "'"));
    (*doc)["seq"] = ctx.state.seq();
    return reply(req, http::status::ok, json::serialize(*doc));
  }
  std::string_view file = path == "/" ? "/index.html" : path;
  if (const web_asset* asset = find_web_asset(file.substr(1))) {
    return reply(req, http::status::ok, std::string(asset->content), asset->content_type);
  }
  return reply(req, http::status::not_found, json_error("not_found", "no such path"));
}

// Decides what a WebSocket upgrade subscribes to; empty kind means refuse.
std::optional<std::pair<session_kind, std::string>> websocket_route(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/ws") return std::make_pair(session_kind::protocol, std::string());
  if (path == "/api/v1/ws/queue" || path == "/ws/queue") {
    std::string queue = query_param(target, "queue");
    return std::make_pair(session_kind::compat_queue,
                          "queue:" + (queue.empty() ? std::string("default") : queue));
  }
  if (path == "/ws/workflow")
    return std::make_pair(session_kind::job_events, "workflow:" + query_param(target, "id"));
  return std::nullopt;
}

asio::awaitable<void> serve(beast::tcp_stream stream, http_context& ctx) {
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    http::request<http::string_body> req = parser.release();
    if (websocket::is_upgrade(req)) {
      std::string_view target(req.target().data(), req.target().size());
      auto where = websocket_route(target);
      if (!where) {
        co_await http::async_write(stream,
                                   reply(req, http::status::not_found,
                                         json_error("not_found", "no WebSocket endpoint here")),
                                   asio::as_tuple(asio::use_awaitable));
        co_return;
      }
      if (static_cast<std::size_t>(process_metrics().connections_open) >= ctx.cfg.max_clients) {
        co_await http::async_write(stream,
                                   reply(req, http::status::service_unavailable,
                                         json_error("too_many_clients", "try another instance")),
                                   asio::as_tuple(asio::use_awaitable));
        co_return;
      }
      stream.expires_never();
      std::make_shared<ws_session>(std::move(stream), ctx.fanout, ctx.cfg, where->first,
                                   where->second)
          ->start(std::move(req));
      co_return;
    }
    response res = route(req, ctx);
    bool keep_alive = res.keep_alive();
    auto [write_ec, written] =
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !keep_alive) co_return;
  }
}

}  // namespace

void start_http_session(asio::ip::tcp::socket socket, http_context& context) {
  asio::co_spawn(socket.get_executor(), serve(beast::tcp_stream(std::move(socket)), context),
                 asio::detached);
}

}  // namespace queuecast
