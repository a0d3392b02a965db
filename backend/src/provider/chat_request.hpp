#pragma once
// What a turn asks any provider, in the editor's form. The editor speaks the protocol's Message
// ({role, content, thinking?, toolCalls?, toolName?, toolCallId?}); each provider turns it into
// its own wire shape (provider/ollama/chat_body.hpp, provider/openai/chat_body.hpp).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace quill::provider {

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
  // Exactly what the model sent (any JSON: tools check it). When the model's argument text was
  // not JSON, {} and `problem` says so, quoting the text: the call is answered, not run.
  json arguments = json::object();
  std::optional<std::string> id;
  std::optional<std::string> problem;
  json as_call() const;  // the protocol's Call: {name, arguments, id?}
};

// Checks the editor's messages; the error names the offending element ("messages[2].content ...").
bool validate_messages(const json& messages, std::string* error);

// One assistant message in the editor's form from what a round streamed.
json assistant_message(const std::string& content, const std::string& thinking,
                       const std::vector<ToolCall>& calls);

}  // namespace quill::provider
