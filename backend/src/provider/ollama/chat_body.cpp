#include "provider/ollama/chat_body.hpp"

#include "util/json_access.hpp"

namespace quill::ollama {
namespace {

json to_ollama(const json& message) {
  json out = {{"role", message["role"]}, {"content", message.value("content", "")}};
  if (auto it = message.find("thinking"); it != message.end()) out["thinking"] = *it;
  if (auto it = message.find("toolCalls"); it != message.end()) {
    json calls = json::array();
    for (const auto& call : *it) {
      json arguments = call.value("arguments", json::object());
      // Arguments another provider sent as unparsable text: Ollama takes only an object.
      if (!arguments.is_object()) arguments = json::object();
      json c = {{"function", {{"name", call["name"]}, {"arguments", std::move(arguments)}}}};
      if (call.contains("id")) c["id"] = call["id"];
      calls.push_back(std::move(c));
    }
    out["tool_calls"] = std::move(calls);
  }
  if (auto it = message.find("toolName"); it != message.end()) out["tool_name"] = *it;
  if (auto it = message.find("toolCallId"); it != message.end()) out["tool_call_id"] = *it;
  return out;
}

}  // namespace

std::optional<provider::ToolCall> parse_tool_call(std::string_view raw, std::string* problem) {
  const json call = json::parse(raw, nullptr, false);
  if (!call.is_object()) {
    *problem = "the call is not a JSON object";
    return std::nullopt;
  }
  util::JsonReader reader(call);
  provider::ToolCall out;
  std::optional<std::string> name;
  if (const json* function = reader.required_object("function")) {
    util::JsonReader fields(*function, "function");
    name = fields.required_string("name");
    if (const json* arguments = fields.any("arguments")) out.arguments = *arguments;
    reader.fail(fields.problem());
  }
  out.id = reader.string("id");
  if (!reader.ok()) {
    *problem = reader.problem();
    return std::nullopt;
  }
  out.name = std::move(*name);
  return out;
}

std::string build_chat_body(const provider::ChatRequest& request) {
  json messages = json::array();
  if (request.system && !request.system->empty()) {
    messages.push_back({{"role", "system"}, {"content", *request.system}});
  }
  for (const auto& m : request.messages)
    messages.push_back(to_ollama(m));
  json body = {{"model", request.model}, {"messages", std::move(messages)}, {"stream", true}};
  if (request.options.is_object() && !request.options.empty()) body["options"] = request.options;
  if (request.think) body["think"] = *request.think;
  if (request.tools.is_array() && !request.tools.empty()) body["tools"] = request.tools;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace quill::ollama
