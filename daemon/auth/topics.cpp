#include "auth/topics.hpp"

namespace queuecast::auth {

// The classic iterative glob: on a mismatch after a '*', retry with the star
// swallowing one more character. Only the last star needs remembering, so
// each text position is revisited at most once per star: no backtracking
// explosion on patterns like "*a*a*a*a*b".
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen
  std::size_t resume = 0;                     // text position that star resumes from
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool topic_allowed(const principal& p, std::string_view topic) {
  for (const auto& pattern : p.topic_patterns) {
    if (glob_match(pattern, topic)) return true;
  }
  return false;
}

}  // namespace queuecast::auth
