// Authentication and authorisation (daemon/auth): the static token, JWT
// validation, JWKS loading and reload, topic globs, constant-time compare.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "auth/base64url.hpp"
#include "auth/constant_time.hpp"
#include "auth/topics.hpp"
#include "auth/verifier.hpp"
#include "auth_test_support.hpp"

using namespace queuecast::auth;
using namespace auth_test;
using namespace std::chrono_literals;

namespace {

principal with_patterns(std::vector<std::string> patterns) {
  principal p;
  p.topic_patterns = std::move(patterns);
  return p;
}

}  // namespace

TEST(auth_topics, star_matches_a_run_of_characters_but_the_whole_topic_must_match) {
  auto p = with_patterns({"queue:billing-*"});
  EXPECT_TRUE(topic_allowed(p, "queue:billing-eu"));
  EXPECT_TRUE(topic_allowed(p, "queue:billing-"));  // '*' matches zero characters
  EXPECT_FALSE(topic_allowed(p, "queue:billing"));  // the '-' is literal
  EXPECT_FALSE(topic_allowed(p, "queue:other"));
  EXPECT_FALSE(topic_allowed(p, "xqueue:billing-eu"));  // anchored at the start
}

TEST(auth_topics, exact_names_star_and_question_mark) {
  auto exact = with_patterns({"workflows"});
  EXPECT_TRUE(topic_allowed(exact, "workflows"));
  EXPECT_FALSE(topic_allowed(exact, "workflows2"));
  EXPECT_FALSE(topic_allowed(exact, "workflow"));
  auto all = with_patterns({"*"});
  EXPECT_TRUE(topic_allowed(all, "queue:anything"));
  EXPECT_TRUE(topic_allowed(all, "workflow:42"));
  auto one = with_patterns({"workflow:?"});
  EXPECT_TRUE(topic_allowed(one, "workflow:7"));
  EXPECT_FALSE(topic_allowed(one, "workflow:77"));
  EXPECT_FALSE(topic_allowed(one, "workflow:"));
}

TEST(auth_topics, no_patterns_allow_nothing) {
  EXPECT_FALSE(topic_allowed(principal{}, "workflows"));
  EXPECT_FALSE(topic_allowed(principal{}, ""));
}

TEST(auth_topics, any_of_several_patterns_allows) {
  auto p = with_patterns({"queue:a", "workflow:*"});
  EXPECT_TRUE(topic_allowed(p, "queue:a"));
  EXPECT_TRUE(topic_allowed(p, "workflow:9"));
  EXPECT_FALSE(topic_allowed(p, "queue:b"));
}

TEST(auth_topics, a_star_in_the_topic_is_not_a_wildcard) {
  EXPECT_FALSE(glob_match("queue:a", "queue:*"));
  EXPECT_TRUE(glob_match("queue:*", "queue:*"));
}

TEST(auth_topics, many_stars_finish_fast) {
  // A recursive glob takes exponential time here; the iterative one is
  // bounded by pattern length * topic length.
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "*a";
  pattern += "*b";
  const std::string topic(4000, 'a');
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match(pattern, topic));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 500ms) << "took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << " ms";
}

