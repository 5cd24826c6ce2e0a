// One HTTP connection: reads requests, answers them (http_routes) and hands
// WebSocket upgrades, once the gate let them through, to a ws_session.
#pragma once

#include <boost/asio.hpp>

#include "connection_limits.hpp"
#include "http_routes.hpp"

namespace queuecast {

// Serves one accepted connection; the slot is held until it ends.
void start_http_session(boost::asio::ip::tcp::socket socket, connection_slot slot,
                        http_context& context, bool admin_listener);

}  // namespace queuecast
