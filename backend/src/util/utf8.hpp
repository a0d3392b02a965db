#pragma once
// UTF-8 from outside made valid, and cuts that never split a code point. The provider's bytes are
// hostile: an invalid sequence must become U+FFFD (protocol/README.md, "UTF-8"), not fail the
// turn, and a cut at a size limit must leave valid text behind.

#include <cstddef>
#include <string>
#include <string_view>

namespace quill::util {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

bool is_valid_utf8(std::string_view text);

// Appends `text` with each ill-formed sequence replaced by one U+FFFD per maximal subpart
// (Unicode's recommended practice, the one WHATWG decoders follow): "\xE2\x82" is one U+FFFD,
// "\xFF\xFE" two. Surrogates and overlong forms are ill-formed.
void append_repaired_utf8(std::string& out, std::string_view text);

// out = text, repaired only if invalid: valid text costs one validation and one copy.
void assign_valid_utf8(std::string& out, std::string_view text);

// Length of the longest prefix of the valid UTF-8 `text` that has at most `max` bytes and ends on
// a code point boundary.
std::size_t utf8_prefix(std::string_view text, std::size_t max);

}  // namespace quill::util
