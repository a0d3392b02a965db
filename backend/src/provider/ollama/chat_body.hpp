#pragma once
// The editor's request in Ollama's /api/chat shape: {role, content, thinking?,
// tool_calls?[{id?, function:{name, arguments}}], tool_name?, tool_call_id?}, streaming.

#include <optional>
#include <string>
#include <string_view>

#include "provider/chat_request.hpp"

namespace quill::ollama {

using provider::json;

// The /api/chat body.
std::string build_chat_body(const provider::ChatRequest& request);

// One element of Ollama's message.tool_calls as received, {"id"?, "function": {"name",
// "arguments"?}}; nullopt, and `problem` naming the field ("function.name is not a string"), when
// it has another shape.
std::optional<provider::ToolCall> parse_tool_call(std::string_view raw, std::string* problem);

}  // namespace quill::ollama
