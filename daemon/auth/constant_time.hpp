// Comparing secrets without telling an attacker how much of a guess was right.
#pragma once

#include <string_view>

namespace queuecast::auth {

// Hashes both with SHA-256 and compares the digests with CRYPTO_memcmp: no
// early exit, and the time depends on the lengths only through hashing each
// input, never on where the first difference is.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace queuecast::auth
