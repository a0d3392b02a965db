#pragma once
// The provider-neutral events of a streamed round, and the decoder interface each wire format
// implements (provider/ollama/stream_decoder.hpp: NDJSON; provider/openai/stream_decoder.hpp:
// SSE). A turn feeds the body's bytes in whatever pieces they arrive and reads chunks.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provider/chat_request.hpp"

namespace quill::provider {

// Usage of one round. Durations are nanoseconds; a provider that reports none leaves them 0 and
// the turn measures the answer on its own clock.
struct ChatStats {
  std::uint64_t total_duration = 0;
  std::uint64_t load_duration = 0;
  std::uint64_t prompt_eval_count = 0;
  std::uint64_t prompt_eval_duration = 0;
  std::uint64_t eval_count = 0;
  std::uint64_t eval_duration = 0;
  bool operator==(const ChatStats&) const = default;
};

struct Chunk {
  std::string content;               // answer text
  std::string thinking;              // reasoning: never answer text
  std::vector<ToolCall> tool_calls;  // complete calls, in arrival order
  std::size_t call_bytes = 0;        // the wire bytes those calls (or their fragments) took
  bool done = false;
  std::string done_reason;           // stop, length, … (set with done)
  std::optional<std::string> error;  // the server's error event
  bool has_stats = false;            // stats came with this chunk
  ChatStats stats;

  // Keeps the strings' buffers: one chunk is reused for every line or event.
  void clear() {
    content.clear();
    thinking.clear();
    tool_calls.clear();
    call_bytes = 0;
    done = false;
    done_reason.clear();
    error.reset();
    has_stats = false;
    stats = ChatStats{};
  }
};

class StreamDecoder {
 public:
  using OnChunk = std::function<void(Chunk& chunk)>;
  virtual ~StreamDecoder() = default;

  // Decodes the next bytes of the body, calling on_chunk for each chunk; stops at the first
  // malformed piece and returns what was wrong with it.
  virtual std::optional<std::string> feed(std::string_view bytes, const OnChunk& on_chunk) = 0;
  // The end of the body: decodes what the framing still held.
  virtual std::optional<std::string> finish(const OnChunk& on_chunk) = 0;
  // The body stopped in the middle of a line or event.
  virtual bool cut_mid_message() const = 0;
};

}  // namespace quill::provider
