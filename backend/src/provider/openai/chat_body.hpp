#pragma once
// The editor's request in the OpenAI chat completions shape (POST {url}/chat/completions):
// system, user, assistant {content, tool_calls?[{id, type: "function", function: {name,
// arguments: "<JSON text>"}}]} and tool {tool_call_id, content} messages; stream with usage.
// Options pass into the body as the user wrote them (temperature, max_tokens, seed, …), except
// the keys the request itself needs.

#include <string>

#include "provider/chat_request.hpp"

namespace quill::openai {

std::string build_chat_body(const provider::ChatRequest& request);

}  // namespace quill::openai
