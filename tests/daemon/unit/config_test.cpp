#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "config.hpp"

extern char** environ;

using namespace queuecast;

namespace {

// parse_config() reads every QUEUECAST_* variable, so a developer's or a
// CI job's QUEUECAST_DATABASE would change what these tests see. Each test
// runs with none of them set; the destructor puts back what was there.
class clean_environment {
 public:
  clean_environment() {
    for (char** e = environ; *e; ++e) {
      if (std::strncmp(*e, "QUEUECAST_", 10) != 0) continue;
      const char* eq = std::strchr(*e, '=');
      if (eq) saved_[std::string(*e, static_cast<std::size_t>(eq - *e))] = eq + 1;
    }
    for (const auto& [name, value] : saved_) ::unsetenv(name.c_str());
  }
  ~clean_environment() {
    for (const char* name : set_) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  clean_environment(const clean_environment&) = delete;
  clean_environment& operator=(const clean_environment&) = delete;
  // Sets a variable for this test only.
  void set(const char* name, const std::string& value) {
    ::setenv(name, value.c_str(), 1);
    set_.push_back(name);
  }

 private:
  std::map<std::string, std::string> saved_;
  std::vector<const char*> set_;
};

std::variant<config, show_help, config_error> parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  static std::string program = "queuecastd";
  argv.push_back(program.data());
  for (auto& a : args) argv.push_back(a.data());
  return parse_config(static_cast<int>(argv.size()), argv.data());
}

class config_test : public ::testing::Test {
 protected:
  clean_environment env_;
};

}  // namespace

TEST_F(config_test, database_and_listen_are_all_it_takes) {
  auto parsed = parse({"--database", "postgresql://localhost/app", "--listen", "127.0.0.1:9000"});
  ASSERT_TRUE(std::holds_alternative<config>(parsed));
  const config& c = std::get<config>(parsed);
  EXPECT_EQ(c.database, "postgresql://localhost/app");
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 9000);
}

TEST_F(config_test, equals_form_and_help) {
  auto parsed = parse({"--database=dbname=x", "--log-level=debug"});
  ASSERT_TRUE(std::holds_alternative<config>(parsed));
  EXPECT_EQ(std::get<config>(parsed).level, log_level::debug);
  EXPECT_TRUE(std::holds_alternative<show_help>(parse({"--help"})));
}

TEST_F(config_test, bad_flags_say_what_to_do) {
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

// The variables are honoured: each stands for its flag, and a flag given on
// the command line wins over its variable.
TEST_F(config_test, environment_variables_stand_for_their_flags) {
  env_.set("QUEUECAST_DATABASE", "dbname=from_env");
  env_.set("QUEUECAST_LISTEN", "127.0.0.2:9100");
  env_.set("QUEUECAST_MAX_SUBSCRIPTIONS", "7");
  auto parsed = parse({});
  ASSERT_TRUE(std::holds_alternative<config>(parsed)) << std::get<config_error>(parsed).message;
  const config& c = std::get<config>(parsed);
  EXPECT_EQ(c.database, "dbname=from_env") << "QUEUECAST_DATABASE replaces --database";
  EXPECT_EQ(c.listen_host, "127.0.0.2");
  EXPECT_EQ(c.listen_port, 9100);
  EXPECT_EQ(c.max_subscriptions, 7u);

  auto flag_wins = parse({"--database", "dbname=from_flag"});
  ASSERT_TRUE(std::holds_alternative<config>(flag_wins));
  EXPECT_EQ(std::get<config>(flag_wins).database, "dbname=from_flag");

  env_.set("QUEUECAST_MAX_SUBSCRIPTIONS", "lots");
  auto bad = parse({});
  ASSERT_TRUE(std::holds_alternative<config_error>(bad)) << "a bad variable is an error too";
  EXPECT_NE(std::get<config_error>(bad).message.find("--max-subscriptions"), std::string::npos)
      << std::get<config_error>(bad).message;
}

// --threads: 0 (the default) means one per core; a count that no machine
// needs is a typo, said so.
TEST_F(config_test, threads_default_to_the_cores_and_refuse_nonsense) {
  auto defaults = parse({"--database", "x"});
  ASSERT_TRUE(std::holds_alternative<config>(defaults));
  EXPECT_EQ(std::get<config>(defaults).threads, 0u);
  auto four = parse({"--database", "x", "--threads", "4"});
  ASSERT_TRUE(std::holds_alternative<config>(four));
  EXPECT_EQ(std::get<config>(four).threads, 4u);
  for (const char* bad : {"-1", "257", "many", "2.5", ""}) {
    auto parsed = parse({"--database", "x", "--threads", bad});
    ASSERT_TRUE(std::holds_alternative<config_error>(parsed)) << "--threads " << bad;
    EXPECT_NE(std::get<config_error>(parsed).message.find("--threads"), std::string::npos)
        << std::get<config_error>(parsed).message;
  }
}

TEST_F(config_test, permessage_deflate_is_on_unless_turned_off) {
  auto defaults = parse({"--database", "x"});
  ASSERT_TRUE(std::holds_alternative<config>(defaults));
  EXPECT_TRUE(std::get<config>(defaults).permessage_deflate);
  auto off = parse({"--database", "x", "--permessage-deflate", "off"});
  ASSERT_TRUE(std::holds_alternative<config>(off));
  EXPECT_FALSE(std::get<config>(off).permessage_deflate);
  auto bad = parse({"--database", "x", "--permessage-deflate", "yes"});
  ASSERT_TRUE(std::holds_alternative<config_error>(bad));
  EXPECT_NE(std::get<config_error>(bad).message.find("on or off"), std::string::npos);
  env_.set("QUEUECAST_PERMESSAGE_DEFLATE", "off");
  auto from_env = parse({"--database", "x"});
  ASSERT_TRUE(std::holds_alternative<config>(from_env));
  EXPECT_FALSE(std::get<config>(from_env).permessage_deflate);
  EXPECT_NE(help_text().find("--permessage-deflate on|off"), std::string::npos);
}

// Actions change queues: a daemon that would let anyone who reaches the port
// pause them does not start.
TEST_F(config_test, actions_need_credentials) {
  auto open = parse({"--database", "x", "--actions-database", "dbname=x user=ops"});
  ASSERT_TRUE(std::holds_alternative<config_error>(open));
  EXPECT_NE(std::get<config_error>(open).message.find("--actions-database needs credentials"),
            std::string::npos);
  auto guarded =
      parse({"--database", "x", "--actions-database", "dbname=x user=ops", "--token", "t"});
  ASSERT_TRUE(std::holds_alternative<config>(guarded));
  EXPECT_EQ(std::get<config>(guarded).actions_database, "dbname=x user=ops");
}
