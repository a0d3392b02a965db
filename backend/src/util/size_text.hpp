#pragma once
// A byte count as people read it in a message: "64 MiB", "8 KiB", "1000 bytes".

#include <cstddef>
#include <string>

namespace quill::util {

inline std::string size_text(std::size_t bytes) {
  if (bytes != 0 && bytes % (1024 * 1024) == 0)
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes != 0 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace quill::util