TEST(auth_constant_time, equal_unequal_and_different_lengths) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(constant_time_equal("s3cret-token", "s3cret-tokem"));
  EXPECT_FALSE(constant_time_equal("s3cret-token", "s3cret-token "));
  EXPECT_FALSE(constant_time_equal("s3cret-token", "s3cret"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  EXPECT_TRUE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
}

// ---------------------------------------------------------------------------
// Verifier: static token and JWTs.

namespace {

constexpr std::int64_t t0 = 1'700'000'000;  // "now" in every test
const std::chrono::system_clock::time_point now{std::chrono::seconds(t0)};
const std::string secret = "0123456789abcdef0123456789abcdef-hs256-test-secret";
const std::string static_token = "static-token-value-for-tests";

std::string claims(std::string extra = "") {
  std::string out = "{\"sub\":\"alice\",\"exp\":" + std::to_string(t0 + 600);
  if (!extra.empty()) out += "," + extra;
  return out + "}";
}

verifier make(auth_config cfg) {
  auto made = verifier::create(std::move(cfg));
  if (auto* error = std::get_if<std::string>(&made)) {
    ADD_FAILURE() << "create() failed: " << *error;
    throw std::runtime_error(*error);
  }
  return std::move(std::get<verifier>(made));
}

std::string create_error(auth_config cfg) {
  auto made = verifier::create(std::move(cfg));
  if (std::holds_alternative<verifier>(made)) return "(create() succeeded)";
  return std::get<std::string>(made);
}

verifier hs256_verifier(auth_config cfg = {}) {
  cfg.jwt_secret = secret;
  return make(std::move(cfg));
}

// Refused with `code`, and the message gives away neither the credential nor
// the secret.
::testing::AssertionResult refused(const verdict& v, std::string_view code,
                                   std::string_view credential) {
  if (v.who) {
    return ::testing::AssertionFailure()
           << "expected " << code << ", but it was accepted as \"" << v.who->subject << "\"";
  }
  if (v.error != code) {
    return ::testing::AssertionFailure()
           << "expected " << code << ", got " << v.error << " (" << v.message << ")";
  }
  if (v.message.empty()) return ::testing::AssertionFailure() << "no message with " << code;
  if (credential.size() >= 8 && v.message.find(credential) != std::string::npos) {
    return ::testing::AssertionFailure() << "the message repeats the credential: " << v.message;
  }
  if (v.message.find(secret) != std::string::npos) {
    return ::testing::AssertionFailure() << "the message contains the secret";
  }
  return ::testing::AssertionSuccess();
}

#define EXPECT_REFUSED(v, code, credential) EXPECT_TRUE(refused((v), (code), (credential)))

// Keys are generated once per test binary: RSA 2048 takes a while.
struct keys {
  test_key rsa_a = make_rsa();
  test_key rsa_b = make_rsa();
  test_key ec_a = make_ec_p256();
  test_key ec_b = make_ec_p256();
};
const keys& k() {
  static const keys generated;
  return generated;
}

// A verifier over a JWKS file holding `jwks_text`, plus the file's path.
struct jwks_setup {
  std::string path;
  verifier v;
};
jwks_setup jwks_verifier(const std::string& jwks_text, auth_config cfg = {}) {
  std::string path = temp_dir() + "/jwks.json";
  write_file(path, jwks_text);
  cfg.jwks_file = path;
  return {path, make(std::move(cfg))};
}

}  // namespace

TEST(auth_static_token, the_token_gives_admin_on_every_topic) {
  auth_config cfg;
  cfg.static_token = static_token;
  verifier v = make(cfg);
  EXPECT_TRUE(v.enabled());
  verdict ok = v.verify(static_token, now);
  ASSERT_TRUE(ok.who) << ok.error << ": " << ok.message;
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.who->subject, "static-token");
  EXPECT_EQ(ok.who->access, role::admin);
  EXPECT_EQ(ok.who->topic_patterns, std::vector<std::string>{"*"});
  EXPECT_FALSE(ok.who->expires);
}

TEST(auth_static_token, near_misses_are_refused) {
  auth_config cfg;
  cfg.static_token = static_token;
  verifier v = make(cfg);
  EXPECT_REFUSED(v.verify(static_token + "x", now), errc::malformed, static_token);
  EXPECT_REFUSED(v.verify(static_token.substr(1), now), errc::malformed, static_token);
  EXPECT_REFUSED(v.verify("static-token", now), errc::malformed, "");
  EXPECT_REFUSED(v.verify("", now), errc::no_credentials, "");
}

TEST(auth_static_token, is_accepted_only_when_configured) {
  // With only a JWT secret there is no static token: neither the empty
  // credential nor the principal's name "static-token" gets in.
  verifier v = hs256_verifier();
  EXPECT_REFUSED(v.verify("", now), errc::no_credentials, "");
  EXPECT_REFUSED(v.verify("static-token", now), errc::malformed, "");
  EXPECT_REFUSED(v.verify(static_token, now), errc::malformed, "");
}

TEST(auth_verifier, without_any_credential_source_everything_is_open) {
  verifier v = make({});
  EXPECT_FALSE(v.enabled());
  verdict open = v.verify("", now);
  ASSERT_TRUE(open.who);
  EXPECT_TRUE(topic_allowed(*open.who, "queue:anything"));
  auth_config with_secret;
  with_secret.jwt_secret = secret;
  EXPECT_TRUE(make(with_secret).enabled());
}

