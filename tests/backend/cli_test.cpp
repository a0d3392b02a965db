#include "app/cli.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace quill::app {
namespace {

CliResult parse(std::vector<const char*> args) {
  return parse_cli(args);
}

TEST(CliTest, DefaultsRunAtInfoLevelOnStderr) {
  const auto r = parse({});
  EXPECT_EQ(r.action, CliResult::Action::Run);
  EXPECT_FALSE(r.options.log_file.has_value());
  EXPECT_EQ(r.options.log_level, log::Level::Info);
}

TEST(CliTest, ReadsLogOptionsInBothForms) {
  auto r = parse({"--log-file", "/tmp/q.log", "--log-level=debug"});
  ASSERT_EQ(r.action, CliResult::Action::Run);
  EXPECT_EQ(r.options.log_file, "/tmp/q.log");
  EXPECT_EQ(r.options.log_level, log::Level::Debug);
  r = parse({"--log-file=/x", "--log-level", "trace"});
  EXPECT_EQ(r.options.log_file, "/x");
  EXPECT_EQ(r.options.log_level, log::Level::Trace);
}

TEST(CliTest, VersionAndHelp) {
  EXPECT_EQ(parse({"--version"}).action, CliResult::Action::Version);
  EXPECT_EQ(parse({"-h"}).action, CliResult::Action::Help);
  EXPECT_NE(version_text().find(QUILL_VERSION), std::string::npos);
  EXPECT_NE(help_text().find("--log-level"), std::string::npos);
}

TEST(CliTest, ErrorsSayWhatIsWrong) {
  auto r = parse({"--log-level", "loud"});
  EXPECT_EQ(r.action, CliResult::Action::Error);
  EXPECT_NE(r.error.find("unknown log level 'loud'"), std::string::npos);
  r = parse({"--log-file"});
  EXPECT_EQ(r.action, CliResult::Action::Error);
  EXPECT_NE(r.error.find("needs a value"), std::string::npos);
  r = parse({"--frobnicate"});
  EXPECT_EQ(r.action, CliResult::Action::Error);
  EXPECT_NE(r.error.find("--frobnicate"), std::string::npos);
}

}  // namespace
}  // namespace quill::app
