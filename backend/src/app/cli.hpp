#pragma once
// Command-line arguments of quill-backend.

#include <optional>
#include <span>
#include <string>

#include "util/log.hpp"

namespace quill::app {

struct Options {
  std::optional<std::string> log_file;
  log::Level log_level = log::Level::Info;
};

struct CliResult {
  enum class Action { Run, Version, Help, Error };
  Action action = Action::Run;
  Options options;
  std::string error;  // for Action::Error
};

CliResult parse_cli(std::span<const char* const> args);  // args without argv[0]
std::string help_text();
std::string version_text();

}  // namespace quill::app