TEST(auth_hs256, a_valid_token_gives_its_claims) {
  verifier v = hs256_verifier();
  std::string token = sign(JWT_ALG_HS256, secret,
                           claims(R"("topics":["queue:billing-*","workflows"],"role":"operator")"));
  verdict ok = v.verify(token, now);
  ASSERT_TRUE(ok.who) << ok.error << ": " << ok.message;
  EXPECT_EQ(ok.who->subject, "alice");
  EXPECT_EQ(ok.who->access, role::operator_);
  EXPECT_EQ(ok.who->topic_patterns, (std::vector<std::string>{"queue:billing-*", "workflows"}));
  ASSERT_TRUE(ok.who->expires);
  EXPECT_EQ(*ok.who->expires, now + 600s);
  EXPECT_TRUE(topic_allowed(*ok.who, "queue:billing-eu"));
  EXPECT_FALSE(topic_allowed(*ok.who, "queue:other"));
}

TEST(auth_hs256, missing_topics_read_nothing_and_role_defaults_to_viewer) {
  verifier v = hs256_verifier();
  verdict ok = v.verify(sign(JWT_ALG_HS256, secret, claims()), now);
  ASSERT_TRUE(ok.who) << ok.error << ": " << ok.message;
  EXPECT_TRUE(ok.who->topic_patterns.empty());
  EXPECT_EQ(ok.who->access, role::viewer);
  EXPECT_FALSE(topic_allowed(*ok.who, "workflows"));
}

TEST(auth_hs256, another_secret_or_a_tampered_payload_is_a_bad_signature) {
  verifier v = hs256_verifier();
  std::string other = sign(JWT_ALG_HS256, secret + "-other", claims());
  EXPECT_REFUSED(v.verify(other, now), errc::bad_signature, other);

  std::string token = sign(JWT_ALG_HS256, secret, claims(R"("role":"viewer")"));
  std::size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  std::string forged =
      token.substr(0, dot1 + 1) + part(claims(R"("role":"admin")")) + token.substr(dot2);
  EXPECT_REFUSED(v.verify(forged, now), errc::bad_signature, forged);

  std::string bad_sig = token;
  bad_sig[dot2 + 3] = bad_sig[dot2 + 3] == 'A' ? 'B' : 'A';
  EXPECT_REFUSED(v.verify(bad_sig, now), errc::bad_signature, bad_sig);
  std::string no_sig = token.substr(0, dot2 + 1);
  EXPECT_REFUSED(v.verify(no_sig, now), errc::bad_signature, no_sig);
}

TEST(auth_jwt, exp_is_required) {
  verifier v = hs256_verifier();
  std::string token = sign(JWT_ALG_HS256, secret, R"({"sub":"alice","topics":["*"]})");
  EXPECT_REFUSED(v.verify(token, now), errc::missing_exp, token);
  std::string text_exp = sign(JWT_ALG_HS256, secret, R"({"sub":"alice","exp":"tomorrow"})");
  EXPECT_REFUSED(v.verify(text_exp, now), errc::bad_claims, text_exp);
}

TEST(auth_jwt, exp_in_the_past_beyond_the_leeway_is_expired) {
  verifier v = hs256_verifier();  // leeway 30 s
  auto at = [&](std::int64_t exp) {
    return sign(JWT_ALG_HS256, secret, "{\"exp\":" + std::to_string(exp) + "}");
  };
  EXPECT_TRUE(v.verify(at(t0 - 29), now).who) << "within the leeway";
  EXPECT_REFUSED(v.verify(at(t0 - 30), now), errc::expired, "");
  EXPECT_REFUSED(v.verify(at(t0 - 3600), now), errc::expired, "");
  // Fractional NumericDates are allowed (RFC 7519 §2) and rounded down.
  EXPECT_REFUSED(
      v.verify(sign(JWT_ALG_HS256, secret, "{\"exp\":" + std::to_string(t0 - 30) + ".9}"), now),
      errc::expired, "");
}

