#pragma once
// No exception may unwind through libuv's or libcurl's C frames: that ends the process, and
// every chat with it. The body of each callback those libraries call runs through guarded():
// an exception is logged and stops there, and the callback's owner decides what the failure
// means (a transfer stops, a read goes on).

#include <exception>
#include <utility>

#include "util/log.hpp"

namespace quill::uv {

// Runs `fn`; false if it threw (logged, with `where`).
template <typename Fn>
bool guarded(const char* where, Fn&& fn) noexcept {
  try {
    std::forward<Fn>(fn)();
    return true;
  } catch (const std::exception& e) {
    QLOG(Error) << "exception in " << where << ": " << e.what();
  } catch (...) {
    QLOG(Error) << "exception in " << where << " (not a std::exception)";
  }
  return false;
}

}  // namespace quill::uv
