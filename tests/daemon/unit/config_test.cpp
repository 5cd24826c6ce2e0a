#include <gtest/gtest.h>

#include "config.hpp"

using namespace queuecast;

namespace {

std::variant<config, show_help, config_error> parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  static std::string program = "queuecastd";
  argv.push_back(program.data());
  for (auto& a : args) argv.push_back(a.data());
  return parse_config(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(config, database_and_listen_are_all_it_takes) {
  auto parsed = parse({"--database", "postgresql://localhost/app", "--listen", "127.0.0.1:9000"});
  ASSERT_TRUE(std::holds_alternative<config>(parsed));
  const config& c = std::get<config>(parsed);
  EXPECT_EQ(c.database, "postgresql://localhost/app");
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 9000);
}

TEST(config, equals_form_and_help) {
  auto parsed = parse({"--database=dbname=x", "--log-level=debug"});
  ASSERT_TRUE(std::holds_alternative<config>(parsed));
  EXPECT_EQ(std::get<config>(parsed).level, log_level::debug);
  EXPECT_TRUE(std::holds_alternative<show_help>(parse({"--help"})));
}

TEST(config, bad_flags_say_what_to_do) {
  auto missing = parse({});
  ASSERT_TRUE(std::holds_alternative<config_error>(missing));
  EXPECT_NE(std::get<config_error>(missing).message.find("--database is required"),
            std::string::npos);
  auto unknown = parse({"--database", "x", "--bogus", "1"});
  ASSERT_TRUE(std::holds_alternative<config_error>(unknown));
  EXPECT_NE(std::get<config_error>(unknown).message.find("unknown option '--bogus'"),
            std::string::npos);
  auto port = parse({"--database", "x", "--listen", "127.0.0.1:99999"});
  ASSERT_TRUE(std::holds_alternative<config_error>(port));
  auto no_port = parse({"--database", "x", "--listen", "localhost"});
  ASSERT_TRUE(std::holds_alternative<config_error>(no_port));
  auto level = parse({"--database", "x", "--log-level", "loud"});
  ASSERT_TRUE(std::holds_alternative<config_error>(level));
  auto dangling = parse({"--database"});
  ASSERT_TRUE(std::holds_alternative<config_error>(dangling));
}
