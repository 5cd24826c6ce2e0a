#include "connection_limits.hpp"

#include "../util/metrics.hpp"

namespace queuecast {

connection_slot::connection_slot(connection_slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      address_(std::move(other.address_)),
      http_(std::exchange(other.http_, false)) {}

connection_slot::~connection_slot() {
  if (!owner_) return;
  leave_http();
  std::lock_guard lock(owner_->mutex_);
  auto it = owner_->per_address_.find(address_);
  if (it != owner_->per_address_.end() && --it->second == 0) owner_->per_address_.erase(it);
}

bool connection_slot::enter_http() {
  if (http_) return true;
  std::lock_guard lock(owner_->mutex_);
  if (owner_->http_ >= owner_->cfg_.max_http_connections) {
    process_metrics().connections_refused.add("http_limit");
    return false;
  }
  ++owner_->http_;
  http_ = true;
  return true;
}

void connection_slot::leave_http() {
  if (!http_) return;
  std::lock_guard lock(owner_->mutex_);
  --owner_->http_;
  http_ = false;
}

std::optional<connection_slot> connection_limits::admit(const boost::asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  std::size_t& count = per_address_[address];
  if (count >= cfg_.max_connections_per_ip) {
    if (count == 0) per_address_.erase(address);
    process_metrics().connections_refused.add("per_ip_limit");
    return std::nullopt;
  }
  ++count;
  return connection_slot(this, address);
}

}  // namespace queuecast
