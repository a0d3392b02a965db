#pragma once
// Process-wide logger. stdout belongs to the protocol, so logs go to stderr or a file.
// Writes are synchronous line writes: volume is a few lines per request, never per token
// below trace level, so they do not stall the loop in practice.

#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace quill::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

// Opens `path` for appending; on failure keeps stderr and returns the error text.
std::optional<std::string> open_file(const std::string& path);
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);
void close();

// Builds one line and writes it when destroyed: QLOG(Info) << "x=" << x;
class Line {
 public:
  explicit Line(Level level) : level_(level) {}
  ~Line() { write(level_, out_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

 private:
  Level level_;
  std::ostringstream out_;
};

}  // namespace quill::log

#define QLOG(level)                                         \
  if (!::quill::log::enabled(::quill::log::Level::level)) { \
  } else                                                    \
    ::quill::log::Line(::quill::log::Level::level)
