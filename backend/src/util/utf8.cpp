#include "util/utf8.hpp"

#include <simdjson.h>

namespace quill::util {
namespace {

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Bytes after the lead byte `b`, and the range allowed for the first of them (Unicode Table
// 3-7); 0 for a byte that cannot start a sequence.
std::size_t trail_bytes(unsigned char b, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) return 1;
  if (b >= 0xE0 && b <= 0xEF) {
    if (b == 0xE0) *lo = 0xA0;  // no overlong forms
    if (b == 0xED) *hi = 0x9F;  // no surrogates
    return 2;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (b == 0xF0) *lo = 0x90;  // no overlong forms
    if (b == 0xF4) *hi = 0x8F;  // nothing above U+10FFFF
    return 3;
  }
  return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

void append_repaired_utf8(std::string& out, std::string_view text) {
  std::size_t run = 0;  // start of the stretch of valid bytes not yet appended
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    unsigned char lo = 0;
    unsigned char hi = 0;
    const std::size_t trail = trail_bytes(b, &lo, &hi);
    std::size_t good = 1;  // bytes of the sequence well-formed so far: its maximal subpart
    while (trail > 0 && good <= trail && i + good < text.size()) {
      const auto c = static_cast<unsigned char>(text[i + good]);
      if (good == 1 ? (c < lo || c > hi) : !is_continuation(c)) break;
      ++good;
    }
    if (trail > 0 && good == trail + 1) {
      i += good;
      continue;
    }
    out.append(text.substr(run, i - run));
    out.append(kReplacementCharacter);
    i += good;
    run = i;
  }
  out.append(text.substr(run));
}

void assign_valid_utf8(std::string& out, std::string_view text) {
  if (is_valid_utf8(text)) {
    out.assign(text);
    return;
  }
  out.clear();
  append_repaired_utf8(out, text);
}

std::size_t utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text.size();
  std::size_t n = max;
  while (n > 0 && is_continuation(static_cast<unsigned char>(text[n])))
    --n;
  return n;
}

}  // namespace quill::util
