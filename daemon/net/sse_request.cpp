#include "sse_request.hpp"

#include <charconv>

namespace queuecast {

namespace {

constexpr std::string_view sse_path = "/sse";

refusal refuse_request(std::string message) {
  return refusal{http::status::bad_request, "bad_request", std::move(message)};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a query value (browsers write "queue:a" as queue%3Aa);
// nullopt for a broken escape.
std::optional<std::string> decoded(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= value.size()) return std::nullopt;
      int high = hex_value(value[i + 1]);
      int low = hex_value(value[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

// The value of `name` in the query, once; "" when absent. Repeated names
// are refused by the caller (one topic per stream).
std::optional<std::string_view> raw_param(std::string_view query, std::string_view name,
                                          int* count) {
  std::optional<std::string_view> found;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      ++*count;
      found = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return found;
}

std::optional<std::int64_t> parse_seq(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  std::int64_t seq = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || seq < 0)
    return std::nullopt;
  return seq;
}

}  // namespace

bool is_sse_target(std::string_view target) {
  return target.substr(0, target.find('?')) == sse_path;
}

std::variant<sse_request, refusal> parse_sse_request(const http_request& req) {
  if (req.method() != http::verb::get)
    return refusal{http::status::method_not_allowed, "method_not_allowed", "use GET"};
  std::string_view target(req.target().data(), req.target().size());
  auto q = target.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  sse_request parsed;
  int topics = 0;
  auto topic = raw_param(query, "topic", &topics);
  if (!topic || topics != 1)
    return refuse_request("give exactly one topic: /sse?topic=queue:<name>");
  auto name = decoded(*topic);
  if (!name || !valid_topic_syntax(*name))
    return refuse_request("'" + shown(name ? *name : std::string(*topic)) +
                          "' is not a topic: queue:<name>, workflows or workflow:<id>");
  parsed.topic = std::move(*name);
  int modes = 0;
  if (auto mode = raw_param(query, "mode", &modes)) {
    if (*mode == "snapshot") {
      parsed.mode = sub_mode::snapshot;
    } else if (*mode != "delta" || modes != 1) {
      return refuse_request("mode is delta (the default) or snapshot");
    }
  }
  int sinces = 0;
  std::string_view header = req["Last-Event-ID"];
  auto since_param = raw_param(query, "since", &sinces);
  if (!header.empty() || since_param) {
    auto since = parse_seq(!header.empty() ? header : *since_param);
    if (!since) return refuse_request("Last-Event-ID (or since) is a seq: a number from 0");
    parsed.since = since;
  }
  return parsed;
}

std::string sse_event(const std::string& message) {
  std::string event;
  event.reserve(message.size() + 32);
  // Our messages put "seq" before any document (messages.cpp), so the first
  // one is the message's own; compatibility shapes have none.
  auto at = message.find("\"seq\":");
  if (message.starts_with("{\"type\":") && at != std::string::npos) {
    auto digits = message.find_first_not_of("0123456789", at + 6);
    if (digits != at + 6)
      event.append("id: ").append(message, at + 6, digits - at - 6).append("\n");
  }
  event.append("data: ").append(message).append("\n\n");
  return event;
}

const std::string& frame_text::sse_event() const {
  std::call_once(sse_once_, [this] { sse_ = queuecast::sse_event(*this); });
  return sse_;
}

}  // namespace queuecast
