#include "frame_deflate.hpp"

#include <zlib.h>

#include <array>
#include <memory>
#include <stdexcept>

#include "../util/metrics.hpp"

namespace queuecast {

namespace {

constexpr int raw_window_bits = -15;  // negative: raw deflate, no zlib header
constexpr int memory_level = 8;       // zlib's default

// One deflate state per thread, reset between messages: deflateInit2
// allocates about 256 KB, far more than a message's compression costs.
class compressor {
 public:
  compressor() {
    if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, raw_window_bits, memory_level,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("deflateInit2 failed");
  }
  ~compressor() { deflateEnd(&z_); }
  compressor(const compressor&) = delete;
  compressor& operator=(const compressor&) = delete;

  std::string compress(std::string_view text) {
    deflateReset(&z_);
    std::string out(deflateBound(&z_, text.size()) + 16, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z_.avail_in = static_cast<uInt>(text.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    // deflateBound covers a sync flush's few bytes (the +16 is margin):
    // one call compresses the whole message.
    if (deflate(&z_, Z_SYNC_FLUSH) != Z_OK || z_.avail_in != 0)
      throw std::runtime_error("deflate failed");
    out.resize(out.size() - z_.avail_out);
    // The sync flush ends in an empty stored block, 00 00 ff ff, which the
    // receiver appends itself (RFC 7692 §7.2.1).
    static constexpr std::string_view tail("\x00\x00\xff\xff", 4);
    if (out.size() < tail.size() || std::string_view(out).substr(out.size() - tail.size()) != tail)
      throw std::runtime_error("deflate: no sync flush marker");
    out.resize(out.size() - tail.size());
    return out;
  }

 private:
  z_stream z_{};
};

}  // namespace

std::string deflate_message(std::string_view text) {
  thread_local compressor z;
  return z.compress(text);
}

const std::string* frame_text::deflated() const {
  if (size() < deflate_min_bytes) return nullptr;
  std::call_once(once_, [this] {
    try {
      deflated_ = deflate_message(*this);
      worth_it_ = deflated_.size() < size();
    } catch (const std::exception&) {
      worth_it_ = false;  // out of memory, say: the text is still there to send
    }
    if (!worth_it_) deflated_ = std::string();
    auto& m = process_metrics();
    m.deflate_compressions++;
    m.deflate_bytes_in += size();
    m.deflate_bytes_out += worth_it_ ? deflated_.size() : size();
  });
  return worth_it_ ? &deflated_ : nullptr;
}

}  // namespace queuecast
