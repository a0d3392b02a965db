#pragma once
// Ollama's /api/chat stream: NDJSON lines, each -> one provider::Chunk, with simdjson on-demand.
// The hot path: one call per token, no DOM, buffers reused between lines. Unknown keys are skipped
// and key order does not matter (it changed across Ollama versions).

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/line_splitter.hpp"
#include "provider/chunk.hpp"

namespace quill::ollama {

// One line -> one chunk.
class ChunkDecoder {
 public:
  // Fills `out` from one line; on failure returns what was wrong with the line.
  std::optional<std::string> decode(std::string_view line, provider::Chunk& out);

 private:
  simdjson::ondemand::parser parser_;
  std::string padded_;  // the line copied with simdjson's padding room
};

// A round's body -> chunks, one per non-empty line.
class StreamDecoder final : public provider::StreamDecoder {
 public:
  explicit StreamDecoder(std::size_t max_line = http::LineSplitter::kMaxLine)
      : lines_(max_line), max_line_(max_line) {}

  std::optional<std::string> feed(std::string_view bytes, const OnChunk& on_chunk) override;
  std::optional<std::string> finish(const OnChunk& on_chunk) override;
  bool cut_mid_message() const override { return !lines_.rest().empty(); }

 private:
  http::LineSplitter lines_;
  std::size_t max_line_;
  ChunkDecoder decoder_;
  provider::Chunk chunk_;  // reused for every line
};

}  // namespace quill::ollama
