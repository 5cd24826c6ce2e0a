// The process's open-file limit must fit every connection it may hold: each
// client is a socket, and PostgreSQL, the listeners and logs need a few more.
#pragma once

#include <cstddef>
#include <string>

namespace queuecast {

// Raises the soft RLIMIT_NOFILE to `needed` when the hard limit allows.
// Returns "" on success, or what to do when the hard limit is lower.
std::string ensure_open_files(std::size_t needed);

}  // namespace queuecast
