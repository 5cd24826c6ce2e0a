#include "http_session.hpp"

#include <optional>
#include <type_traits>

#include "../util/log.hpp"
#include "../util/metrics.hpp"
#include "api_request.hpp"
#include "api_routes.hpp"
#include "sse_request.hpp"
#include "sse_session.hpp"
#include "ws_session.hpp"

namespace queuecast {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

// A request line and headers larger than this are refused (431 by Beast).
// The body limit is --max-message-bytes, as for WebSocket messages: our
// routes take GET and HEAD only, so a body is never needed.
constexpr std::uint32_t max_header_bytes = 16 * 1024;
// A connection gets this long for each whole request, keep-alive waits
// included: a client that trickles bytes holds its slot no longer.
constexpr auto request_timeout = std::chrono::seconds(30);

// Decides an upgrade: the refusal to send, or the session's principal.
// Compatibility endpoints have no hello message: their credential comes in
// the headers, and their one topic is checked now. The protocol endpoint
// may authenticate later with hello; a credential it sends in the headers is
// checked now all the same.
std::variant<refusal, std::optional<auth::principal>> admit_upgrade(const http_request& req,
                                                                    const websocket_target& where,
                                                                    http_context& ctx,
                                                                    const request_origin& from) {
  if (auto refused = ctx.door.check_browser(req, from.tls)) return *refused;
  auto credential = gate::header_credential(req);
  if (where.kind == session_kind::protocol && !credential && ctx.door.enabled())
    return std::optional<auth::principal>();
  auth::verdict verdict = ctx.door.authenticate(credential, from.peer);
  if (!verdict.who) {
    return refusal{http::status::unauthorized,
                   credential ? "authentication_failed" : "authentication_required",
                   credential ? "the token was refused (" + verdict.error + ")"
                              : "send the token as Sec-WebSocket-Protocol token.<token> or "
                                "Authorization: Bearer <token>"};
  }
  if (where.kind != session_kind::protocol && !gate::may_read(*verdict.who, where.topic))
    return refusal{http::status::forbidden, "forbidden",
                   "your token does not grant '" + where.topic + "'"};
  return verdict.who;
}

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// A peer that never answers our close_notify holds its slot this long at most.
constexpr auto tls_shutdown_timeout = std::chrono::seconds(2);

// Plain TCP has no handshake of its own.
asio::awaitable<bool> handshake(beast::tcp_stream&, const config&, const request_origin&) {
  co_return true;
}

// The TLS handshake, within --handshake-timeout. A failure (garbage, plain
// HTTP, a stalled or too old client) just ends the connection.
asio::awaitable<bool> handshake(tls_stream& stream, const config& cfg, const request_origin& from) {
  beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                              asio::as_tuple(asio::use_awaitable));
  if (!ec) co_return true;
  process_metrics().client_errors++;
  log(log_level::debug, "tls_handshake_failed", {{"peer", from.peer}, {"error", ec.message()}});
  co_return false;
}

// Ends our sending side: a FIN, or TLS's close_notify.
asio::awaitable<void> shut_down(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  co_return;
}

asio::awaitable<void> shut_down(tls_stream& stream) {
  beast::get_lowest_layer(stream).expires_after(tls_shutdown_timeout);
  co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
}

// What a WebSocket session runs on: plain TCP keeps only the socket (see
// ws_session.hpp); TLS keeps its stream.
asio::ip::tcp::socket websocket_layer(beast::tcp_stream&& stream) {
  return stream.release_socket();
}
tls_stream&& websocket_layer(tls_stream&& stream) {
  return std::move(stream);
}

// The peer went away or stopped talking: nothing to answer, not its fault.
bool quietly_ended(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::connection_reset || ec == asio::error::eof ||
         ec == asio::ssl::error::stream_truncated;
}

template <class Stream, class Response>
asio::awaitable<void> write_and_close(Stream& stream, Response res) {
  res.keep_alive(false);
  auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  if (!ec) co_await shut_down(stream);
}

