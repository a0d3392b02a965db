#pragma once
// The editor's messages <-> Ollama's /api/chat shapes. The editor speaks the protocol's Message
// ({role, content, thinking?, toolCalls?, toolName?, toolCallId?}); Ollama wants
// {role, content, thinking?, tool_calls?[{id?, function:{name, arguments}}], tool_name?,
// tool_call_id?}.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quill::ollama {

using nlohmann::json;

struct ChatRequest {
  std::string model;
  json messages;  // editor form, validated
  std::optional<std::string> system;
  json options;               // object or null
  std::optional<bool> think;  // unset: the model's default
  json tools;                 // array of tool schemas or null
};

// One tool call of the model, its types checked.
struct ToolCall {
  std::string name;
  json arguments = json::object();  // exactly what the model sent (any JSON: tools check it)
  std::optional<std::string> id;
  json as_call() const;  // the protocol's Call: {name, arguments, id?}
};

// One element of Ollama's message.tool_calls as received, {"id"?, "function": {"name",
// "arguments"?}}; nullopt, and `problem` naming the field ("function.name is not a string"), when
// it has another shape.
std::optional<ToolCall> parse_tool_call(std::string_view raw, std::string* problem);

// Checks the editor's messages; the error names the offending element ("messages[2].content ...").
bool validate_messages(const json& messages, std::string* error);

// The /api/chat body, streaming.
std::string build_chat_body(const ChatRequest& request);

// One assistant message in the editor's form from what a round streamed; calls that
// parse_tool_call refuses are left out (the chunk decoder already refused their lines).
json assistant_message(const std::string& content, const std::string& thinking,
                       const std::vector<std::string>& raw_tool_calls);

}  // namespace quill::ollama
