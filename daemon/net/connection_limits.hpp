// Limits on connections that no single client can exhaust: connections per
// client address (HTTP and WebSocket alike) and plain HTTP connections in
// all. A slot is held for as long as its connection lives and given back by
// its destructor, whatever ends the connection. Slots are taken on the
// accepting thread and given back on the connection's shard: one lock.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>

#include "../config.hpp"

namespace queuecast {

class connection_limits;

class connection_slot {
 public:
  connection_slot(connection_slot&& other) noexcept;
  connection_slot& operator=(connection_slot&&) = delete;
  connection_slot(const connection_slot&) = delete;
  ~connection_slot();

  // Counts this connection as plain HTTP; false when that limit is reached.
  bool enter_http();
  // The connection became a WebSocket: it no longer counts as HTTP.
  void leave_http();
  const boost::asio::ip::address& address() const { return address_; }

 private:
  friend class connection_limits;
  connection_slot(connection_limits* owner, boost::asio::ip::address address)
      : owner_(owner), address_(address) {}
  connection_limits* owner_;
  boost::asio::ip::address address_;
  bool http_ = false;
};

class connection_limits {
 public:
  explicit connection_limits(const config& cfg) : cfg_(cfg) {}
  // A slot for one more connection from `address`, or nullopt when that
  // address already holds --max-connections-per-ip.
  std::optional<connection_slot> admit(const boost::asio::ip::address& address);

  std::size_t http_connections() const {
    std::lock_guard lock(mutex_);
    return http_;
  }

 private:
  friend class connection_slot;
  mutable std::mutex mutex_;
  const config& cfg_;
  std::map<boost::asio::ip::address, std::size_t> per_address_;
  std::size_t http_ = 0;
};

}  // namespace queuecast
