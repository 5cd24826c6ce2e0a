#include "auth/keys.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <boost/json.hpp>

#include "auth/jwk.hpp"

namespace queuecast::auth {

namespace json = boost::json;

namespace {

// RFC 7518 §3.2: an HS256 key is at least as long as the hash (32 bytes).
constexpr std::size_t min_secret_bytes = 32;
// A JWKS holds a handful of keys; anything this large is the wrong file.
constexpr std::size_t max_jwks_bytes = 1 << 20;
constexpr std::size_t max_secret_file_bytes = std::size_t{64} * 1024;

// A file's contents or, when `error` is set, why it could not be read.
struct loaded {
  std::string value;
  std::string error;
};

loaded read_file(const std::string& path, std::size_t limit, std::string_view what) {
  const std::string where = std::string(what) + " " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return {"", where + ": cannot open (" + std::strerror(errno) + ")"};
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > limit) {
      return {"",
              where + ": larger than " + std::to_string(limit) + " bytes; is it the right file?"};
    }
  }
  if (in.bad()) return {"", where + ": read error"};
  return {std::move(data), ""};
}

// The secret from the setting or the file; an empty value when neither is set.
loaded load_secret(const auth_config& cfg) {
  if (!cfg.jwt_secret.empty() && !cfg.jwt_secret_file.empty()) {
    return {"", "both a JWT secret and a JWT secret file are set; keep only one"};
  }
  std::string secret = cfg.jwt_secret;
  std::string source = "the JWT secret";
  if (!cfg.jwt_secret_file.empty()) {
    loaded read = read_file(cfg.jwt_secret_file, max_secret_file_bytes, "JWT secret file");
    if (!read.error.empty()) return read;
    secret = std::move(read.value);
    // `echo secret > file` and editors add a newline that is not part of it.
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    source = "JWT secret file " + cfg.jwt_secret_file;
    if (secret.empty()) return {"", source + ": is empty"};
  }
  if (!secret.empty() && secret.size() < min_secret_bytes) {
    return {"", source + " is " + std::to_string(secret.size()) + " bytes; HS256 needs at least " +
                    std::to_string(min_secret_bytes) + " (for example: openssl rand -base64 48)"};
  }
  return {std::move(secret), ""};
}

std::string key_label(std::size_t index, const json::object& jwk) {
  std::string label = "key " + std::to_string(index);
  if (const json::value* kid = jwk.if_contains("kid"); kid && kid->is_string()) {
    label += " (kid \"" + std::string(kid->get_string()) + "\")";
  }
  return label;
}

}  // namespace

std::variant<std::vector<public_key>, std::string> parse_jwks(std::string_view text,
                                                              std::string_view source) {
  const std::string where(source);
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return where + ": not valid JSON (" + ec.message() + ")";
  const json::object* root = doc.if_object();
  const json::value* keys = root ? root->if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) {
    return where + ": expected a JWKS object {\"keys\":[...]}";
  }
  std::vector<public_key> out;
  std::set<std::string> kids;
  std::size_t index = 0;
  for (const json::value& entry : keys->get_array()) {
    const json::object* jwk = entry.if_object();
    if (!jwk) return where + ": key " + std::to_string(index) + " is not an object";
    const std::string label = key_label(index++, *jwk);
    if (const json::value* use = jwk->if_contains("use")) {
      if (use->is_string() && use->get_string() == "enc") continue;  // encryption keys: not ours
      if (!use->is_string() || use->get_string() != "sig") {
        return where + ": " + label + ": \"use\" must be \"sig\" or \"enc\"";
      }
    }
    auto key = jwk_to_public_key(*jwk);
    if (auto* error = std::get_if<std::string>(&key)) return where + ": " + label + ": " + *error;
    public_key& k = std::get<public_key>(key);
    if (!k.kid.empty() && !kids.insert(k.kid).second) {
      return where + ": " + label + ": kid is used twice; kids must be unique";
    }
    out.push_back(std::move(k));
  }
  if (out.empty())
    return where + ": has no signing keys (\"keys\" is empty or all \"use\":\"enc\")";
  return out;
}

std::variant<key_set, std::string> load_keys(const auth_config& cfg) {
  key_set set;
  loaded secret = load_secret(cfg);
  if (!secret.error.empty()) return secret.error;
  set.hmac_secret = std::move(secret.value);
  if (!cfg.jwks_file.empty()) {
    loaded read = read_file(cfg.jwks_file, max_jwks_bytes, "JWKS file");
    if (!read.error.empty()) return read.error;
    auto keys = parse_jwks(read.value, "JWKS file " + cfg.jwks_file);
    if (auto* error = std::get_if<std::string>(&keys)) return *error;
    set.keys = std::move(std::get<std::vector<public_key>>(keys));
    set.has_jwks = true;
  }
  return set;
}

}  // namespace queuecast::auth
