// Fuzzes what a WebSocket client sends: parse_client_message() is noexcept,
// so any exception inside it terminates the process and shows up as a crash.
// Every input is either a request or a bad_request with a stable code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  queuecast::client_message message = queuecast::parse_client_message(text);
  if (auto* bad = std::get_if<queuecast::bad_request>(&message); bad && bad->code.empty())
    std::abort();  // every refusal names its code (docs/protocol.md)
  return 0;
}
