// quill-backend: argument parsing and the loop's life; everything else lives in quill_core.

#include <curl/curl.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <span>

#include "app/app.hpp"
#include "app/cli.hpp"
#include "util/log.hpp"

namespace {

// Closes whatever a bug left open so uv_loop_close can succeed, and says so.
void close_leftover_handles(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* handle, void*) {
        if (uv_is_closing(handle)) return;
        QLOG(Warn) << "handle of type " << uv_handle_type_name(handle->type)
                   << " still open at exit";
        uv_close(handle, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace

int main(int argc, char** argv) {
  using quill::app::CliResult;
  const auto cli = quill::app::parse_cli(std::span<const char* const>(argv + 1, argc - 1));
  switch (cli.action) {
    case CliResult::Action::Version:
      std::fputs(quill::app::version_text().c_str(), stdout);
      return 0;
    case CliResult::Action::Help:
      std::fputs(quill::app::help_text().c_str(), stdout);
      return 0;
    case CliResult::Action::Error:
      std::fprintf(stderr, "quill-backend: %s\n", cli.error.c_str());
      return 2;
    case CliResult::Action::Run:
      break;
  }

  quill::log::set_level(cli.options.log_level);
  if (cli.options.log_file) {
    if (auto error = quill::log::open_file(*cli.options.log_file)) {
      std::fprintf(stderr, "quill-backend: %s; logging to stderr\n", error->c_str());
    }
  }
  // A closed stdout must be an error value from write, not a process-killing signal.
  std::signal(SIGPIPE, SIG_IGN);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int code = 0;
  {
    quill::app::App app(&loop);
    code = app.run(0, 1);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // let the closes requested by the owners complete
  if (uv_loop_close(&loop) == UV_EBUSY) {
    close_leftover_handles(&loop);
    uv_loop_close(&loop);
  }
  QLOG(Info) << "exit " << code;
  curl_global_cleanup();
  quill::log::close();
  return code;
}
