#pragma once
// The editor's messages <-> Ollama's /api/chat shapes. The editor speaks the protocol's Message
// ({role, content, thinking?, toolCalls?, toolName?, toolCallId?}); Ollama wants
// {role, content, thinking?, tool_calls?[{id?, function:{name, arguments}}], tool_name?,
// tool_call_id?}.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
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

// Checks the editor's messages; the error names the offending element ("messages[2].content ...").
bool validate_messages(const json& messages, std::string* error);

// The /api/chat body, streaming.
std::string build_chat_body(const ChatRequest& request);

// One assistant message in the editor's form from what a round streamed.
json assistant_message(const std::string& content, const std::string& thinking,
                       const std::vector<std::string>& raw_tool_calls);

}  // namespace quill::ollama
