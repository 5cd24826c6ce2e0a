// Why a credential was refused, as the steps of verification report it.
#pragma once

#include <string>
#include <string_view>

namespace queuecast::auth {

struct rejection {
  std::string_view code;  // one of errc (verifier.hpp)
  std::string message;    // never contains the credential or a secret
};

// Text taken from a token (an alg, a kid) made safe to put in a log line:
// printable ASCII only, at most 64 characters.
std::string printable(std::string_view untrusted);

}  // namespace queuecast::auth
