#include "auth/rejection.hpp"

namespace queuecast::auth {

std::string printable(std::string_view untrusted) {
  constexpr std::size_t limit = 64;
  std::string out;
  for (char c : untrusted.substr(0, limit)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

}  // namespace queuecast::auth
