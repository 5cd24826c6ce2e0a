#include "conninfo.hpp"

#include <libpq-fe.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cstdlib>

#include "connection.hpp"

namespace queuecast {

namespace {

using namespace asio::experimental::awaitable_operators;

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    auto comma = list.find(',', start);
    items.push_back(list.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

std::string join_commas(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out;
}

std::string* find(conninfo_params& params, const std::string& key) {
  for (auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace

conninfo_params parse_conninfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (!options) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw pg_failure("invalid --database: " + message);
  }
  conninfo_params params;
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    if (o->val) params.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(options);
  return params;
}

bool is_host_name(const std::string& host) {
  if (host.empty() || host.front() == '/' || host.front() == '@') return false;
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return static_cast<bool>(ec);
}

asio::awaitable<conninfo_params> resolve_hosts(conninfo_params params,
                                               std::chrono::milliseconds timeout) {
  std::string* host_list = find(params, "host");
  // libpq falls back to PGHOST; resolve that too, or libpq would block on it.
  const char* env_host = std::getenv("PGHOST");
  if (!host_list && env_host && *env_host) {
    params.emplace_back("host", env_host);
    host_list = &params.back().second;
  }
  if (!host_list || find(params, "hostaddr")) co_return params;  // nothing to resolve
  std::vector<std::string> hosts = split_commas(*host_list);
  std::string* port_list = find(params, "port");
  std::vector<std::string> ports =
      port_list ? split_commas(*port_list) : std::vector<std::string>{};
  if (ports.size() > 1 && ports.size() != hosts.size()) co_return params;  // libpq says why

  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  std::vector<std::string> out_hosts, out_addrs, out_ports;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    std::string port = ports.size() > 1 ? ports[i] : (ports.empty() ? "" : ports[0]);
    if (!is_host_name(hosts[i])) {
      out_hosts.push_back(hosts[i]);
      out_addrs.emplace_back();
      out_ports.push_back(port);
      continue;
    }
    asio::steady_timer timer(executor, timeout);
    auto outcome =
        co_await (resolver.async_resolve(hosts[i], "", asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) {
      resolver.cancel();
      throw pg_failure("could not resolve host name \"" + hosts[i] + "\": timed out");
    }
    auto [ec, results] = std::get<0>(outcome);
    if (ec) throw pg_failure("could not translate host name \"" + hosts[i] + "\": " + ec.message());
    for (const auto& entry : results) {
      out_hosts.push_back(hosts[i]);
      out_addrs.push_back(entry.endpoint().address().to_string());
      out_ports.push_back(port);
    }
  }
  *host_list = join_commas(out_hosts);
  params.emplace_back("hostaddr", join_commas(out_addrs));
  if (port_list) *port_list = join_commas(out_ports);
  co_return params;
}

}  // namespace queuecast
