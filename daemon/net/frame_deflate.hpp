// A frame's payload with its permessage-deflate form (RFC 7692), compressed
// once per frame: every client that negotiated the extension gets the same
// compressed bytes, as every client gets the same text (messages.hpp).
//
// The compression is done on first use, by whichever session writes the
// frame first to a deflate client (a frame nobody with the extension gets
// is never compressed), and without context takeover: each message is a
// deflate stream of its own, which is what lets one compression serve all
// clients, whatever they received before. Sessions may run on several
// threads: std::call_once makes the first use safe, and costs an atomic
// load afterwards.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

namespace queuecast {

// Messages shorter than this go uncompressed (RSV1 clear, allowed per
// message). Measured with zlib's default level, no context: a welcome (70
// bytes) deflates to 68, a subscribed (86) to 78, a pong (33) grows to 35;
// a one-phase delta (438) shrinks to 289, its first 256 bytes to 185. The
// short messages are mostly replies to one client (welcome, subscribed,
// pong, errors), frames of their own that would each be compressed for one
// client only: below 256 bytes that costs more than the few bytes it saves.
inline constexpr std::size_t deflate_min_bytes = 256;

// The raw deflate of text for one permessage-deflate message: the 32 KB
// window, flushed with Z_SYNC_FLUSH and without the final 00 00 ff ff
// (RFC 7692 §7.2.1).
std::string deflate_message(std::string_view text);

// A frame's text. It is a std::string (everything that reads a frame reads
// it as one), and it carries the compressed form, made once.
class frame_text : public std::string {
 public:
  explicit frame_text(std::string text) : std::string(std::move(text)) {}

  // The payload to send with RSV1 set, or null when the message goes
  // uncompressed (shorter than deflate_min_bytes, or no smaller deflated).
  const std::string* deflated() const;

  // The text as one Server-Sent Events event ("id:" and "data:" lines,
  // net/sse_request.hpp), made on first use like the compressed form, so
  // every event-stream client of the frame writes the same bytes.
  const std::string& sse_event() const;

 private:
  mutable std::once_flag once_;
  mutable std::string deflated_;
  mutable bool worth_it_ = false;
  mutable std::once_flag sse_once_;
  mutable std::string sse_;
};

}  // namespace queuecast
