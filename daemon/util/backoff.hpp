// Exponential backoff with +-25 % jitter (so many daemons do not retry in
// step). It starts over only once the work succeeded again: a failure that
// comes back every time it is retried (a dead database, a history row that
// never fits) waits longer each time instead of spinning.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace queuecast {

class backoff {
 public:
  backoff(std::chrono::milliseconds first, std::chrono::milliseconds most)
      : first_(first), most_(most), next_(first) {}

  // The pause before the next attempt; each call doubles the one after.
  std::chrono::milliseconds next_pause() {
    auto pause = next_ * (75 + static_cast<int>(jitter_() % 51)) / 100;
    next_ = std::min(next_ * 2, most_);
    return pause;
  }
  void succeeded() { next_ = first_; }

 private:
  std::chrono::milliseconds first_, most_, next_;
  std::mt19937 jitter_{std::random_device{}()};
};

}  // namespace queuecast
