// Sessions live on several event-loop threads ("shards", one per core by
// default: --threads), so the system calls that carry frames to clients run
// on every core. The hub and the store stay behind one lock (shared_hub.hpp)
// and are driven by the main thread's feed; what the hub sends a session
// crosses to the session's shard as a `delivery`: staged while the hub's
// lock is held, then handed over with one lock and at most one post per
// shard per hub operation, never one per frame. Frames are immutable strings
// shared by pointer, so crossing threads copies no bytes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "messages.hpp"
#include "subscription_registry.hpp"

namespace queuecast {

namespace asio = boost::asio;

// One thing the hub asked of a session.
struct delivery {
  enum class kind : std::uint8_t { send, send_latest, dropped, close };
  std::weak_ptr<subscriber_sink> to;  // expired: the session is gone, the delivery is void
  kind what = kind::send;
  std::uint16_t code = 0;  // close
  std::string text;        // the topic (send_latest, dropped) or the close reason
  frame payload;           // send, send_latest
};

class shard {
 public:
  shard() = default;
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  asio::io_context& context() { return ioc_; }

  // With the hub's lock held (the hub is the only caller, through
  // shard_sink): queues a delivery until hand_over().
  void stage(delivery d) { staged_.push_back(std::move(d)); }
  // With the hub's lock held: moves the staged deliveries to the inbox, and
  // posts a drain unless one is pending. Under the hub's lock, so that every
  // session receives what the hub sent it in the order the hub sent it.
  void hand_over();
  // On the shard's thread: delivers what the inbox holds, in order. A
  // session calls it before it sends anything of its own, so that its own
  // replies never overtake what the hub sent it earlier. Does nothing when
  // called from inside a delivery.
  void drain();
  // On the shard's thread, from inside a delivery: `to` gets
  // batch_delivered() once the drain has handed out everything it took, so
  // a session writes the newest of a batch's conflated states, not each.
  // False outside a drain (nothing is registered).
  bool after_drain(std::weak_ptr<subscriber_sink> to);
  // With the hub's lock held: drops the snapshots for `topic` staged or
  // waiting in the inbox for the session `to` (it unsubscribed).
  void forget_latest(const std::weak_ptr<subscriber_sink>& to, const std::string& topic);

 private:
  asio::io_context ioc_{1};
  std::vector<delivery> staged_;  // guarded by the hub's lock
  std::mutex mutex_;
  std::vector<delivery> inbox_;  // guarded by mutex_
  bool drain_posted_ = false;    // guarded by mutex_
  bool draining_ = false;        // the shard's thread only
  std::vector<delivery> work_;   // the shard's thread only: reused between drains
  std::vector<std::weak_ptr<subscriber_sink>> after_drain_;  // the shard's thread only
};

// The hub's handle on a session that lives on a shard: every call is staged
// for that shard and reaches the session when the shard drains. Owned by the
// session, which unsubscribes it from the hub before it is destroyed.
class shard_sink final : public subscriber_sink {
 public:
  explicit shard_sink(shard& home) : home_(home) {}
  // The session the deliveries go to (its weak_from_this(), once it exists).
  void bind(std::weak_ptr<subscriber_sink> session) { session_ = std::move(session); }
  shard& home() const { return home_; }

  void send(frame f) override;
  void send_latest(const std::string& topic, frame f) override;
  void dropped(const std::string& topic) override;
  void close(std::uint16_t code, std::string reason) override;
  // With the hub's lock held: shard::forget_latest for this session.
  void forget_latest(const std::string& topic) { home_.forget_latest(session_, topic); }

 private:
  shard& home_;
  std::weak_ptr<subscriber_sink> session_;
};

// The shards and their threads.
class shard_pool {
 public:
  // count shards; each runs its event loop on a thread of its own from
  // start() until stop(). on_failure is called (on the failing thread) when
  // a shard's loop ends with an exception nothing else caught.
  shard_pool(std::size_t count, std::function<void(const std::string&)> on_failure);
  ~shard_pool();
  shard_pool(const shard_pool&) = delete;
  shard_pool& operator=(const shard_pool&) = delete;

  void start();
  // Stops every loop and joins the threads. Handlers still queued (sessions
  // among them) are destroyed with the shards, not here.
  void stop();

  std::size_t size() const { return shards_.size(); }
  // Where the next connection goes: round-robin.
  shard& next();
  // With the hub's lock held: every shard's hand_over().
  void hand_over();

 private:
  std::vector<std::unique_ptr<shard>> shards_;
  std::vector<std::thread> threads_;
  std::function<void(const std::string&)> on_failure_;
  std::size_t next_ = 0;
};

}  // namespace queuecast
