// Fuzzes the history rows the daemon reads from queuecast.changes (one JSON
// text per line, as the catch-up query returns them, in one batch) through
// the path daemon/pg/feed.cpp takes: parse, change_from_json, the
// change_problem verdict, then store::apply on a small loaded state and the
// documents of the touched topics. A row the daemon refuses makes it reload
// (state_diverged); any other exception escaping, or a crash, is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "state/change.hpp"
#include "state/store.hpp"
#include "fixed_state.hpp"

namespace {

using namespace queuecast;

// The rows of the input, or an empty batch when a line is not a history row
// (feed.cpp's parse_history_row: the daemon reloads).
std::vector<change_row> read_rows(std::string_view text) {
  std::vector<change_row> rows;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    boost::system::error_code ec;
    json::value parsed = json::parse(line, ec);
    if (ec || !parsed.is_object()) return {};
    try {
      rows.push_back(change_from_json(parsed.as_object()));
    } catch (const std::exception&) {  // documented: missing key or wrong type
      return {};
    }
  }
  return rows;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<change_row> rows = read_rows({reinterpret_cast<const char*>(data), size});
  if (rows.empty()) return 0;
  store state = fuzz::loaded_state();
  std::int64_t previous = state.seq();
  bool fit = true;
  for (const change_row& row : rows) {
    if (change_problem(row, previous)) {
      fit = false;
      break;
    }
    previous = row.seq;
  }
  try {
    std::vector<topic_update> updates = state.apply(rows);
    if (!fit) std::abort();  // apply() must refuse what change_problem refuses
    for (const topic_update& update : updates) {
      if (!update.deleted) (void)state.document(update.topic);
    }
  } catch (const state_diverged&) {
    if (!fit && state.seq() != fuzz::loaded_state().seq())
      std::abort();  // refused rows change nothing
  }
  return 0;
}
