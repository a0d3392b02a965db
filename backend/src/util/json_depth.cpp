#include "util/json_depth.hpp"

#include <cstring>

namespace quill::util {

std::size_t json_depth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    switch (*p++) {
      case '[':
      case '{':
        if (++depth > deepest) deepest = depth;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      case '"':
        // Skip the string: brackets inside it are text. memchr keeps long strings cheap.
        for (;;) {
          const auto* quote = static_cast<const char*>(std::memchr(p, '"', end - p));
          if (quote == nullptr) return deepest;  // unterminated: nothing more to count
          // The quote ends the string unless an odd number of backslashes precedes it.
          std::size_t backslashes = 0;
          for (const char* b = quote; b > p && b[-1] == '\\'; --b)
            ++backslashes;
          p = quote + 1;
          if (backslashes % 2 == 0) break;
        }
        break;
      default:
        break;
    }
  }
  return deepest;
}

}  // namespace quill::util
