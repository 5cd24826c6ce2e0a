#include "messages.hpp"

#include <cctype>

namespace queuecast {

namespace {

bad_request bad(std::string code, std::string message, std::string topic = {}) {
  return bad_request{std::move(code), std::move(message), std::move(topic)};
}

// A string field, or nullopt when absent; throws bad_request when not a string.
std::optional<std::string> string_field(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw bad("bad_request", std::string("'") + name + "' must be a string");
  return std::string(v->as_string());
}

client_message parse_subscribe(const json::object& o, bool subscribe) {
  auto topic = string_field(o, "topic");
  if (!topic) return bad("bad_request", "'topic' is required");
  if (!valid_topic_syntax(*topic)) {
    return bad("unknown_topic",
               "topic '" + shown(*topic) + "' is not queue:<name>, workflows or workflow:<id>",
               shown(*topic));
  }
  if (!subscribe) return unsubscribe_request{*topic};
  subscribe_request request{*topic, sub_mode::snapshot, std::nullopt};
  if (auto mode = string_field(o, "mode")) {
    if (*mode == "delta") {
      request.mode = sub_mode::delta;
    } else if (*mode != "snapshot") {
      return bad("bad_request", "'mode' must be \"snapshot\" or \"delta\"", *topic);
    }
  }
  if (const json::value* since = o.if_contains("since"); since && !since->is_null()) {
    // A uint64 above INT64_MAX is no seq: to_number would throw on it.
    if (!since->is_int64())
      return bad("bad_request", "'since' must be an integer seq from 0 to 2^63-1", *topic);
    std::int64_t value = since->as_int64();
    if (value < 0) return bad("bad_request", "'since' must not be negative", *topic);
    request.since = value;
  }
  return request;
}

}  // namespace

std::string shown(std::string_view text) {
  if (text.size() <= max_shown_bytes) return std::string(text);
  std::size_t end = max_shown_bytes;
  // Back off over continuation bytes (10xxxxxx) to the start of a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

bool valid_topic_syntax(std::string_view topic) {
  if (topic == "workflows") return true;
  auto all_of = [](std::string_view s, std::size_t max_size, auto pred) {
    if (s.empty() || s.size() > max_size) return false;
    for (char c : s) {
      if (!pred(c)) return false;
    }
    return true;
  };
  if (topic.rfind(queue_topic_prefix, 0) == 0) {
    return all_of(topic.substr(queue_topic_prefix.size()), max_queue_name_bytes, [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
  }
  if (topic.rfind(workflow_topic_prefix, 0) == 0) {
    return all_of(topic.substr(workflow_topic_prefix.size()), max_workflow_id_digits,
                  [](char c) { return c >= '0' && c <= '9'; });
  }
  return false;
}

client_message parse_client_message(std::string_view text) noexcept try {
  json::value parsed;
  boost::system::error_code ec;
  parsed = json::parse(text, ec);
  if (ec) return bad("bad_json", "the message is not valid JSON");
  if (!parsed.is_object())
    return bad("bad_request", "a message must be a JSON object with a \"type\"");
  const json::object& o = parsed.as_object();
  try {
    auto type = string_field(o, "type");
    if (!type) return bad("bad_request", "'type' is required");
    if (*type == "subscribe") return parse_subscribe(o, true);
    if (*type == "unsubscribe") return parse_subscribe(o, false);
    if (*type == "ping") {
      const json::value* id = o.if_contains("id");
      return ping_request{id ? *id : json::value(nullptr)};
    }
    if (*type == "hello") return hello_request{string_field(o, "token").value_or("")};
    if (*type == "auth") {
      auto token = string_field(o, "token");
      if (!token) return bad("bad_request", "'token' is required");
      return auth_request{*token};
    }
    return bad("unknown_type", "unknown message type '" + shown(*type) +
                                   "'; expected subscribe, unsubscribe, ping, hello or auth");
  } catch (bad_request& b) {
    return b;
  }
} catch (...) {
  // Out of memory and the like: the client gets an error, the daemon goes on.
  return bad_request{"bad_request", "the message could not be read", {}};
}

frame make_frame(const json::object& message) {
  return std::make_shared<const frame_text>(json::serialize(message));
}

frame welcome_frame(std::int64_t seq) {
  return make_frame({{"type", "welcome"}, {"protocol", 1}, {"server", server_name}, {"seq", seq}});
}

frame subscribed_frame(const std::string& topic, sub_mode mode, std::int64_t seq, bool resumed,
                       const std::string& reason) {
  json::object m{{"type", "subscribed"},
                 {"topic", topic},
                 {"mode", mode == sub_mode::delta ? "delta" : "snapshot"},
                 {"seq", seq},
                 {"resumed", resumed}};
  if (!reason.empty()) m["reason"] = reason;
  return make_frame(m);
}

frame snapshot_frame(const std::string& topic, std::int64_t seq,
                     std::optional<std::int64_t> prev_seq, const json::object& data) {
  json::object m{{"type", "snapshot"}, {"topic", topic}, {"seq", seq}};
  if (prev_seq) m["prev_seq"] = *prev_seq;
  m["data"] = data;
  return make_frame(m);
}

namespace {

// make_frame of `head` with a last member "data" whose JSON text is written.
frame with_data(const json::object& head, const data_writer& write_data) {
  std::string text = json::serialize(head);
  text.pop_back();  // the closing brace; head is never empty
  text += ",\"data\":";
  write_data(text);
  text += '}';
  return std::make_shared<const frame_text>(std::move(text));
}

}  // namespace

frame snapshot_frame(const std::string& topic, std::int64_t seq,
                     std::optional<std::int64_t> prev_seq, const data_writer& write_data) {
  json::object m{{"type", "snapshot"}, {"topic", topic}, {"seq", seq}};
  if (prev_seq) m["prev_seq"] = *prev_seq;
  return with_data(m, write_data);
}

frame queue_update_frame(const data_writer& write_data) {
  return with_data({{"type", "queue_update"}}, write_data);
}

frame delta_frame(const std::string& topic, std::int64_t seq, std::int64_t prev_seq,
                  const json::array& ops) {
  return make_frame(
      {{"type", "delta"}, {"topic", topic}, {"seq", seq}, {"prev_seq", prev_seq}, {"ops", ops}});
}

frame error_frame(const std::string& code, const std::string& message, const std::string& topic) {
  json::object m{{"type", "error"}, {"code", code}, {"message", message}};
  if (!topic.empty()) m["topic"] = topic;
  return make_frame(m);
}

frame status_frame(bool live, std::int64_t seq, const std::string& reason) {
  json::object m{{"type", "status"}, {"state", live ? "live" : "stale"}, {"seq", seq}};
  if (!reason.empty()) m["reason"] = reason;
  return make_frame(m);
}

}  // namespace queuecast
