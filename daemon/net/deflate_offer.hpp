// permessage-deflate (RFC 7692) negotiation: the server's answer to a
// client's Sec-WebSocket-Extensions offers.
//
// We compress each message once for every client of the extension
// (frame_deflate.hpp), so the one thing we need from a client is that it
// accepts messages compressed without context (server_no_context_takeover,
// which we always answer) and with our 32 KB window (a client asking for a
// smaller server_max_window_bits is declined: a second compression per
// window size would undo the sharing). The other direction is Beast's: it
// inflates what the client sends with whatever window the client uses, so
// client_max_window_bits and client_no_context_takeover in an offer are
// accepted and not echoed (RFC 7692 §7.1.1.2, §7.1.2.2 leave that to us).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace queuecast {

// offers: the request's Sec-WebSocket-Extensions values, joined with ", "
// when it sent the header more than once. The value of our
// Sec-WebSocket-Extensions answer, or nullopt to decline: no
// permessage-deflate offer we can honour, or a header that does not parse
// (RFC 7230 extension list syntax) - a client that cannot write the header
// is not trusted with the extension.
std::optional<std::string> answer_deflate_offers(std::string_view offers);

}  // namespace queuecast