// Sends a response; false when the connection is over: the write failed,
// or the response was the last (not keep-alive) and the stream is shut down.
template <class Stream>
asio::awaitable<bool> respond(Stream& stream, http_response res) {
  bool keep_alive = res.keep_alive();
  auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return false;
  if (!keep_alive) {
    co_await shut_down(stream);
    co_return false;
  }
  co_return true;
}

// The next request within request_timeout, or nullopt when the connection is
// over: the peer left or went quiet, or sent something unreadable (answered
// with 400 first).
template <class Stream>
asio::awaitable<std::optional<http_request>> read_request(Stream& stream,
                                                          beast::flat_buffer& buffer,
                                                          const config& cfg) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(max_header_bytes);
  parser.body_limit(cfg.max_message_bytes);
  beast::get_lowest_layer(stream).expires_after(request_timeout);
  auto [ec, n] =
      co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (!ec) co_return parser.release();
  if (!quietly_ended(ec)) {
    process_metrics().client_errors++;
    co_await write_and_close(stream, error_response(http_request{}, http::status::bad_request,
                                                    "bad_request", "unreadable HTTP request"));
  }
  co_return std::nullopt;
}

// An upgrade the daemon accepts: the endpoint and the principal (none yet
// for the protocol endpoint when it will authenticate with hello).
struct accepted_upgrade {
  websocket_target where;
  std::optional<auth::principal> who;
};

// What to do with a WebSocket upgrade: the HTTP error that refuses it, or
// the session to start.
std::variant<http_response, accepted_upgrade> decide_upgrade(const http_request& req,
                                                             http_context& ctx,
                                                             const request_origin& from) {
  std::string_view target(req.target().data(), req.target().size());
  auto where = from.admin_listener ? std::nullopt : websocket_route(target);
  if (!where)
    return error_response(req, http::status::not_found, "not_found", "no WebSocket endpoint here");
  auto admitted = admit_upgrade(req, *where, ctx, from);
  if (auto* refused = std::get_if<refusal>(&admitted))
    return error_response(req, refused->status, refused->code, refused->message);
  if (static_cast<std::size_t>(process_metrics().connections_open) >= ctx.cfg.max_clients) {
    return error_response(req, http::status::service_unavailable, "too_many_clients",
                          "try another instance");
  }
  return accepted_upgrade{std::move(*where), std::move(std::get<1>(admitted))};
}

// A Server-Sent Events stream the daemon accepts: what it follows, for whom.
struct accepted_sse {
  sse_request request;
  auth::principal who;
};

// The same gate as an upgrade to a compatibility endpoint: the browser
// checks, a credential in the Authorization header, a grant of the topic.
std::variant<http_response, accepted_sse> decide_sse(const http_request& req, http_context& ctx,
                                                     const request_origin& from) {
  if (from.admin_listener)
    return error_response(req, http::status::not_found, "not_found", "no event stream here");
  if (auto refused = ctx.door.check_browser(req, from.tls))
    return error_response(req, refused->status, refused->code, refused->message);
  auto parsed = parse_sse_request(req);
  if (auto* refused = std::get_if<refusal>(&parsed))
    return error_response(req, refused->status, refused->code, refused->message);
  auto credential = gate::header_credential(req);
  auth::verdict verdict = ctx.door.authenticate(credential, from.peer);
  if (!verdict.who) return unauthorized_response(req, credential.has_value(), verdict);
  auto& request = std::get<sse_request>(parsed);
  if (!gate::may_read(*verdict.who, request.topic))
    return error_response(req, http::status::forbidden, "forbidden",
                          "your token does not grant '" + request.topic + "'");
  if (static_cast<std::size_t>(process_metrics().connections_open) >= ctx.cfg.max_clients)
    return error_response(req, http::status::service_unavailable, "too_many_clients",
                          "try another instance");
  return accepted_sse{std::move(request), std::move(*verdict.who)};
}

