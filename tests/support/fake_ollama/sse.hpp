#pragma once
// The fake's OpenAI-compatible face: POST /v1/chat/completions plays the same scenarios as
// /api/chat, each NDJSON line of the script translated into the chat completions SSE events a
// real server sends for it (content -> delta.content, thinking -> delta.reasoning_content, tool
// calls -> fragments by index, done -> finish_reason, usage, `data: [DONE]`, an error line ->
// `data: {"error": {...}}`, an error reply -> {"error": {"message", "type", "code"}}). A line
// that is not JSON (the garbage scenarios) goes out as an event's data verbatim.
//
// A model starting with "notools" answers a request offering tools with 400 (no tool support).
//
// Two extra selection keys, for this route only:
//   fragment=<n>   argument text of a tool call goes out in pieces of n bytes (default 7)
//   interleave=1   the calls of a round are sent with their fragments interleaved

#include <cstddef>
#include <string>

#include "scenarios.hpp"

namespace fake_ollama {

struct SseOptions {
  std::size_t fragment = 7;
  bool interleave = false;
  bool usage = true;     // the request asked for stream_options.include_usage
  bool resplit = false;  // cut the events' bytes again (the `split` scenario, split=1)
};

// Takes `fragment` and `interleave` out of `spec` (the scenario itself does not know them).
SseOptions take_sse_options(Spec& spec, std::string* error);

Script to_sse(const Script& ndjson, const std::string& model, const SseOptions& options);

// An OpenAI-shaped error body for `status` and `message`.
std::string openai_error_body(int status, std::string_view message);

}  // namespace fake_ollama
