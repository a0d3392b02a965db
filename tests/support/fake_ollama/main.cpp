// fake-ollama: a scenario-driven stand-in for Ollama, for quill's tests and `make run` demos.
// Prints "listening on http://HOST:PORT" on stdout once ready; logs requests on stderr.

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fake_ollama.hpp"
#include "uv/byte_stream.hpp"
#include "uv/handle.hpp"

namespace {

using quill::uv::UvHandle;

constexpr const char* kUsage =
    "usage: fake-ollama [--host 127.0.0.1] [--port N] [--scenario SPEC] [--fixtures DIR]\n"
    "                   [--quiet] [--exit-on-stdin-eof]\n"
    "  --port N              0 = ephemeral (default 11434)\n"
    "  --scenario SPEC       default for /api/chat: name?key=value&... (default demo)\n"
    "  --fixtures DIR        Ollama fixtures (api-tags.json, *.ndjson)\n"
    "  --quiet               no request log on stderr\n"
    "  --exit-on-stdin-eof   exit when stdin closes (so a dying parent takes us down)\n"
    "A request picks a scenario with \"model\":\"name?key=value\"; scenarios:";

struct Cli {
  fake_ollama::Options options;
  bool exit_on_stdin_eof = false;
};

[[noreturn]] void usage(int code, const std::string& problem = {}) {
  if (!problem.empty()) std::fprintf(stderr, "fake-ollama: %s\n", problem.c_str());
  std::fprintf(code == 0 ? stdout : stderr, "%s", kUsage);
  for (std::string_view name : fake_ollama::scenario_names())
    std::fprintf(code == 0 ? stdout : stderr, " %.*s", static_cast<int>(name.size()), name.data());
  std::fprintf(code == 0 ? stdout : stderr, "\n");
  std::exit(code);
}

Cli parse_cli(int argc, char** argv) {
  Cli cli;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const std::size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage(2, arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--host") {
      cli.options.host = take();
    } else if (arg == "--port") {
      const std::string text = take();
      char* end = nullptr;
      const long port = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || port < 0 || port > 65535) usage(2, "bad --port " + text);
      cli.options.port = static_cast<int>(port);
    } else if (arg == "--scenario") {
      cli.options.scenario = take();
    } else if (arg == "--fixtures") {
      cli.options.fixtures_dir = take();
    } else if (arg == "--quiet") {
      cli.options.quiet = true;
    } else if (arg == "--exit-on-stdin-eof") {
      cli.exit_on_stdin_eof = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(0);
    } else {
      usage(2, "unknown argument " + arg);
    }
  }
  return cli;
}

int serve(uv_loop_t* loop, const Cli& cli) {
  fake_ollama::FakeOllama fake(loop, cli.options);
  if (const auto problem = fake.start()) {
    std::fprintf(stderr, "fake-ollama: %s\n", problem->c_str());
    return 1;
  }

  UvHandle<uv_signal_t> sigterm([loop](uv_signal_t* s) { return uv_signal_init(loop, s); });
  UvHandle<uv_signal_t> sigint([loop](uv_signal_t* s) { return uv_signal_init(loop, s); });
  std::unique_ptr<quill::uv::ByteReader> input;

  // Closing everything lets uv_run return. The stdin reader is only stopped here (this may run
  // inside its own callback); its destructor closes it after the loop.
  std::function<void(const char*)> on_stop = [&](const char* why) {
    if (!cli.options.quiet) std::fprintf(stderr, "fake-ollama: exiting (%s)\n", why);
    fake.stop();
    sigterm.close();
    sigint.close();
    if (input) input->stop();
  };

  for (auto* sig : {&sigterm, &sigint}) {
    if (!sig->ok()) continue;
    sig->get()->data = &on_stop;
    uv_signal_start(
        sig->get(),
        [](uv_signal_t* s, int signum) {
          (*static_cast<std::function<void(const char*)>*>(s->data))(signum == SIGTERM ? "SIGTERM"
                                                                                       : "SIGINT");
        },
        sig == &sigterm ? SIGTERM : SIGINT);
  }

  if (cli.exit_on_stdin_eof) {
    std::string error;
    input = quill::uv::open_reader(loop, 0, &error);
    if (!input ||
        input->start([](std::string_view) {}, [&](int) { on_stop("stdin closed"); }) != 0) {
      std::fprintf(stderr, "fake-ollama: cannot watch stdin: %s\n", error.c_str());
      return 1;
    }
  }

  std::printf("listening on %s\n", fake.base_url().c_str());
  std::fflush(stdout);
  if (!cli.options.quiet)
    std::fprintf(stderr, "fake-ollama: default scenario '%s', fixtures %s\n",
                 cli.options.scenario.c_str(), cli.options.fixtures_dir.c_str());

  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a client that vanished is a write error, not a death
  const Cli cli = parse_cli(argc, argv);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 1;
  const int code = serve(&loop, cli);
  uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks of what serve() left behind
  return uv_loop_close(&loop) == 0 ? code : (code != 0 ? code : 3);
}
