#pragma once
// Starts a program for a test with chosen descriptors on its stdin, stdout and stderr.

#include <sys/types.h>

#include <string>
#include <vector>

namespace quill::test {

// Runs argv[0] (a bare name: found on PATH) with `argv`; each fd (-1: inherit ours) becomes the
// child's 0, 1 or 2. Throws on failure to fork; an exec failure shows as exit code 127.
pid_t spawn(std::vector<std::string> argv, int in_fd, int out_fd, int err_fd);

}  // namespace quill::test
