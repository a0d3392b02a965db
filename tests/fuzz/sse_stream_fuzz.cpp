// Fuzz target: an OpenAI-compatible SSE body (any bytes) through the stream decoder, whole, byte
// by byte and at chosen cuts (after the last NUL, one cut size per byte). Every piecing must give
// the same chunks (the framing holds no state that depends on where the bytes were cut); decoded
// text and calls must be valid UTF-8 and JSON; the round's end runs as ChatTurn runs it, for both
// providers' next request.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "provider/openai/stream_decoder.hpp"

namespace {

using quill::fuzz::check;

struct Round {
  std::string content;
  std::string thinking;
  std::vector<std::string> calls;  // each call's protocol form, dumped
  std::vector<quill::provider::ToolCall> typed;
  std::string done_reason;
  bool done = false;
  std::string problem;
  bool operator==(const Round& o) const {
    return content == o.content && thinking == o.thinking && calls == o.calls &&
           done_reason == o.done_reason && done == o.done && problem.empty() == o.problem.empty();
  }
};

Round feed(std::string_view stream, const std::vector<std::size_t>& cuts) {
  quill::openai::StreamDecoder decoder;
  Round r;
  auto on = [&](quill::provider::Chunk& c) {
    check(quill::fuzz::valid_utf8(c.content), "decoded content is valid UTF-8");
    check(quill::fuzz::valid_utf8(c.thinking), "decoded thinking is valid UTF-8");
    r.content += c.content;
    r.thinking += c.thinking;
    for (auto& call : c.tool_calls) {
      r.calls.push_back(call.as_call().dump());  // throws on invalid UTF-8
      r.typed.push_back(std::move(call));
    }
    if (c.done) {
      check(!r.done, "done once");
      r.done = true;
      r.done_reason = c.done_reason;
    }
  };
  std::size_t at = 0;
  std::size_t i = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min(cuts[i++ % cuts.size()], stream.size() - at);
    if (auto problem = decoder.feed(stream.substr(at, n), on)) {
      check(!problem->empty(), "a failure says why");
      r.problem = *problem;
      return r;
    }
    at += n;
  }
  if (auto problem = decoder.finish(on)) r.problem = *problem;
  return r;
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
  const Round whole = feed(stream, {stream.size() + 1});
  check(feed(stream, {1}) == whole, "byte by byte decodes as the whole body");
  if (!cuts.empty()) check(feed(stream, cuts) == whole, "chosen cuts decode as the whole body");
  if (whole.problem.empty()) quill::fuzz::run_round_end(whole.content, whole.thinking, whole.typed);
  return 0;
}
