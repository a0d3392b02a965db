#include "spawn.hpp"

#include <unistd.h>

#include <stdexcept>

namespace quill::test {

pid_t spawn(std::vector<std::string> argv, int in_fd, int out_fd, int err_fd) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fds[3] = {in_fd, out_fd, err_fd};
    for (int target = 0; target < 3; ++target) {
      if (fds[target] >= 0) ::dup2(fds[target], target);
    }
    ::execvp(args[0], args.data());  // a bare name is looked up on PATH
    ::_exit(127);
  }
  return pid;
}

}  // namespace quill::test
