// Which topics a principal may read: glob patterns from the `topics` claim.
#pragma once

#include <string_view>

#include "auth/verifier.hpp"

namespace queuecast::auth {

// '*' matches any run of characters, including none; '?' exactly one
// character; everything else itself. The whole topic must match: so
// "queue:billing-*" allows "queue:billing-eu" and "queue:billing-" but not
// "queue:billing". Runs in O(pattern * topic) at worst, never exponential.
bool glob_match(std::string_view pattern, std::string_view text);

// True when any of the principal's patterns matches; no patterns, nothing.
bool topic_allowed(const principal& p, std::string_view topic);

}  // namespace queuecast::auth
