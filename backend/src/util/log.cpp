#include "util/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>

namespace quill::log {
namespace {

struct State {
  Level level = Level::Info;
  std::FILE* file = nullptr;  // nullptr means stderr
};

State& state() {
  static State s;
  return s;
}

constexpr std::array<std::string_view, 5> kNames = {"error", "warn", "info", "debug", "trace"};

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Level>(i);
  }
  return std::nullopt;
}

std::string_view level_name(Level level) {
  return kNames[static_cast<std::size_t>(level)];
}

std::optional<std::string> open_file(const std::string& path) {
  // Logs hold prompts, file names and server messages: the user's alone.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open log file " + path;
  // A log an older version created readable by others is tightened (only a regular file of ours:
  // the path may be a terminal or /dev/null).
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
      (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    ::close(fd);
    return "cannot open log file " + path;
  }
  close();
  state().file = f;
  return std::nullopt;
}

void set_level(Level level) {
  state().level = level;
}

bool enabled(Level level) {
  return level <= state().level;
}

void write(Level level, std::string_view line) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&secs, &tm);
  std::array<char, 32> stamp{};
  std::strftime(stamp.data(), stamp.size(), "%Y-%m-%d %H:%M:%S", &tm);
  std::FILE* out = state().file != nullptr ? state().file : stderr;
  std::fprintf(out, "%s.%03d [%s] %.*s\n", stamp.data(), static_cast<int>(millis),
               level_name(level).data(), static_cast<int>(line.size()), line.data());
  std::fflush(out);
}

void close() {
  if (state().file != nullptr) {
    std::fclose(state().file);
    state().file = nullptr;
  }
}

}  // namespace quill::log
