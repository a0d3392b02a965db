#pragma once
// The one JSON nesting limit (protocol/README.md, "Nesting"). Parsers and serialisers recurse per
// level (nlohmann's copy and dump, the editor's vim.json), so a hostile document of 100,000 nested
// arrays overflows a stack. Everything quill reads (frames from the editor, lines and bodies from
// the server) is measured with a byte scan before any DOM is built, and refused when too deep.

#include <cstddef>
#include <string_view>

namespace quill::util {

// The deepest nesting of arrays and objects accepted in any message, either direction.
inline constexpr std::size_t kMaxJsonDepth = 256;

// What the server sends is held a few levels lower: its values (a tool call's `arguments`, 5
// levels deep in an Ollama chunk) are passed on to the editor up to 7 levels deep (in a chat/send
// error's data.messages), so every message the backend writes stays within kMaxJsonDepth.
inline constexpr std::size_t kMaxProviderJsonDepth = kMaxJsonDepth - 8;

// The deepest nesting of arrays and objects in `text` (0 for a scalar), found by one pass over the
// bytes that skips strings. Exact for valid JSON, an upper bound for anything else; linear time,
// constant space.
std::size_t json_depth(std::string_view text);

inline bool json_depth_within(std::string_view text, std::size_t limit = kMaxJsonDepth) {
  return json_depth(text) <= limit;
}

}  // namespace quill::util
