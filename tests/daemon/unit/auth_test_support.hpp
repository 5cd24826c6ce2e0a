// Keys and tokens made at test time (no key material in the repository):
// OpenSSL generates the keys, libjwt signs the tokens.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <jwt.h>
#include <openssl/evp.h>

namespace auth_test {

struct test_key {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string private_pem;
  std::string public_pem;
};

test_key make_rsa(int bits = 2048);
test_key make_ec_p256();

// The public half as a JWK object (JSON text). `extra` is spliced in as
// more members, e.g. R"("use":"enc")".
std::string jwk(const test_key& key, std::string_view kid, std::string_view extra = "");
// {"keys":[...]} from JWK texts.
std::string jwks(std::initializer_list<std::string> keys);

// A token signed by libjwt; `kid` becomes a header when set.
std::string sign(jwt_alg_t alg, std::string_view key, std::string_view claims_json,
                 std::optional<std::string> kid = std::nullopt);

// Building blocks for hand-made (and broken) tokens.
std::string b64url(std::string_view bytes);
std::string part(std::string_view json);  // b64url of a JSON text

// A fresh directory under /tmp, removed at exit of the test binary.
std::string temp_dir();
void write_file(const std::string& path, std::string_view contents);

}  // namespace auth_test
