// The charts' answers (GET /api/v1/queues/<q>/stats), shared by every
// dashboard for a short while: each open dashboard asks every few seconds,
// and a thousand of them should cost the database one statement per queue
// and window in that time, not a thousand. Thread-safe (every shard asks).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace queuecast {

class stats_cache {
 public:
  // Shorter than the dashboard's refresh interval (charts.js: 5 s), so a
  // dashboard never draws the same answer twice.
  static constexpr auto time_to_live = std::chrono::seconds(2);
  // Windows are the caller's choice: at most this many answers are kept.
  static constexpr std::size_t max_entries = 256;

  std::optional<std::string> find(const std::string& queue, int minutes) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key(queue, minutes));
    if (it == entries_.end() || std::chrono::steady_clock::now() - it->second.made > time_to_live)
      return std::nullopt;
    return it->second.body;
  }

  void keep(const std::string& queue, int minutes, std::string body) {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (entries_.size() >= max_entries)
      std::erase_if(entries_, [&](const auto& e) { return now - e.second.made > time_to_live; });
    if (entries_.size() >= max_entries) entries_.clear();
    entries_[key(queue, minutes)] = entry{now, std::move(body)};
  }

 private:
  struct entry {
    std::chrono::steady_clock::time_point made;
    std::string body;
  };
  static std::string key(const std::string& queue, int minutes) {
    return std::to_string(minutes) + ":" + queue;
  }
  std::mutex mutex_;
  std::map<std::string, entry> entries_;
};

}  // namespace queuecast
