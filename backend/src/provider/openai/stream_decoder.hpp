#pragma once
// An OpenAI-compatible chat completions stream (SSE) -> provider::Chunk. Each event's data is one
// chunk object: choices[0].delta.content is answer text, delta.reasoning_content (llama.cpp,
// vLLM) or delta.reasoning (Ollama's /v1) is thinking, delta.tool_calls are fragments of calls
// assembled by `index` (id and name on the first, `arguments` as string pieces), finish_reason
// says why the round ended and `usage` comes last (choices empty); `data: [DONE]` ends the
// stream. A `{"error": …}` event is the server's error. The calls come complete on the done
// chunk, their arguments parsed once; arguments that are not JSON make a call with a problem.

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/sse_splitter.hpp"
#include "provider/chunk.hpp"

namespace quill::openai {

class StreamDecoder final : public provider::StreamDecoder {
 public:
  explicit StreamDecoder(std::size_t max_event = http::SseSplitter::kMaxEvent)
      : events_(max_event), max_event_(max_event) {}

  std::optional<std::string> feed(std::string_view bytes, const OnChunk& on_chunk) override;
  std::optional<std::string> finish(const OnChunk& on_chunk) override;
  bool cut_mid_message() const override { return events_.in_event(); }

  // One event's data -> chunk_ (exposed for tests); on failure what was wrong.
  std::optional<std::string> decode(std::string_view data);
  const provider::Chunk& chunk() const { return chunk_; }

 private:
  struct PendingCall {
    std::uint64_t index = 0;
    std::string id;
    std::string name;
    std::string arguments;  // the pieces so far
  };

  std::optional<std::string> on_event(std::string_view data, const OnChunk& on_chunk);
  std::optional<std::string> decode_choice(simdjson::ondemand::object choice);
  std::optional<std::string> decode_call(simdjson::ondemand::object call);
  void complete();  // the done chunk: the calls, the reason and the usage

  http::SseSplitter events_;
  std::size_t max_event_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  provider::Chunk chunk_;
  std::vector<PendingCall> calls_;
  std::map<std::uint64_t, std::size_t> by_index_;  // index -> the call in calls_ it continues
  std::optional<std::uint64_t> last_index_;
  std::string finish_reason_;
  bool finished_ = false;  // a finish_reason came
  bool done_ = false;      // [DONE] came (or the body ended after a finish_reason)
  bool has_usage_ = false;
  provider::ChatStats usage_;
};

}  // namespace quill::openai
