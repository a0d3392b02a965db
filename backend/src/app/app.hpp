#pragma once
// Wiring of one backend process: transport <-> peer <-> lifecycle (and later the chat and tool
// services), signals, and an orderly exit that flushes what was already queued for the editor.

#include <uv.h>

#include <memory>
#include <string>

#include "app/cli.hpp"
#include "chat/chat_service.hpp"
#include "chat/token_coalescer.hpp"
#include "rpc/peer.hpp"
#include "rpc/stdio_transport.hpp"
#include "server/lifecycle.hpp"
#include "uv/handle.hpp"

namespace quill::app {

class App {
 public:
  // How long an exit waits for queued output to reach an editor that may have stopped reading.
  static constexpr std::uint64_t kExitFlushMs = 2000;

  explicit App(uv_loop_t* loop) : loop_(loop) {}
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Serves until exit; returns the process exit code.
  int run(uv_file in, uv_file out);

 private:
  void request_exit(int code, const std::string& why);
  void finish();
  static void on_exit_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  std::unique_ptr<rpc::StdioTransport> transport_;
  std::unique_ptr<rpc::Peer> peer_;
  std::unique_ptr<server::Lifecycle> lifecycle_;
  std::unique_ptr<chat::TokenCoalescer> tokens_;
  std::unique_ptr<chat::ChatService> chat_;
  uv::UvHandle<uv_signal_t> sigterm_;
  uv::UvHandle<uv_signal_t> sigint_;
  uv::UvHandle<uv_timer_t> exit_timer_;
  bool exiting_ = false;
  int exit_code_ = 0;
};

}  // namespace quill::app
