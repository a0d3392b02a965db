#include "app/cli.hpp"

#include <string_view>

namespace quill::app {

CliResult parse_cli(std::span<const char* const> args) {
  CliResult out;
  auto fail = [&out](std::string message) {
    out.action = CliResult::Action::Error;
    out.error = std::move(message);
    return out;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    // The value of an option: after '=' or the next argument.
    auto value = [&](std::string_view name) -> std::optional<std::string_view> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return std::string_view(args[++i]);
      fail("option " + std::string(name) + " needs a value");
      return std::nullopt;
    };
    if (arg == "--version" || arg == "-V") {
      out.action = CliResult::Action::Version;
    } else if (arg == "--help" || arg == "-h") {
      out.action = CliResult::Action::Help;
    } else if (arg == "--log-file") {
      const auto path = value(arg);
      if (!path) return out;
      if (path->empty()) return fail("--log-file needs a path");
      out.options.log_file = std::string(*path);
    } else if (arg == "--log-level") {
      const auto name = value(arg);
      if (!name) return out;
      const auto level = log::parse_level(*name);
      if (!level) {
        return fail("unknown log level '" + std::string(*name) +
                    "' (use error, warn, info, debug or trace)");
      }
      out.options.log_level = *level;
    } else {
      return fail("unknown argument '" + std::string(args[i]) + "' (see --help)");
    }
    if (out.action == CliResult::Action::Version || out.action == CliResult::Action::Help) break;
  }
  return out;
}

std::string version_text() {
  return std::string("quill-backend ") + QUILL_VERSION + "\n";
}

std::string help_text() {
  return "Usage: quill-backend [--log-file PATH] [--log-level LEVEL]\n"
         "\n"
         "The native backend of quill.nvim. It speaks JSON-RPC 2.0 with LSP framing\n"
         "(Content-Length headers) on stdin/stdout and is started by the plugin; see\n"
         "protocol/README.md for the messages.\n"
         "\n"
         "Options:\n"
         "  --log-file PATH    append logs to PATH instead of stderr\n"
         "  --log-level LEVEL  error, warn, info (default), debug or trace\n"
         "  --version, -V      print the version and exit\n"
         "  --help, -h         print this help and exit\n";
}

}  // namespace quill::app
