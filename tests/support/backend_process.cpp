#include "backend_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "spawn.hpp"

namespace quill::test {
namespace {

std::string temp_path(const char* stem) {
  std::string pattern = std::string("/tmp/") + stem + "-XXXXXX";
  const int fd = mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  return pattern;
}

}  // namespace

std::string frame(const std::string& body) {
  return rpc::encode_frame(body);
}

BackendProcess::BackendProcess(std::vector<std::string> args,
                               std::optional<std::string> stdin_file) {
  ::signal(SIGPIPE, SIG_IGN);
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  if (!stdin_file && ::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  stderr_path_ = temp_path("quill-backend-stderr");

  std::vector<std::string> argv = {QUILL_BACKEND_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  const int in = stdin_file ? ::open(stdin_file->c_str(), O_RDONLY | O_CLOEXEC) : in_pipe[0];
  const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (in < 0 || err < 0) throw std::runtime_error("cannot open the backend's stdin or stderr");
  pid_ = spawn(std::move(argv), in, out_pipe[1], err);
  if (stdin_file) ::close(in);
  ::close(err);
  if (!stdin_file) {
    ::close(in_pipe[0]);
    in_fd_ = in_pipe[1];
  }
  ::close(out_pipe[1]);
  out_fd_ = out_pipe[0];
}

BackendProcess::~BackendProcess() {
  close_stdin();
  if (out_fd_ >= 0) ::close(out_fd_);
  if (!exit_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::unlink(stderr_path_.c_str());
}

void BackendProcess::write_raw(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(in_fd_, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("write to backend failed: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

void BackendProcess::send(const json& message) {
  write_raw(frame(message.dump()));
}

void BackendProcess::request(int id, const std::string& method, const json& params) {
  send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
}

void BackendProcess::notify(const std::string& method, const json& params) {
  send({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
}

void BackendProcess::close_stdin() {
  if (in_fd_ >= 0) {
    ::close(in_fd_);
    in_fd_ = -1;
  }
}

void BackendProcess::close_stdout() {
  if (out_fd_ >= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
  }
}

std::optional<json> BackendProcess::read_message(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (auto frame = decoder_.next()) {
      if (!frame->is_body()) throw std::runtime_error("backend wrote a bad frame: " + frame->text);
      json message = json::parse(frame->text);
      seen_.push_back(message);
      return message;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (out_fd_ < 0) return std::nullopt;
    pollfd pfd{out_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // EOF: the backend closed stdout
    decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

std::optional<json> BackendProcess::read_response(int id, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto message = read_message(left);
    if (!message) return std::nullopt;
    if (message->contains("id") && (*message)["id"] == id && !message->contains("method")) {
      return message;
    }
  }
}

BackendProcess::Exit BackendProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_) return *exit_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      Exit e;
      e.exited = true;
      if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
      exit_ = e;
      return e;
    }
    if (std::chrono::steady_clock::now() >= deadline) return Exit{};
    ::usleep(2000);
  }
}

void BackendProcess::kill_signal(int signal) {
  ::kill(pid_, signal);
}

std::string BackendProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace quill::test