TEST(auth_jwt, nbf_in_the_future_beyond_the_leeway_is_not_yet_valid) {
  verifier v = hs256_verifier();
  auto nbf = [&](std::int64_t at) {
    return sign(JWT_ALG_HS256, secret, claims("\"nbf\":" + std::to_string(at)));
  };
  EXPECT_TRUE(v.verify(nbf(t0 + 30), now).who) << "within the leeway";
  EXPECT_REFUSED(v.verify(nbf(t0 + 31), now), errc::not_yet_valid, "");
  EXPECT_REFUSED(v.verify(sign(JWT_ALG_HS256, secret, claims(R"("nbf":[1])")), now),
                 errc::bad_claims, "");
}

TEST(auth_jwt, audience_is_checked_when_configured_as_string_or_array) {
  auth_config cfg;
  cfg.audience = "queuecast";
  verifier v = hs256_verifier(cfg);
  auto with = [&](std::string aud) { return sign(JWT_ALG_HS256, secret, claims(aud)); };
  EXPECT_TRUE(v.verify(with(R"("aud":"queuecast")"), now).who);
  EXPECT_TRUE(v.verify(with(R"("aud":["other","queuecast"])"), now).who);
  EXPECT_REFUSED(v.verify(with(R"("aud":"other")"), now), errc::wrong_audience, "");
  EXPECT_REFUSED(v.verify(with(R"("aud":["other"])"), now), errc::wrong_audience, "");
  EXPECT_REFUSED(v.verify(with(R"("aud":"queuecast-x")"), now), errc::wrong_audience, "");
  EXPECT_REFUSED(v.verify(with(""), now), errc::wrong_audience, "");
  EXPECT_REFUSED(v.verify(with(R"("aud":7)"), now), errc::bad_claims, "");
  // Not configured: any audience is fine.
  EXPECT_TRUE(hs256_verifier().verify(with(R"("aud":"other")"), now).who);
}

