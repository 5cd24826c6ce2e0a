#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace queuecast {

namespace {

log_level threshold = log_level::info;

const char* name_of(log_level level) {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "?";
}

// Values with spaces or quotes are quoted so a line stays machine-splittable.
void append_value(std::string& line, const std::string& value) {
  bool plain = !value.empty() && value.find_first_of(" \"=\n") == std::string::npos;
  if (plain) {
    line += value;
    return;
  }
  line += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') line += '\\';
    line += c == '\n' ? ' ' : c;
  }
  line += '"';
}

}  // namespace

bool parse_log_level(std::string_view text, log_level& out) {
  for (log_level level : {log_level::debug, log_level::info, log_level::warn, log_level::error}) {
    if (text == name_of(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

void set_log_level(log_level level) {
  threshold = level;
}
bool log_enabled(log_level level) {
  return level >= threshold;
}

void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line = stamp;
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis));
  line += ms;
  line += " level=";
  line += name_of(level);
  line += " event=";
  line += event;
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    append_value(line, value);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace queuecast
