#pragma once
// Runs the real quill-backend binary with pipes on stdin/stdout, for integration tests.
// Blocking I/O with poll() and deadlines: this is test code, not the loop.

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rpc/frame_decoder.hpp"

namespace quill::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

class BackendProcess {
 public:
  struct Exit {
    bool exited = false;  // false: still running at the deadline
    int code = -1;        // exit status when exited normally
    int signal = 0;       // terminating signal, if any
  };

  // Starts QUILL_BACKEND_PATH with `args`. With `stdin_file`, stdin is that file instead of a pipe.
  explicit BackendProcess(std::vector<std::string> args = {"--log-level", "debug"},
                          std::optional<std::string> stdin_file = std::nullopt);
  ~BackendProcess();
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;

  pid_t pid() const { return pid_; }
  void write_raw(const std::string& bytes);
  void send(const json& message);  // frames and writes
  void request(int id, const std::string& method, const json& params = json::object());
  void notify(const std::string& method, const json& params = json::object());
  void close_stdin();
  void close_stdout();  // as an editor that died would

  // Next decoded message within `timeout`, or nullopt.
  std::optional<json> read_message(std::chrono::milliseconds timeout = 5s);
  // Skips notifications until the response to `id` arrives.
  std::optional<json> read_response(int id, std::chrono::milliseconds timeout = 5s);
  // Messages seen while waiting, in order (responses and notifications).
  const std::vector<json>& seen() const { return seen_; }

  Exit wait_exit(std::chrono::milliseconds timeout = 5s);
  void kill_signal(int signal);
  std::string stderr_text() const;  // what the backend logged

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1;   // our end of the backend's stdin
  int out_fd_ = -1;  // our end of the backend's stdout
  std::string stderr_path_;
  rpc::FrameDecoder decoder_;
  std::vector<json> seen_;
  std::optional<Exit> exit_;
};

// Frames one body as the editor would.
std::string frame(const std::string& body);

}  // namespace quill::test
