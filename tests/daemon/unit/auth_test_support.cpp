#include "auth_test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

namespace auth_test {

namespace {

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

test_key finish(EVP_PKEY* raw) {
  if (!raw) throw std::runtime_error("key generation failed");
  test_key k;
  k.pkey.reset(raw, EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> priv(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> pub(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(priv.get(), raw, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub.get(), raw);
  k.private_pem = bio_text(priv.get());
  k.public_pem = bio_text(pub.get());
  return k;
}

// A big-number parameter as big-endian bytes, left-padded to `width`.
std::string bn_param(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error(name);
  int size = std::max(width, BN_num_bytes(bn));
  std::string out(static_cast<std::size_t>(size), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  BN_free(bn);
  return out;
}

std::vector<std::string>& dirs() {
  static std::vector<std::string> made;
  static bool registered = [] {
    std::atexit([] {
      for (auto& d : dirs()) std::filesystem::remove_all(d);
    });
    return true;
  }();
  (void)registered;
  return made;
}

}  // namespace

test_key make_rsa(int bits) {
  return finish(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}

test_key make_ec_p256() {
  return finish(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

std::string b64url(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(bytes[at]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
  }
  if (bytes.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
  } else if (bytes.size() - i == 2) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string part(std::string_view json) {
  return b64url(json);
}

std::string jwk(const test_key& key, std::string_view kid, std::string_view extra) {
  std::string members = "\"kid\":\"" + std::string(kid) + "\"";
  if (EVP_PKEY_get_base_id(key.pkey.get()) == EVP_PKEY_RSA) {
    members += ",\"kty\":\"RSA\",\"n\":\"" +
               b64url(bn_param(key.pkey.get(), OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
               b64url(bn_param(key.pkey.get(), OSSL_PKEY_PARAM_RSA_E)) + "\"";
  } else {
    members += ",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" +
               b64url(bn_param(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32)) + "\",\"y\":\"" +
               b64url(bn_param(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"";
  }
  if (!extra.empty()) members += "," + std::string(extra);
  return "{" + members + "}";
}

std::string jwks(std::initializer_list<std::string> keys) {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (const auto& k : keys) {
    if (!first) out += ",";
    out += k;
    first = false;
  }
  return out + "]}";
}

std::string sign(jwt_alg_t alg, std::string_view key, std::string_view claims_json,
                 std::optional<std::string> kid) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) throw std::runtime_error("jwt_new");
  std::unique_ptr<jwt_t, decltype(&jwt_free)> guard(jwt, jwt_free);
  if (jwt_add_grants_json(jwt, std::string(claims_json).c_str()) != 0) {
    throw std::runtime_error("jwt_add_grants_json: " + std::string(claims_json));
  }
  if (kid && jwt_add_header(jwt, "kid", kid->c_str()) != 0) throw std::runtime_error("kid");
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (jwt_set_alg(jwt, alg, alg == JWT_ALG_NONE ? nullptr : k,
                  alg == JWT_ALG_NONE ? 0 : static_cast<int>(key.size())) != 0) {
    throw std::runtime_error("jwt_set_alg");
  }
  char* text = jwt_encode_str(jwt);
  if (!text) throw std::runtime_error("jwt_encode_str");
  std::string out(text);
  std::free(text);
  return out;
}

std::string temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "queuecast-auth-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
  dirs().push_back(pattern);
  return pattern;
}

void write_file(const std::string& path, std::string_view contents) {
  // Write then rename, as a deploy tool would: a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace auth_test