// One implementation for plain and TLS connections (Stream: beast::tcp_stream
// or tls_stream). tls: the context a TLS connection was accepted with.
template <class Stream>
asio::awaitable<void> serve(Stream stream, connection_slot slot, http_context& ctx, shard& home,
                            request_origin from, std::shared_ptr<asio::ssl::context> tls) {
  // Handshaking connections count against --max-http-connections too: a
  // stalled handshake is what a slow-loris client would send.
  bool admitted = slot.enter_http();
  if (!co_await handshake(stream, ctx.cfg, from)) co_return;
  if (!admitted) {
    co_await write_and_close(
        stream, error_response(http_request{}, http::status::service_unavailable,
                               "too_many_connections", "the daemon is at --max-http-connections"));
    co_return;
  }
  beast::flat_buffer buffer;
  while (true) {
    std::optional<http_request> req = co_await read_request(stream, buffer, ctx.cfg);
    if (!req) co_return;
    if (websocket::is_upgrade(*req)) {
      // Refused, or handed with the stream and the slot to a ws_session:
      // either way the connection is no longer served here.
      auto decision = decide_upgrade(*req, ctx, from);
      if (auto* refused = std::get_if<http_response>(&decision)) {
        co_await write_and_close(stream, std::move(*refused));
        co_return;
      }
      auto& accepted = std::get<accepted_upgrade>(decision);
      beast::get_lowest_layer(stream).expires_never();
      slot.leave_http();
      using layer = std::remove_cvref_t<decltype(websocket_layer(std::move(stream)))>;
      std::make_shared<ws_session<layer>>(websocket_layer(std::move(stream)), std::move(slot), ctx,
                                          home, std::move(accepted.where), std::move(accepted.who),
                                          from.peer, std::move(tls))
          ->start(std::move(*req));
      co_return;
    }
    std::string_view target(req->target().data(), req->target().size());
    if (is_sse_target(target) && !websocket::is_upgrade(*req)) {
      auto decision = decide_sse(*req, ctx, from);
      if (auto* refused = std::get_if<http_response>(&decision)) {
        if (!co_await respond(stream, std::move(*refused))) co_return;
        continue;
      }
      // Handed with the stream and the slot to the event stream, as an upgrade is.
      auto& accepted = std::get<accepted_sse>(decision);
      beast::get_lowest_layer(stream).expires_never();
      slot.leave_http();
      std::make_shared<sse_session<Stream>>(std::move(stream), std::move(slot), ctx, home,
                                            std::move(accepted.request), std::move(accepted.who),
                                            from.peer, std::move(tls))
          ->start();
      co_return;
    }
    if (is_api_target(target)) {
      http_response res = co_await answer_api_request(*req, ctx, from);
      if (!co_await respond(stream, std::move(res))) co_return;
      continue;
    }
    if (!co_await respond(stream, route_request(*req, ctx, from))) co_return;
  }
}

// The slot is released with the coroutine's frame; say what went wrong.
void log_session_failure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log(log_level::error, "http_session_failed", {{"error", e.what()}});
  }
}

}  // namespace

void start_http_session(asio::ip::tcp::socket socket, connection_slot slot, http_context& context,
                        shard& home, bool admin_listener, std::shared_ptr<asio::ssl::context> tls) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  request_origin from{tls != nullptr, admin_listener, ec ? "?" : peer.address().to_string()};
  auto executor = socket.get_executor();
  if (!tls) {
    asio::co_spawn(executor,
                   serve(beast::tcp_stream(std::move(socket)), std::move(slot), context, home,
                         std::move(from), nullptr),
                   log_session_failure);
    return;
  }
  tls_stream stream(beast::tcp_stream(std::move(socket)), *tls);
  asio::co_spawn(
      executor,
      serve(std::move(stream), std::move(slot), context, home, std::move(from), std::move(tls)),
      log_session_failure);
}

}  // namespace queuecast
