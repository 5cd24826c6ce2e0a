// One HTTP connection, plain or TLS: reads requests, answers them (http_routes) and hands
// WebSocket upgrades, once the gate let them through, to a ws_session.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "connection_limits.hpp"
#include "http_routes.hpp"
#include "shards.hpp"

namespace queuecast {

// Serves one accepted connection, on its shard (the socket's executor must
// be the shard's); the slot is held until it ends. With a TLS context the
// connection speaks TLS only (https://, wss://).
void start_http_session(boost::asio::ip::tcp::socket socket, connection_slot slot,
                        http_context& context, shard& home, bool admin_listener,
                        std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace queuecast
