#include "change.hpp"

#include "json_text.hpp"

namespace queuecast {

namespace {

void append_optional_string(std::string& out, const std::optional<std::string>& value) {
  if (value) {
    append_json_string(out, *value);
  } else {
    out += "null";
  }
}

}  // namespace

namespace {
constexpr std::string_view seq_placeholder = "{\"seq\":0,";
}  // namespace

void set_inline_seq(std::string& json, std::int64_t seq) {
  json.replace(0, seq_placeholder.size(), "{\"seq\":" + std::to_string(seq) + ",");
}

std::string inline_json(const change& c) {
  std::string out;
  out.reserve(96 + c.topic.size() + c.key.size() + (c.data ? c.data->size() : 4));
  out += seq_placeholder;
  out += "\"topic\":";
  append_json_string(out, c.topic);
  out += ",\"entity\":";
  append_json_string(out, c.entity);
  out += ",\"key\":";
  append_json_string(out, c.key);
  out += ",\"op\":";
  append_json_string(out, c.op);
  out += ",\"old_status\":";
  append_optional_string(out, c.old_status);
  out += ",\"new_status\":";
  append_optional_string(out, c.new_status);
  out += ",\"data\":";
  out += c.data ? *c.data : "null";
  out += '}';
  return out;
}

}  // namespace queuecast