TEST(auth_jwt, issuer_is_checked_when_configured) {
  auth_config cfg;
  cfg.issuer = "https://idp.example";
  verifier v = hs256_verifier(cfg);
  auto with = [&](std::string iss) { return sign(JWT_ALG_HS256, secret, claims(iss)); };
  EXPECT_TRUE(v.verify(with(R"("iss":"https://idp.example")"), now).who);
  EXPECT_REFUSED(v.verify(with(R"("iss":"https://evil.example")"), now), errc::wrong_issuer, "");
  EXPECT_REFUSED(v.verify(with(""), now), errc::wrong_issuer, "");
  EXPECT_TRUE(hs256_verifier().verify(with(R"("iss":"https://evil.example")"), now).who);
}

TEST(auth_jwt, topics_must_be_an_array_of_strings_and_role_a_known_name) {
  verifier v = hs256_verifier();
  for (std::string bad :
       {R"("topics":"queue:a")", R"("topics":["queue:a",1])", R"("topics":{"a":1})",
        R"("role":"root")", R"("role":"Admin")", R"("role":1)"}) {
    EXPECT_REFUSED(v.verify(sign(JWT_ALG_HS256, secret, claims(bad)), now), errc::bad_claims, "")
        << "claims: " << bad;
  }
  std::string sub_number = sign(JWT_ALG_HS256, secret, R"({"sub":42,"exp":1700000600})");
  EXPECT_REFUSED(v.verify(sub_number, now), errc::bad_claims, "");
  verdict admin = v.verify(sign(JWT_ALG_HS256, secret, claims(R"("role":"admin")")), now);
  ASSERT_TRUE(admin.who);
  EXPECT_EQ(admin.who->access, role::admin);
}

TEST(auth_jwt, alg_none_is_refused_even_when_everything_else_is_valid) {
  verifier v = hs256_verifier();
  std::string body = part(claims(R"("topics":["*"],"role":"admin")"));
  for (std::string header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"none"})",
                             R"({"alg":"None"})", R"({"alg":"NONE"})"}) {
    std::string unsigned_token = part(header) + "." + body + ".";
    EXPECT_REFUSED(v.verify(unsigned_token, now), errc::alg_not_allowed, unsigned_token) << header;
  }
  std::string by_libjwt = sign(JWT_ALG_NONE, "", claims(R"("role":"admin")"));
  EXPECT_REFUSED(v.verify(by_libjwt, now), errc::alg_not_allowed, by_libjwt);
  // Also with a signature part attached (a valid HS256 one, even).
  std::string real = sign(JWT_ALG_HS256, secret, claims());
  std::string none_with_sig = part(R"({"alg":"none"})") + real.substr(real.find('.'));
  EXPECT_REFUSED(v.verify(none_with_sig, now), errc::alg_not_allowed, none_with_sig);
}

TEST(auth_jwt, other_algorithms_are_refused) {
  verifier v = hs256_verifier();
  std::string hs512 = sign(JWT_ALG_HS512, secret, claims());
  EXPECT_REFUSED(v.verify(hs512, now), errc::alg_not_allowed, hs512);
  std::string rs384 = sign(JWT_ALG_RS384, k().rsa_a.private_pem, claims());
  EXPECT_REFUSED(v.verify(rs384, now), errc::alg_not_allowed, rs384);
}

TEST(auth_jwt, garbage_is_malformed_and_nothing_throws) {
  verifier v = hs256_verifier();
  std::string valid = sign(JWT_ALG_HS256, secret, claims());
  std::size_t dot1 = valid.find('.'), dot2 = valid.rfind('.');
  const std::vector<std::string> bad = {
      "garbage",
      ".",
      "..",
      "...",
      "a.b",
      valid.substr(0, dot2),            // two parts
      valid + ".x",                     // four parts
      "!!!." + valid.substr(dot1 + 1),  // not base64url
      valid.substr(0, dot1) + ".%%%" + valid.substr(dot2),
      valid.substr(0, dot2) + ".not*base64",
      part("not json") + "." + part(claims()) + ".",
      part("[1,2]") + "." + part(claims()) + ".",             // header not an object
      part(R"({"alg":"HS256"})") + "." + part("[]") + ".",    // payload not an object
      part(R"({"typ":"JWT"})") + "." + part(claims()) + ".",  // no alg
      part(R"({"alg":7})") + "." + part(claims()) + ".",
      part(R"({"alg":"HS256","typ":"JOSE+JSON"})") + "." + part(claims()) + ".",
      part(R"({"alg":"HS256","crit":["exp"]})") + "." + part(claims()) + ".",
      part(R"({"alg":"RS256","kid":5})") + "." + part(claims()) + ".",
      valid.substr(0, dot1) + "=" + valid.substr(dot1),  // padding
      std::string(10 * 1024, 'a'),
      valid + std::string(10 * 1024, 'a'),
      std::string("\0\0.\0.\0", 6),
  };
  for (const auto& token : bad) {
    verdict out;
    EXPECT_NO_THROW(out = v.verify(token, now));
    EXPECT_REFUSED(out, errc::malformed, token) << "token: " << token.substr(0, 80);
  }
}

TEST(auth_jwt, random_input_never_throws_and_is_never_accepted) {
  verifier v = hs256_verifier();
  std::string valid = sign(JWT_ALG_HS256, secret, claims());
  unsigned seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int i = 0; i < 3000; ++i) {
    std::string token = valid;
    // Flip, delete or insert a few characters anywhere in a valid token.
    for (int edits = 1 + next() % 3; edits > 0; --edits) {
      std::size_t at = next() % token.size();
      switch (next() % 3) {
        case 0:
          token[at] = static_cast<char>(next() % 256);
          break;
        case 1:
          token.erase(at, 1);
          break;
        default:
          token.insert(at, 1, static_cast<char>(next() % 256));
      }
    }
    if (token == valid) continue;
    verdict out;
    ASSERT_NO_THROW(out = v.verify(token, now));
    EXPECT_FALSE(out.who) << "accepted a mangled token: " << token;
  }
}

// ---------------------------------------------------------------------------
// RS256 / ES256 with keys from a JWKS file.

TEST(auth_jwks, rs256_and_es256_tokens_are_verified_with_the_key_their_kid_names) {
  auto s = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a"), jwk(k().ec_a, "ec-a")}));
  EXPECT_TRUE(s.v.enabled());
  std::string rs = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims(R"("topics":["*"])"), "rsa-a");
  verdict ok = s.v.verify(rs, now);
  ASSERT_TRUE(ok.who) << ok.error << ": " << ok.message;
  EXPECT_EQ(ok.who->subject, "alice");
  std::string es = sign(JWT_ALG_ES256, k().ec_a.private_pem, claims(R"("role":"admin")"), "ec-a");
  verdict ok_ec = s.v.verify(es, now);
  ASSERT_TRUE(ok_ec.who) << ok_ec.error << ": " << ok_ec.message;
  EXPECT_EQ(ok_ec.who->access, role::admin);
}

TEST(auth_jwks, another_key_or_a_tampered_token_is_a_bad_signature) {
  auto s = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a"), jwk(k().ec_a, "ec-a")}));
  std::string rs_other = sign(JWT_ALG_RS256, k().rsa_b.private_pem, claims(), "rsa-a");
  EXPECT_REFUSED(s.v.verify(rs_other, now), errc::bad_signature, rs_other);
  std::string es_other = sign(JWT_ALG_ES256, k().ec_b.private_pem, claims(), "ec-a");
  EXPECT_REFUSED(s.v.verify(es_other, now), errc::bad_signature, es_other);

  for (auto [alg, pem, kid] : {std::tuple{JWT_ALG_RS256, k().rsa_a.private_pem, "rsa-a"},
                               std::tuple{JWT_ALG_ES256, k().ec_a.private_pem, "ec-a"}}) {
    std::string token = sign(alg, pem, claims(R"("role":"viewer")"), kid);
    std::size_t dot1 = token.find('.'), dot2 = token.rfind('.');
    std::string forged =
        token.substr(0, dot1 + 1) + part(claims(R"("role":"admin")")) + token.substr(dot2);
    EXPECT_REFUSED(s.v.verify(forged, now), errc::bad_signature, forged) << kid;
    std::string bad_sig = token;
    bad_sig[dot2 + 5] = bad_sig[dot2 + 5] == 'A' ? 'B' : 'A';
    EXPECT_REFUSED(s.v.verify(bad_sig, now), errc::bad_signature, bad_sig) << kid;
  }
}

TEST(auth_jwks, the_kid_chooses_the_key) {
  auto two = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a"), jwk(k().rsa_b, "rsa-b")}));
  std::string b = sign(JWT_ALG_RS256, k().rsa_b.private_pem, claims(), "rsa-b");
  EXPECT_TRUE(two.v.verify(b, now).who);
  std::string unknown = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims(), "rsa-z");
  EXPECT_REFUSED(two.v.verify(unknown, now), errc::unknown_key, unknown);
  std::string no_kid = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims());
  EXPECT_REFUSED(two.v.verify(no_kid, now), errc::unknown_key, no_kid);

  // With exactly one key a token without kid may use it.
  auto one = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a")}));
  EXPECT_TRUE(one.v.verify(no_kid, now).who);
}

TEST(auth_jwks, the_alg_must_fit_the_kind_of_key) {
  auto s = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a"), jwk(k().ec_a, "ec-a")}));
  // An ES256 token whose kid names the RSA key (and vice versa).
  std::string es_on_rsa = sign(JWT_ALG_ES256, k().ec_a.private_pem, claims(), "rsa-a");
  EXPECT_REFUSED(s.v.verify(es_on_rsa, now), errc::alg_not_allowed, es_on_rsa);
  std::string rs_on_ec = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims(), "ec-a");
  EXPECT_REFUSED(s.v.verify(rs_on_ec, now), errc::alg_not_allowed, rs_on_ec);
}

TEST(auth_jwks, each_alg_needs_its_own_key_source) {
  // JWKS only: HS256 is refused outright.
  auto s = jwks_verifier(jwks({jwk(k().rsa_a, "rsa-a")}));
  std::string hs = sign(JWT_ALG_HS256, secret, claims());
  EXPECT_REFUSED(s.v.verify(hs, now), errc::alg_not_allowed, hs);
  // Secret only: RS256 and ES256 are refused outright.
  verifier v = hs256_verifier();
  std::string rs = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims(), "rsa-a");
  EXPECT_REFUSED(v.verify(rs, now), errc::alg_not_allowed, rs);
  std::string es = sign(JWT_ALG_ES256, k().ec_a.private_pem, claims(), "ec-a");
  EXPECT_REFUSED(v.verify(es, now), errc::alg_not_allowed, es);
}

