// JWTs for tests, minted with libjwt: HS256 with a secret the test writes to
// a file, with the claims a test wants (exp relative to now).
#pragma once

#include <jwt.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace qc_test {

// `content` and a newline in a file of the test logs' folder, for the
// daemon's file flags (--jwt-secret-file, --token-file); its path.
inline std::string write_test_file(const std::string& name, const std::string& content) {
  std::string path =
      std::string(std::getenv("QUEUECAST_TEST_LOGS") ? std::getenv("QUEUECAST_TEST_LOGS")
                                                     : "/tmp") +
      "/" + name;
  std::ofstream(path) << content << "\n";
  return path;
}

// claims: any JSON object; "exp_in" (seconds from now) becomes "exp".
inline std::string hs256_token(const std::string& secret, boost::json::object claims,
                               const char* alg = "HS256") {
  if (auto* in = claims.if_contains("exp_in")) {
    claims["exp"] = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count() +
                    in->as_int64();
    claims.erase("exp_in");
  }
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) throw std::runtime_error("jwt_new failed");
  std::string json = boost::json::serialize(claims);
  jwt_add_grants_json(jwt, json.c_str());
  int rc =
      std::string(alg) == "none"
          ? jwt_set_alg(jwt, JWT_ALG_NONE, nullptr, 0)
          : jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                        static_cast<int>(secret.size()));
  if (rc != 0) throw std::runtime_error("jwt_set_alg failed");
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded ? encoded : "";
  free(encoded);  // libjwt 1.10 allocates with malloc
  jwt_free(jwt);
  return token;
}

}  // namespace qc_test
