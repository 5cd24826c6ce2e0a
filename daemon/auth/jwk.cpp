#include "auth/jwk.hpp"

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth/base64url.hpp"

namespace queuecast::auth {

namespace json = boost::json;

namespace {

// RFC 7518 §3.3: RSA keys for RS256 are at least 2048 bits.
constexpr int min_rsa_bits = 2048;
// P-256 coordinates are 32 bytes each (RFC 7518 §6.2.1.2).
constexpr std::size_t p256_coordinate_bytes = 32;

struct bn_free {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct params_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct ctx_free {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

// A base64url member of the JWK, decoded; empty when absent or invalid.
std::optional<std::string> member_bytes(const json::object& jwk, std::string_view name) {
  const json::value* v = jwk.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  auto bytes = base64url_decode(v->get_string());
  if (!bytes || bytes->empty()) return std::nullopt;
  return bytes;
}

bn_ptr to_bn(const std::string& bytes) {
  return bn_ptr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()), nullptr));
}

// EVP_PKEY_fromdata with the parameters `add` pushes; null on any failure.
template <typename Add>
pkey_ptr from_data(const char* type, Add add) {
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bld || !add(bld.get())) return nullptr;
  std::unique_ptr<OSSL_PARAM, params_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  pkey_ptr key(raw);
  // fromdata takes the numbers as given; ask OpenSSL whether they make a key
  // (for EC: whether the point is on the curve).
  std::unique_ptr<EVP_PKEY_CTX, ctx_free> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

std::optional<std::string> to_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return std::nullopt;
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) return std::nullopt;
  return std::string(data, static_cast<std::size_t>(len));
}

std::variant<pkey_ptr, std::string> rsa_key(const json::object& jwk) {
  auto n = member_bytes(jwk, "n");
  auto e = member_bytes(jwk, "e");
  if (!n || !e) return std::string("RSA key needs \"n\" and \"e\" as base64url strings");
  bn_ptr bn_n = to_bn(*n), bn_e = to_bn(*e);
  if (!bn_n || !bn_e) return std::string("RSA key: out of memory");
  if (BN_num_bits(bn_n.get()) < min_rsa_bits) {
    return "RSA key has " + std::to_string(BN_num_bits(bn_n.get())) + " bits; at least " +
           std::to_string(min_rsa_bits) + " are required";
  }
  pkey_ptr key = from_data("RSA", [&](OSSL_PARAM_BLD* bld) {
    return OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1;
  });
  if (!key) return std::string("RSA key: \"n\"/\"e\" do not form a valid public key");
  return key;
}

std::variant<pkey_ptr, std::string> ec_key(const json::object& jwk) {
  const json::value* crv = jwk.if_contains("crv");
  if (!crv || !crv->is_string()) return std::string("EC key needs \"crv\"");
  if (crv->get_string() != "P-256") {
    return "EC curve \"" + std::string(crv->get_string()) + "\" is not supported (only P-256)";
  }
  auto x = member_bytes(jwk, "x");
  auto y = member_bytes(jwk, "y");
  if (!x || !y || x->size() != p256_coordinate_bytes || y->size() != p256_coordinate_bytes) {
    return std::string("EC P-256 key needs \"x\" and \"y\" as base64url of 32 bytes each");
  }
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  pkey_ptr key = from_data("EC", [&](OSSL_PARAM_BLD* bld) {
    return OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
           OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                            point.size()) == 1;
  });
  if (!key) return std::string("EC key: \"x\"/\"y\" are not a point on P-256");
  return key;
}

}  // namespace

std::variant<public_key, std::string> jwk_to_public_key(const json::object& jwk) {
  public_key out;
  if (const json::value* kid = jwk.if_contains("kid")) {
    if (!kid->is_string()) return std::string("\"kid\" must be a string");
    out.kid = std::string(kid->get_string());
  }
  const json::value* kty = jwk.if_contains("kty");
  if (!kty || !kty->is_string()) return std::string("missing \"kty\"");
  std::string_view alg_wanted;
  std::variant<pkey_ptr, std::string> key;
  if (kty->get_string() == "RSA") {
    out.kind = key_kind::rsa;
    alg_wanted = "RS256";
    key = rsa_key(jwk);
  } else if (kty->get_string() == "EC") {
    out.kind = key_kind::ec_p256;
    alg_wanted = "ES256";
    key = ec_key(jwk);
  } else {
    return "kty \"" + std::string(kty->get_string()) + "\" is not supported (RSA or EC P-256)";
  }
  if (const json::value* alg = jwk.if_contains("alg")) {
    if (!alg->is_string() || alg->get_string() != alg_wanted) {
      return "\"alg\" must be \"" + std::string(alg_wanted) + "\" for this key (or be left out)";
    }
  }
  if (auto* error = std::get_if<std::string>(&key)) return *error;
  auto pem = to_pem(std::get<pkey_ptr>(key).get());
  if (!pem) return std::string("could not convert the key to PEM");
  out.pem = std::move(*pem);
  return out;
}

}  // namespace queuecast::auth
