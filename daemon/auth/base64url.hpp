// The base64url alphabet of JWTs and JWKs (RFC 4648 §5), strictly.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace queuecast::auth {

// Unpadded base64url to bytes. Refuses padding, characters outside the
// alphabet, impossible lengths and non-zero trailing bits, so that every byte
// string has exactly one accepted encoding (a changed character is always a
// changed value).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace queuecast::auth
