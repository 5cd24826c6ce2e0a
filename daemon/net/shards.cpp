#include "shards.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "../util/log.hpp"

namespace queuecast {

void shard::hand_over() {
  if (staged_.empty()) return;
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    if (inbox_.empty()) {
      inbox_.swap(staged_);
    } else {
      inbox_.insert(inbox_.end(), std::make_move_iterator(staged_.begin()),
                    std::make_move_iterator(staged_.end()));
      staged_.clear();
    }
    post = !std::exchange(drain_posted_, true);
  }
  if (post) asio::post(ioc_, [this] { drain(); });
}

void shard::drain() {
  if (draining_) return;
  {
    std::lock_guard lock(mutex_);
    drain_posted_ = false;
    if (inbox_.empty()) return;
    work_.swap(inbox_);
  }
  draining_ = true;
  for (delivery& d : work_) {
    std::shared_ptr<subscriber_sink> to = d.to.lock();
    if (!to) continue;
    switch (d.what) {
      case delivery::kind::send:
        to->send(std::move(d.payload));
        break;
      case delivery::kind::send_latest:
        to->send_latest(d.text, std::move(d.payload));
        break;
      case delivery::kind::dropped:
        to->dropped(d.text);
        break;
      case delivery::kind::close:
        to->close(d.code, std::move(d.text));
        break;
    }
  }
  work_.clear();
  // Sessions that kept conflated states in this batch write them now: when
  // the shard falls behind, a batch spans several commits, and each session
  // writes only the newest.
  for (std::weak_ptr<subscriber_sink>& weak : after_drain_)
    if (std::shared_ptr<subscriber_sink> to = weak.lock()) to->batch_delivered();
  after_drain_.clear();
  draining_ = false;
}

bool shard::after_drain(std::weak_ptr<subscriber_sink> to) {
  if (!draining_) return false;
  after_drain_.push_back(std::move(to));
  return true;
}

void shard::forget_latest(const std::weak_ptr<subscriber_sink>& to, const std::string& topic) {
  auto stale = [&](const delivery& d) {
    bool same_session = !d.to.owner_before(to) && !to.owner_before(d.to);
    return same_session && d.what == delivery::kind::send_latest && d.text == topic;
  };
  std::erase_if(staged_, stale);
  std::lock_guard lock(mutex_);
  std::erase_if(inbox_, stale);
}

void shard_sink::send(frame f) {
  home_.stage({session_, delivery::kind::send, 0, {}, std::move(f)});
}

void shard_sink::send_latest(const std::string& topic, frame f) {
  home_.stage({session_, delivery::kind::send_latest, 0, topic, std::move(f)});
}

void shard_sink::dropped(const std::string& topic) {
  home_.stage({session_, delivery::kind::dropped, 0, topic, nullptr});
}

void shard_sink::close(std::uint16_t code, std::string reason) {
  home_.stage({session_, delivery::kind::close, code, std::move(reason), nullptr});
}

shard_pool::shard_pool(std::size_t count, std::function<void(const std::string&)> on_failure)
    : on_failure_(std::move(on_failure)) {
  for (std::size_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<shard>());
}

shard_pool::~shard_pool() {
  stop();
  // Sessions still queued in a loop are destroyed with their shard and leave
  // the hub then (which hands over to every shard): a dying shard must no
  // longer be among them.
  while (!shards_.empty()) {
    std::unique_ptr<shard> last = std::move(shards_.back());
    shards_.pop_back();
  }
}

void shard_pool::start() {
  for (auto& s : shards_) {
    threads_.emplace_back([this, ioc = &s->context()] {
      // Idle shards keep running until stop().
      auto work = asio::make_work_guard(*ioc);
      try {
        ioc->run();
      } catch (const std::exception& e) {
        log(log_level::error, "shard_failed", {{"error", e.what()}});
        on_failure_(e.what());
      }
    });
  }
}

void shard_pool::stop() {
  for (auto& s : shards_) s->context().stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

shard& shard_pool::next() {
  shard& chosen = *shards_[next_];
  next_ = (next_ + 1) % shards_.size();
  return chosen;
}

void shard_pool::hand_over() {
  for (auto& s : shards_) s->hand_over();
}

}  // namespace queuecast
