// The store and the hub, shared by the feed (the main thread) and the
// sessions (their shards' threads) behind one lock. Whoever changes the
// store or talks to the hub does it inside with(); what the hub sent to
// sessions is handed to their shards before the lock is released, so each
// session receives frames in the order the hub produced them. The lock is
// held for the hub's bookkeeping only: encoding happens once per frame, and
// the system calls that send it happen on the shards, outside the lock.
//
// Rules that keep it deadlock-free: nothing inside with() calls with()
// again, and nothing inside it waits for a shard (a shard's drain never
// takes this lock while it delivers).
#pragma once

#include <mutex>
#include <utility>

#include "../state/store.hpp"
#include "hub.hpp"
#include "shards.hpp"

namespace queuecast {

class shared_hub {
 public:
  shared_hub(store& state, hub& fanout, shard_pool& shards)
      : state_(state), hub_(fanout), shards_(shards) {}
  shared_hub(const shared_hub&) = delete;
  shared_hub& operator=(const shared_hub&) = delete;

  // Runs f(hub&, store&) under the lock and returns its result (a value:
  // references into the store must not escape the lock).
  template <class F>
  auto with(F&& f) {
    std::lock_guard lock(mutex_);
    hand_over_at_exit hand_over{shards_};
    return std::forward<F>(f)(hub_, state_);
  }

 private:
  struct hand_over_at_exit {
    shard_pool& shards;
    ~hand_over_at_exit() { shards.hand_over(); }
  };

  std::mutex mutex_;
  store& state_;
  hub& hub_;
  shard_pool& shards_;
};

}  // namespace queuecast
