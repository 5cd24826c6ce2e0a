#include "auth/jws.hpp"

#include <algorithm>
#include <memory>

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/base64url.hpp"
#include "auth/verifier.hpp"

namespace queuecast::auth {

namespace json = boost::json;

namespace {

rejection malformed(std::string message) {
  return {errc::malformed, std::move(message)};
}

std::optional<json::object> decode_object(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*bytes, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<rejection> check_hs256(const jws& token, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // libjwt 1.10 compares HMACs with strcmp (an early exit an attacker can
  // time), so HS256 is verified here with OpenSSL and CRYPTO_memcmp.
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(token.signing_input.data()),
            token.signing_input.size(), mac, &mac_len)) {
    return rejection{errc::bad_signature, "HMAC computation failed"};
  }
  // The length of an HS256 signature is public (32 bytes): comparing it
  // first leaks nothing.
  if (token.signature.size() != mac_len ||
      CRYPTO_memcmp(mac, token.signature.data(), mac_len) != 0) {
    return rejection{errc::bad_signature, "HS256 signature does not match the secret"};
  }
  return std::nullopt;
}

// The JWKS key for this token, or why there is none.
std::variant<const public_key*, rejection> choose_key(const jws& token, const key_set& keys,
                                                      key_kind kind) {
  const public_key* key = nullptr;
  if (token.kid) {
    auto it = std::find_if(keys.keys.begin(), keys.keys.end(),
                           [&](const public_key& k) { return k.kid == *token.kid; });
    if (it == keys.keys.end()) {
      return rejection{errc::unknown_key,
                       "no key in the JWKS has kid \"" + printable(*token.kid) + "\""};
    }
    key = &*it;
  } else if (keys.keys.size() == 1) {
    key = &keys.keys.front();  // one key: a token without kid can only mean it
  } else {
    return rejection{errc::unknown_key, "the token has no kid and the JWKS has several keys"};
  }
  if (key->kind != kind) {
    return rejection{errc::alg_not_allowed,
                     token.alg + " does not fit the key of kid \"" + printable(key->kid) + "\""};
  }
  return key;
}

std::optional<rejection> check_public_key(const jws& token, const key_set& keys, key_kind kind,
                                          jwt_alg_t alg) {
  auto chosen = choose_key(token, keys, kind);
  if (auto* r = std::get_if<rejection>(&chosen)) return *r;
  const public_key& key = *std::get<const public_key*>(chosen);
  const std::string text(token.token);  // libjwt wants a NUL-terminated string
  jwt_t* decoded = nullptr;
  int rc =
      jwt_decode(&decoded, text.c_str(), reinterpret_cast<const unsigned char*>(key.pem.data()),
                 static_cast<int>(key.pem.size()));
  std::unique_ptr<jwt_t, decltype(&jwt_free)> guard(decoded, &jwt_free);
  if (rc != 0 || !decoded) {
    return rejection{errc::bad_signature, token.alg + " signature does not match the key"};
  }
  // libjwt picked the algorithm from the header itself: make sure it is the
  // one the key was chosen for.
  if (jwt_get_alg(decoded) != alg) {
    return rejection{errc::bad_signature, "libjwt verified a different algorithm"};
  }
  return std::nullopt;
}

}  // namespace

std::variant<jws, rejection> parse_jws(std::string_view token) {
  if (token.size() > max_credential_bytes) {
    return malformed("longer than " + std::to_string(max_credential_bytes) + " bytes");
  }
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 =
      dot1 == std::string_view::npos ? std::string_view::npos : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return malformed("not the configured token and not a JWT (header.payload.signature)");
  }
  jws out;
  out.token = token;
  out.signing_input = token.substr(0, dot2);
  auto header = decode_object(token.substr(0, dot1));
  if (!header) return malformed("the JWT header is not base64url-encoded JSON object");
  auto payload = decode_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return malformed("the JWT payload is not a base64url-encoded JSON object");
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!signature) return malformed("the JWT signature is not base64url");
  out.header = std::move(*header);
  out.payload = std::move(*payload);
  out.signature = std::move(*signature);

  const json::value* alg = out.header.if_contains("alg");
  if (!alg || !alg->is_string()) return malformed("the JWT header has no \"alg\"");
  out.alg = std::string(alg->get_string());
  if (const json::value* typ = out.header.if_contains("typ")) {
    if (!typ->is_string() || !iequals(typ->get_string(), "JWT")) {
      return malformed("the JWT header \"typ\" is not \"JWT\"");
    }
  }
  if (out.header.contains("crit")) {
    // RFC 7515 §4.1.11: extensions we do not understand must fail.
    return malformed("the JWT header has \"crit\" extensions, none are supported");
  }
  if (const json::value* kid = out.header.if_contains("kid")) {
    if (!kid->is_string()) return malformed("the JWT header \"kid\" is not a string");
    out.kid = std::string(kid->get_string());
  }
  return out;
}

std::optional<rejection> check_signature(const jws& token, const key_set& keys) {
  if (token.alg == "HS256") {
    if (keys.hmac_secret.empty()) {
      return rejection{errc::alg_not_allowed, "HS256 tokens need a JWT secret; none is configured"};
    }
    return check_hs256(token, keys.hmac_secret);
  }
  if (token.alg == "RS256" || token.alg == "ES256") {
    if (keys.keys.empty()) {
      return rejection{errc::alg_not_allowed,
                       token.alg + " tokens need a JWKS file; none is configured"};
    }
    return token.alg == "RS256" ? check_public_key(token, keys, key_kind::rsa, JWT_ALG_RS256)
                                : check_public_key(token, keys, key_kind::ec_p256, JWT_ALG_ES256);
  }
  return rejection{errc::alg_not_allowed,
                   "alg \"" + printable(token.alg) + "\" is not accepted (HS256, RS256, ES256)"};
}

}  // namespace queuecast::auth
