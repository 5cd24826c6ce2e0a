// Fuzzes plain HTTP requests the way daemon/net/http_session.cpp reads them:
// raw bytes into Beast's request parser (16 KiB of headers, 64 KiB of
// body), and every request that parses goes through route_request() (never
// throws), websocket_route(), parse_api_request() and gate::header_credential(). The first byte
// picks where the request arrived and which configuration serves it; the
// rest is the request.
#include <boost/beast/core/buffers_to_string.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth_fixture.hpp"
#include "fixed_state.hpp"
#include "net/api_request.hpp"
#include "net/sse_request.hpp"
#include "net/http_routes.hpp"
#include "util/log.hpp"

namespace {

using namespace queuecast;

// The daemon on loopback with defaults, and one on every interface with an
// admin listener, allowed hosts and origins.
config make_config(bool public_listener) {
  config cfg;
  if (public_listener) {
    cfg.listen_host = "0.0.0.0";
    cfg.admin_host = "127.0.0.1";
    cfg.admin_port = 9090;
    cfg.allowed_hosts = {"queues.example.com", "127.0.0.1:8080"};
    cfg.allowed_origins = {"https://dash.example.com"};
  }
  return cfg;
}

struct served {
  config cfg;
  store state = fuzz::loaded_state();
  hub fanout{state};
  shard_pool shards{0, nullptr};  // no sessions here: nothing to hand over
  shared_hub shared{state, fanout, shards};
  gate door{cfg, fuzz::hs256_verifier()};
  explicit served(bool public_listener) : cfg(make_config(public_listener)) {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static bool quiet = (set_log_level(log_level::error), true);
  (void)quiet;
  static served loopback(false), public_daemon(true);
  const std::uint8_t selector = data[0];
  served& where = selector & 4 ? public_daemon : loopback;
  request_origin from{(selector & 1) != 0, (selector & 2) != 0, "198.51.100.7"};
  bool ready = (selector & 8) == 0;

  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(where.cfg.max_message_bytes);
  boost::beast::error_code ec;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!bytes.empty() && !parser.is_done()) {
    std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;  // the session answers 400 and closes
    if (used == 0) break;
    bytes.remove_prefix(used);
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  http_request req = parser.release();

  http_context ctx{where.cfg, where.shared, where.door, [ready] { return ready; },
                   [] { return std::string("loading"); }};
  http_response res = route_request(req, ctx, from);
  if (res.result() == http::status::internal_server_error) std::abort();  // something threw
  (void)websocket_route(std::string_view(req.target().data(), req.target().size()));
  // The operators' API: its parsing (the statements need a database).
  if (is_api_target(std::string_view(req.target().data(), req.target().size())))
    (void)parse_api_request(req);
  if (is_sse_target(std::string_view(req.target().data(), req.target().size()))) {
    auto sse = parse_sse_request(req);
    if (auto* parsed = std::get_if<sse_request>(&sse)) (void)sse_event(parsed->topic);
  }
  (void)gate::header_credential(req);
  return 0;
}
