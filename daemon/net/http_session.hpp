// One HTTP connection: routes plain requests (snapshots, health, metrics,
// the dashboard's files) and hands WebSocket upgrades to a ws_session.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <functional>
#include <string>

#include "../config.hpp"
#include "hub.hpp"

namespace queuecast {

namespace asio = boost::asio;

class feed;

struct http_context {
  const config& cfg;
  store& state;
  hub& fanout;
  std::function<bool()> ready;
  std::function<std::string()> not_ready_reason;
};

void start_http_session(boost::asio::ip::tcp::socket socket, http_context& context);

}  // namespace queuecast