TEST(auth_jwks, an_hs256_token_keyed_with_the_rsa_public_key_is_refused) {
  // Algorithm confusion: the attacker knows the public key and uses its PEM
  // (or its JWK text) as an HMAC secret.
  const std::string jwk_text = jwk(k().rsa_a, "rsa-a");
  std::string with_pem =
      sign(JWT_ALG_HS256, k().rsa_a.public_pem, claims(R"("role":"admin")"), "rsa-a");
  std::string with_jwk = sign(JWT_ALG_HS256, jwk_text, claims(R"("role":"admin")"), "rsa-a");
  std::string no_kid = sign(JWT_ALG_HS256, k().rsa_a.public_pem, claims(R"("role":"admin")"));
  auto jwks_only = jwks_verifier(jwks({jwk_text}));
  for (const auto& token : {with_pem, with_jwk, no_kid}) {
    EXPECT_REFUSED(jwks_only.v.verify(token, now), errc::alg_not_allowed, token);
  }
  // With a secret configured too, the secret is the only HMAC key.
  auth_config cfg;
  cfg.jwt_secret = secret;
  auto both = jwks_verifier(jwks({jwk_text}), cfg);
  for (const auto& token : {with_pem, with_jwk, no_kid}) {
    EXPECT_REFUSED(both.v.verify(token, now), errc::bad_signature, token);
  }
}

