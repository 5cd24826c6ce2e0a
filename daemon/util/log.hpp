// Operator-readable logs: one line per event, `key=value` fields, to stderr.
//   2026-11-24T13:40:00.123Z level=info event=db_connected role=listen
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace queuecast {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3 };

bool parse_log_level(std::string_view text, log_level& out);
void set_log_level(log_level level);
bool log_enabled(log_level level);

using log_field = std::pair<std::string_view, std::string>;
void log(log_level level, std::string_view event, std::initializer_list<log_field> fields = {});

}  // namespace queuecast
