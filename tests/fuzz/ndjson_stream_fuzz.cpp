// Fuzz target: an Ollama /api/chat stream (NDJSON). However the bytes are cut, the line splitter
// must give the lines a plain split on '\n' gives (one trailing '\r' dropped) and keep the rest;
// every line must decode or fail with a reason, never crash; decoded text must be valid UTF-8
// (invalid provider text becomes U+FFFD); and the round's tool calls then go the way a turn
// takes them (fuzz_support.hpp).
//
// Input: the stream bytes. If it holds a NUL, the bytes after the last NUL choose where the
// stream is cut (each one a piece length 1..256, used in turn) and the stream is what precedes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/line_splitter.hpp"
#include "provider/failure.hpp"
#include "provider/ollama/stream_decoder.hpp"

namespace {

using quill::fuzz::check;

struct Split {
  std::vector<std::string> lines;
  std::string rest;
  bool operator==(const Split&) const = default;
};

Split reference_split(std::string_view stream) {
  Split out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = stream.find('\n', start)) != std::string_view::npos; start = nl + 1) {
    std::string_view line = stream.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.lines.emplace_back(line);
  }
  out.rest = stream.substr(start);
  return out;
}

// Feeds `stream` in pieces whose lengths cycle through `lengths`.
Split feed(std::string_view stream, const std::vector<std::size_t>& lengths) {
  quill::http::LineSplitter splitter;
  Split out;
  std::size_t next = 0;
  while (!stream.empty()) {
    const std::size_t n = std::min(stream.size(), lengths[next++ % lengths.size()]);
    const bool fits = splitter.feed(stream.substr(0, n),
                                    [&](std::string_view line) { out.lines.emplace_back(line); });
    check(fits, "a short line never exceeds the line limit");
    stream.remove_prefix(n);
  }
  out.rest = splitter.rest();
  return out;
}

// What ChatTurn::on_chunk and round_finished do with the lines of one round.
void decode_round(const std::vector<std::string>& lines) {
  quill::ollama::ChunkDecoder decoder;
  quill::provider::Chunk chunk;  // reused, as the turn does
  std::string content;
  std::string thinking;
  std::vector<quill::provider::ToolCall> calls;
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    if (auto problem = decoder.decode(line, chunk)) {
      check(!problem->empty(), "a failed line says why");
      const auto failure = quill::provider::bad_stream(
          quill::provider::Kind::Ollama, *problem + ": " + std::string(line).substr(0, 80));
      (void)quill::rpc::make_error(1, {quill::rpc::code::kProviderError,
                                       failure.message,
                                       {{"kind", failure.kind}, {"detail", failure.detail}}});
      return;  // the turn fails at the first bad line
    }
    if (chunk.error) {
      (void)quill::provider::interrupted(*chunk.error);
      return;
    }
    check(quill::fuzz::valid_utf8(chunk.content), "decoded content is valid UTF-8");
    check(quill::fuzz::valid_utf8(chunk.thinking), "decoded thinking is valid UTF-8");
    check(quill::fuzz::valid_utf8(chunk.done_reason), "decoded done_reason is valid UTF-8");
    content += chunk.content;
    thinking += chunk.thinking;
    for (auto& call : chunk.tool_calls)
      calls.push_back(std::move(call));
  }
  quill::fuzz::run_round_end(content, thinking, calls);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  quill::fuzz::quiet_logs();
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  std::vector<std::size_t> cuts;
  if (const std::size_t nul = stream.rfind('\0'); nul != std::string_view::npos) {
    for (const char c : stream.substr(nul + 1))
      cuts.push_back(static_cast<unsigned char>(c) + std::size_t{1});
    stream = stream.substr(0, nul);
  }

  const Split expected = reference_split(stream);
  check(feed(stream, {stream.size() + 1}) == expected, "whole stream splits as expected");
  check(feed(stream, {1}) == expected, "byte-by-byte stream splits as expected");
  if (!cuts.empty()) check(feed(stream, cuts) == expected, "chosen cuts split as expected");

  decode_round(expected.lines);
  return 0;
}
