// The names of topics (docs/protocol.md): queue:<name>, workflows,
// workflow:<id>. One place that builds and parses them, so no caller counts
// prefix lengths by hand.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace queuecast {

inline constexpr std::string_view queue_topic_prefix = "queue:";
inline constexpr std::string_view workflow_topic_prefix = "workflow:";
inline constexpr std::string_view workflows_topic = "workflows";

inline std::string queue_topic(std::string_view queue) {
  return std::string(queue_topic_prefix).append(queue);
}

inline std::string workflow_topic(std::int64_t id) {
  return std::string(workflow_topic_prefix) + std::to_string(id);
}

// "queue:<name>" -> <name>; nullopt for any other topic. The name is not
// checked (topics a client names are checked against the state).
inline std::optional<std::string_view> queue_of_topic(std::string_view topic) {
  if (!topic.starts_with(queue_topic_prefix)) return std::nullopt;
  return topic.substr(queue_topic_prefix.size());
}

// "workflow:<id>" -> <id>; nullopt for any other topic, and when <id> is not
// a decimal integer in full (so "workflow:5x" is no topic of workflow 5).
inline std::optional<std::int64_t> workflow_of_topic(std::string_view topic) {
  if (!topic.starts_with(workflow_topic_prefix)) return std::nullopt;
  std::string_view digits = topic.substr(workflow_topic_prefix.size());
  std::int64_t id = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size())
    return std::nullopt;
  return id;
}

}  // namespace queuecast