TEST(auth_jwks, encryption_keys_are_ignored) {
  // The "enc" key has the same kid as the signing key would: it must not be used.
  auto s = jwks_verifier(jwks({jwk(k().rsa_b, "enc-key", R"("use":"enc")"),
                               jwk(k().rsa_a, "sig-key", R"("use":"sig","alg":"RS256")")}));
  std::string enc = sign(JWT_ALG_RS256, k().rsa_b.private_pem, claims(), "enc-key");
  EXPECT_REFUSED(s.v.verify(enc, now), errc::unknown_key, enc);
  // One signing key left: a token without kid uses it.
  std::string sig = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims());
  EXPECT_TRUE(s.v.verify(sig, now).who);
}

TEST(auth_jwks, a_bad_file_is_refused_naming_the_file_and_the_problem) {
  const std::string dir = temp_dir();
  struct bad_case {
    std::string contents;
    std::string says;
  };
  const test_key small_rsa = make_rsa(1024);
  const std::vector<bad_case> cases = {
      {"{not json", "not valid JSON"},
      {R"({"kids":[]})", "{\"keys\":[...]}"},
      {R"({"keys":[]})", "no signing keys"},
      {jwks({jwk(k().rsa_a, "x", R"("use":"enc")")}), "no signing keys"},
      {R"({"keys":[7]})", "key 0 is not an object"},
      {jwks({jwk(k().rsa_a, "a"), jwk(k().rsa_b, "a")}), "kid is used twice"},
      {jwks({jwk(small_rsa, "small")}), "1024 bits"},
      {jwks({R"({"kid":"e","kty":"EC","crv":"P-384","x":"AA","y":"AA"})"}), "P-384"},
      {jwks({R"({"kid":"o","kty":"oct","k":"c2VjcmV0"})"}), "kty \"oct\""},
      {jwks({R"({"kid":"r","kty":"RSA","n":"!!","e":"AQAB"})"}), "\"n\" and \"e\""},
      {jwks({jwk(k().rsa_a, "r", R"("alg":"RS512")")}), "\"alg\" must be \"RS256\""},
      // A point that is not on the curve.
      {jwks({R"({"kid":"p","kty":"EC","crv":"P-256","x":")" + b64url(std::string(32, '\1')) +
             R"(","y":")" + b64url(std::string(32, '\2')) + "\"}"}),
       "not a point on P-256"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string path = dir + "/bad" + std::to_string(n++) + ".json";
    write_file(path, c.contents);
    auth_config cfg;
    cfg.jwks_file = path;
    std::string error = create_error(cfg);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find(c.says), std::string::npos)
        << "expected \"" << c.says << "\" in: " << error;
  }
  auth_config missing;
  missing.jwks_file = dir + "/does-not-exist.json";
  EXPECT_NE(create_error(missing).find("does-not-exist.json: cannot open"), std::string::npos)
      << create_error(missing);
}

