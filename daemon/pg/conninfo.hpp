// A connection string taken apart into libpq keywords, with every host name
// resolved by Asio's asynchronous resolver. libpq's own connect resolves
// names with a blocking getaddrinfo(), which would stall the daemon's only
// I/O thread (every WebSocket client) for as long as DNS takes to answer.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace queuecast {

using conninfo_params = std::vector<std::pair<std::string, std::string>>;

// The keywords set in `conninfo` (key=value form or a postgresql:// URL).
// Throws pg_failure when libpq cannot parse it.
conninfo_params parse_conninfo(const std::string& conninfo);

// Sets hostaddr for every host that is a name (not a path, not an address),
// one entry per resolved address so libpq still tries each in turn; `host`
// stays, for TLS verification and .pgpass. Throws pg_failure naming the host
// when it does not resolve within `timeout`.
boost::asio::awaitable<conninfo_params> resolve_hosts(conninfo_params params,
                                                      std::chrono::milliseconds timeout);

// Whether a host entry needs DNS: not empty, not a socket directory, not a
// numeric address.
bool is_host_name(const std::string& host);

}  // namespace queuecast
