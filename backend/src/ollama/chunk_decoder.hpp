#pragma once
// One line of Ollama's /api/chat stream -> ChatChunk, with simdjson on-demand. The hot path:
// one call per token, no DOM, buffers reused between lines. Unknown keys are skipped and key
// order does not matter (it changed across Ollama versions).

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quill::ollama {

struct ChatStats {
  std::uint64_t total_duration = 0;  // nanoseconds, as Ollama reports them
  std::uint64_t load_duration = 0;
  std::uint64_t prompt_eval_count = 0;
  std::uint64_t prompt_eval_duration = 0;
  std::uint64_t eval_count = 0;
  std::uint64_t eval_duration = 0;
};

struct ChatChunk {
  std::string content;
  std::string thinking;
  // Each call object's JSON, exactly as received; parse_tool_call (chat_request.hpp) accepts each.
  std::vector<std::string> tool_calls;
  bool done = false;
  std::string done_reason;
  std::optional<std::string> error;  // an {"error": …} line
  ChatStats stats;

  void clear();
};

class ChunkDecoder {
 public:
  // Fills `out` from one line; on failure returns what was wrong with the line.
  std::optional<std::string> decode(std::string_view line, ChatChunk& out);

 private:
  simdjson::ondemand::parser parser_;
  std::string padded_;  // the line copied with simdjson's padding room
};

}  // namespace quill::ollama
