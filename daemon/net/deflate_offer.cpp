#include "deflate_offer.hpp"

#include <cctype>
#include <map>
#include <vector>

namespace queuecast {

namespace {

// RFC 7230 tchar.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

struct extension {
  std::string name;
  // Parameters in order; a value is empty when the parameter had none.
  std::vector<std::pair<std::string, std::optional<std::string>>> params;
};

// A cursor over the header value; every parse function returns false on a
// syntax error (the whole header is then declined).
class reader {
 public:
  explicit reader(std::string_view s) : s_(s) {}
  bool done() {
    skip_space();
    return at_ == s_.size();
  }
  bool take(char c) {
    skip_space();
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool token(std::string& out) {
    skip_space();
    std::size_t start = at_;
    while (at_ < s_.size() && is_tchar(s_[at_])) ++at_;
    out.assign(s_.substr(start, at_ - start));
    return !out.empty();
  }
  // A token or a quoted-string (RFC 7692 §5.2 allows either for a value).
  bool value(std::string& out) {
    skip_space();
    if (at_ < s_.size() && s_[at_] == '"') {
      out.clear();
      for (++at_; at_ < s_.size(); ++at_) {
        char c = s_[at_];
        if (c == '"') {
          ++at_;
          return true;
        }
        if (c == '\\') {
          if (++at_ == s_.size()) return false;
          c = s_[at_];
        }
        out.push_back(c);
      }
      return false;  // unterminated
    }
    return token(out);
  }

 private:
  void skip_space() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t')) ++at_;
  }
  std::string_view s_;
  std::size_t at_ = 0;
};

// extension-list = #( extension-token *( ";" param ) ), param = token [ "=" value ];
// empty elements (", ,") are allowed by RFC 7230's list rule.
std::optional<std::vector<extension>> parse(std::string_view header) {
  reader in(header);
  std::vector<extension> list;
  while (!in.done()) {
    if (in.take(',')) continue;
    extension ext;
    if (!in.token(ext.name)) return std::nullopt;
    while (in.take(';')) {
      std::string name;
      if (!in.token(name)) return std::nullopt;
      std::optional<std::string> value;
      if (in.take('=')) {
        value.emplace();
        if (!in.value(*value)) return std::nullopt;
      }
      ext.params.emplace_back(std::move(name), std::move(value));
    }
    if (!in.done() && !in.take(',')) return std::nullopt;
    list.push_back(std::move(ext));
  }
  return list;
}

// A window size parameter's value: 8 to 15, digits only (RFC 7692 §7.1.2).
std::optional<int> window_bits(const std::string& value) {
  if (value.empty() || value.size() > 2 || value[0] == '0') return std::nullopt;
  for (char c : value)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  int bits = std::stoi(value);
  if (bits < 8 || bits > 15) return std::nullopt;
  return bits;
}

constexpr int our_window_bits = 15;

// Our answer to one permessage-deflate offer, or nullopt when we decline it.
std::optional<std::string> answer(const extension& offer) {
  std::map<std::string, int> seen;
  bool server_window_asked = false;
  for (const auto& [raw_name, value] : offer.params) {
    std::string name;
    for (char c : raw_name)
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (++seen[name] > 1) return std::nullopt;  // §7: a parameter twice declines the offer
    if (name == "server_no_context_takeover" || name == "client_no_context_takeover") {
      if (value) return std::nullopt;  // these take no value
    } else if (name == "server_max_window_bits") {
      if (!value) return std::nullopt;
      auto bits = window_bits(*value);
      // A valid request for a smaller window than ours we cannot honour.
      if (!bits || *bits != our_window_bits) return std::nullopt;
      server_window_asked = true;
    } else if (name == "client_max_window_bits") {
      if (value && !window_bits(*value)) return std::nullopt;  // a value is optional
    } else {
      return std::nullopt;  // unknown parameter (§7.1: decline)
    }
  }
  std::string reply = "permessage-deflate; server_no_context_takeover";
  // Accepting server_max_window_bits means repeating it (§7.1.2.1).
  if (server_window_asked) reply += "; server_max_window_bits=" + std::to_string(our_window_bits);
  return reply;
}

}  // namespace

std::optional<std::string> answer_deflate_offers(std::string_view offers) {
  auto list = parse(offers);
  if (!list) return std::nullopt;
  // Offers come in the client's order of preference: the first we can honour.
  for (const extension& ext : *list) {
    if (!iequals(ext.name, "permessage-deflate")) continue;
    if (auto reply = answer(ext)) return reply;
  }
  return std::nullopt;
}

}  // namespace queuecast
