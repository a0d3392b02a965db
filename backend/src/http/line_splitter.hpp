#pragma once
// Line framing, for Ollama's NDJSON and under SSE: bytes in arbitrary pieces -> complete lines
// (without the '\n' or "\r\n"). A line may arrive in many pieces and a piece may hold many lines;
// a boundary may fall inside a UTF-8 character. Pure, so it is tested over every byte boundary.

#include <cstddef>
#include <string>
#include <string_view>

namespace quill::http {

class LineSplitter {
 public:
  // A tool call carrying a whole file is one line: allow big ones, but not unbounded.
  static constexpr std::size_t kMaxLine = 64 * 1024 * 1024;

  // max_line: the most bytes a line may have before its '\n' (a '\r' counts).
  explicit LineSplitter(std::size_t max_line = kMaxLine) : max_line_(max_line) {}

  // Calls on_line(std::string_view) for each complete line; false if a line exceeded the limit,
  // however it was split (nothing of that line is delivered).
  template <typename OnLine>
  bool feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
      const std::size_t nl = bytes.find('\n');
      const std::size_t taken = nl == std::string_view::npos ? bytes.size() : nl;
      if (partial_.size() + taken > max_line_) return false;
      if (nl == std::string_view::npos) {
        partial_.append(bytes);
        return true;
      }
      if (partial_.empty()) {
        on_line(strip_cr(bytes.substr(0, nl)));  // the common case: no copy
      } else {
        partial_.append(bytes.substr(0, nl));
        on_line(strip_cr(partial_));
        partial_.clear();
      }
      bytes.remove_prefix(nl + 1);
    }
    return true;
  }

  // Bytes after the last '\n' (a stream that ends here was cut off mid-line).
  std::string_view rest() const { return partial_; }

 private:
  static std::string_view strip_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  std::size_t max_line_;
  std::string partial_;
};

}  // namespace quill::http
