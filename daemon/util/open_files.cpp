#include "open_files.hpp"

#include <sys/resource.h>

namespace queuecast {

std::string ensure_open_files(std::size_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return "";  // cannot tell: go on
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return "";
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    return "the open-file limit allows " + std::to_string(limit.rlim_max) +
           " descriptors but the connection limits need " + std::to_string(needed) +
           ": raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) or lower --max-clients / "
           "--max-http-connections";
  }
  limit.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
    return "cannot raise the open-file limit to " + std::to_string(needed);
  return "";
}

}  // namespace queuecast
