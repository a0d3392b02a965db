#pragma once
// Appends `text` to `out` as the inside of a JSON string. Input is valid UTF-8 (it came out of a
// JSON parser), so only quotes, backslashes and control characters need escaping; everything
// else is copied raw. For the per-token hot path, where building a DOM would cost more than the
// token. JsonStyle::Go also escapes what Go's encoding/json does (<, >, &, U+2028, U+2029): the
// fake Ollama server writes Ollama's exact bytes with it.

#include <string>
#include <string_view>

namespace quill::util {

enum class JsonStyle { Plain, Go };

template <JsonStyle style = JsonStyle::Plain>
void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending stretch of bytes that need no escaping
  auto flush = [&](std::size_t i, std::size_t skip) {
    out.append(text.substr(run, i - run));
    run = i + skip;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if constexpr (style == JsonStyle::Go) {
      if (c == '<' || c == '>' || c == '&') {
        flush(i, 1);
        out += c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : "\\u0026";
        continue;
      }
      if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
          (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
           static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
        flush(i, 3);
        out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
        i += 2;
        continue;
      }
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    flush(i, 1);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(text.substr(run));
}

}  // namespace quill::util
