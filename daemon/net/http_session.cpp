#include "http_session.hpp"

#include "../util/log.hpp"
#include "../util/metrics.hpp"
#include "ws_session.hpp"

namespace queuecast {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

// A request line and headers larger than this are refused (431 by Beast).
constexpr std::uint32_t max_header_bytes = 16 * 1024;
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

template <class Response>
asio::awaitable<void> write_and_close(beast::tcp_stream& stream, Response res) {
  res.keep_alive(false);
  co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> serve(beast::tcp_stream stream, connection_slot slot, http_context& ctx,
                            request_origin from) {
  beast::flat_buffer buffer;
  if (!slot.enter_http()) {
    http_request req;
    co_await write_and_close(
        stream, error_response(req, http::status::service_unavailable, "too_many_connections",
                               "the daemon is at --max-http-connections"));
    co_return;
  }
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(max_header_bytes);
    parser.body_limit(ctx.cfg.max_message_bytes);
    stream.expires_after(request_timeout);
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != asio::error::connection_reset && ec != asio::error::eof) {
        process_metrics().client_errors++;
        co_await write_and_close(stream, error_response(http_request{}, http::status::bad_request,
                                                        "bad_request", "unreadable HTTP request"));
      }
      co_return;
    }
    http_request req = parser.release();
    if (websocket::is_upgrade(req)) {
      std::string_view target(req.target().data(), req.target().size());
      auto where = from.admin_listener ? std::nullopt : websocket_route(target);
      if (!where) {
        co_await write_and_close(stream, error_response(req, http::status::not_found, "not_found",
                                                        "no WebSocket endpoint here"));
        co_return;
      }
      auto admitted = admit_upgrade(req, *where, ctx, from);
      if (auto* refused = std::get_if<refusal>(&admitted)) {
        co_await write_and_close(
            stream, error_response(req, refused->status, refused->code, refused->message));
        co_return;
      }
      if (static_cast<std::size_t>(process_metrics().connections_open) >= ctx.cfg.max_clients) {
        co_await write_and_close(
            stream, error_response(req, http::status::service_unavailable, "too_many_clients",
                                   "try another instance"));
        co_return;
      }
      stream.expires_never();
      slot.leave_http();
      std::make_shared<ws_session>(std::move(stream), std::move(slot), ctx, *where,
                                   std::move(std::get<1>(admitted)), from.peer)
          ->start(std::move(req));
      co_return;
    }
    http_response res = route_request(req, ctx, from);
    bool keep_alive = res.keep_alive();
    auto [write_ec, written] =
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !keep_alive) co_return;
  }
}

}  // namespace

void start_http_session(asio::ip::tcp::socket socket, connection_slot slot, http_context& context,
                        bool admin_listener) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  request_origin from{false, admin_listener, ec ? "?" : peer.address().to_string()};
  auto executor = socket.get_executor();
  asio::co_spawn(
      executor,
      serve(beast::tcp_stream(std::move(socket)), std::move(slot), context, std::move(from)),
      [](std::exception_ptr error) {
        // The slot is released with the coroutine's frame; say what went wrong.
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log(log_level::error, "http_session_failed", {{"error", e.what()}});
        }
      });
}

}  // namespace queuecast