TEST(auth_jwks, reload_rotates_keys_and_keeps_the_old_ones_when_the_new_file_is_bad) {
  auto s = jwks_verifier(jwks({jwk(k().rsa_a, "main")}));
  const std::string old_token = sign(JWT_ALG_RS256, k().rsa_a.private_pem, claims(), "main");
  const std::string new_token = sign(JWT_ALG_ES256, k().ec_b.private_pem, claims(), "next");
  ASSERT_TRUE(s.v.verify(old_token, now).who);
  EXPECT_REFUSED(s.v.verify(new_token, now), errc::unknown_key, new_token);

  write_file(s.path, jwks({jwk(k().ec_b, "next")}));
  EXPECT_EQ(s.v.reload(), "");
  EXPECT_TRUE(s.v.verify(new_token, now).who);
  EXPECT_FALSE(s.v.verify(old_token, now).who);

  // Same kid, new key: the old key's tokens no longer verify.
  write_file(s.path, jwks({jwk(k().rsa_b, "main")}));
  EXPECT_EQ(s.v.reload(), "");
  EXPECT_REFUSED(s.v.verify(old_token, now), errc::bad_signature, old_token);
  const std::string rotated = sign(JWT_ALG_RS256, k().rsa_b.private_pem, claims(), "main");
  EXPECT_TRUE(s.v.verify(rotated, now).who);

  // A broken file: the error names it, and the keys stay as they were.
  write_file(s.path, R"({"keys":[{"kty":"RSA"}]})");
  std::string error = s.v.reload();
  EXPECT_NE(error.find(s.path), std::string::npos) << error;
  EXPECT_NE(error.find("keeping the old keys"), std::string::npos) << error;
  EXPECT_TRUE(s.v.verify(rotated, now).who);
  std::filesystem::remove(s.path);
  EXPECT_NE(s.v.reload(), "");
  EXPECT_TRUE(s.v.verify(rotated, now).who);
}

TEST(auth_secret, the_secret_file_is_read_and_reloaded) {
  const std::string path = temp_dir() + "/secret";
  write_file(path, secret + "\n");  // as `echo` writes it
  auth_config cfg;
  cfg.jwt_secret_file = path;
  verifier v = make(cfg);
  const std::string first = sign(JWT_ALG_HS256, secret, claims());
  EXPECT_TRUE(v.verify(first, now).who);

  const std::string rotated_secret = secret + "-rotated";
  write_file(path, rotated_secret);
  EXPECT_EQ(v.reload(), "");
  EXPECT_REFUSED(v.verify(first, now), errc::bad_signature, first);
  EXPECT_TRUE(v.verify(sign(JWT_ALG_HS256, rotated_secret, claims()), now).who);

  write_file(path, "short");
  std::string error = v.reload();
  EXPECT_NE(error.find("at least 32"), std::string::npos) << error;
  EXPECT_EQ(error.find("short"), std::string::npos) << "the error repeats the secret: " << error;
  EXPECT_TRUE(v.verify(sign(JWT_ALG_HS256, rotated_secret, claims()), now).who);
}

TEST(auth_secret, weak_or_ambiguous_secrets_are_refused_at_start) {
  auth_config short_secret;
  short_secret.jwt_secret = "too-short";
  EXPECT_NE(create_error(short_secret).find("at least 32"), std::string::npos);
  auth_config both;
  both.jwt_secret = secret;
  both.jwt_secret_file = "/nonexistent";
  EXPECT_NE(create_error(both).find("keep only one"), std::string::npos);
  auth_config negative;
  negative.leeway = std::chrono::seconds(-1);
  EXPECT_NE(create_error(negative).find("leeway"), std::string::npos);
}

TEST(auth_base64url, every_value_has_exactly_one_accepted_encoding) {
  EXPECT_EQ(base64url_decode(""), std::string());
  EXPECT_EQ(base64url_decode("QQ"), std::string("A"));
  EXPECT_EQ(base64url_decode("QUI"), std::string("AB"));
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  // "QR" would also decode to "A" if the unused low bits were ignored: a
  // signature could then be changed without changing its value.
  EXPECT_FALSE(base64url_decode("QR"));
  EXPECT_FALSE(base64url_decode("QUJ"));
  EXPECT_FALSE(base64url_decode("QQ=="));  // no padding in JWTs
  EXPECT_FALSE(base64url_decode("Q"));     // impossible length
  EXPECT_FALSE(base64url_decode("QU+/"));  // standard alphabet, not url-safe
  EXPECT_FALSE(base64url_decode("QU I"));
}
