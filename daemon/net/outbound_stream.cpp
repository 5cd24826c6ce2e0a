#include "outbound_stream.hpp"

namespace queuecast {

std::string frame_header(std::uint8_t opcode, std::size_t payload_bytes, bool rsv1) {
  constexpr std::uint8_t fin = 0x80;
  constexpr std::uint8_t rsv1_bit = 0x40;
  constexpr std::size_t max_7_bit = 125;
  constexpr std::size_t max_16_bit = 0xffff;
  std::string header;
  header.push_back(static_cast<char>(fin | (rsv1 ? rsv1_bit : 0) | (opcode & 0x0f)));
  // The length in 7 bits, or 126 and 16 bits, or 127 and 64 bits (network
  // order); no mask bit: servers do not mask.
  if (payload_bytes <= max_7_bit) {
    header.push_back(static_cast<char>(payload_bytes));
  } else if (payload_bytes <= max_16_bit) {
    header.push_back(static_cast<char>(126));
    header.push_back(static_cast<char>((payload_bytes >> 8) & 0xff));
    header.push_back(static_cast<char>(payload_bytes & 0xff));
  } else {
    header.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      header.push_back(
          static_cast<char>((static_cast<std::uint64_t>(payload_bytes) >> shift) & 0xff));
  }
  return header;
}

}  // namespace queuecast
