// Authentication and authorisation (daemon/auth): the static token, JWT
// validation, JWKS loading and reload, topic globs, constant-time compare.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "auth/constant_time.hpp"
#include "auth/topics.hpp"
#include "auth/verifier.hpp"

using namespace queuecast::auth;
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
