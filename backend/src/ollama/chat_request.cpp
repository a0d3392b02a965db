#include "ollama/chat_request.hpp"

#include "util/json_access.hpp"

namespace quill::ollama {
namespace {

json to_ollama(const json& message) {
  json out = {{"role", message["role"]}, {"content", message.value("content", "")}};
  if (auto it = message.find("thinking"); it != message.end()) out["thinking"] = *it;
  if (auto it = message.find("toolCalls"); it != message.end()) {
    json calls = json::array();
    for (const auto& call : *it) {
      json c = {{"function",
                 {{"name", call["name"]}, {"arguments", call.value("arguments", json::object())}}}};
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

json ToolCall::as_call() const {
  json call = {{"name", name}, {"arguments", arguments}};
  if (id) call["id"] = *id;
  return call;
}

std::optional<ToolCall> parse_tool_call(std::string_view raw, std::string* problem) {
  const json call = json::parse(raw, nullptr, false);
  if (!call.is_object()) {
    *problem = "the call is not a JSON object";
    return std::nullopt;
  }
  util::JsonReader reader(call);
  ToolCall out;
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

bool validate_messages(const json& messages, std::string* error) {
  if (!messages.is_array() || messages.empty()) {
    *error = "messages must be a non-empty array";
    return false;
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) {
      *error = at + " must be an object";
      return false;
    }
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string() ||
        (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool")) {
      *error = at + ".role must be system, user, assistant or tool";
      return false;
    }
    const auto content = m.find("content");
    if (content != m.end() && !content->is_string()) {
      *error = at + ".content must be a string";
      return false;
    }
    if (const auto calls = m.find("toolCalls"); calls != m.end()) {
      if (!calls->is_array()) {
        *error = at + ".toolCalls must be an array";
        return false;
      }
      for (const auto& call : *calls) {
        if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) {
          *error = at + ".toolCalls entries need a string name";
          return false;
        }
      }
    }
  }
  return true;
}

std::string build_chat_body(const ChatRequest& request) {
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

json assistant_message(const std::string& content, const std::string& thinking,
                       const std::vector<std::string>& raw_tool_calls) {
  json out = {{"role", "assistant"}, {"content", content}};
  if (!thinking.empty()) out["thinking"] = thinking;
  if (!raw_tool_calls.empty()) {
    json calls = json::array();
    for (const auto& raw : raw_tool_calls) {
      std::string problem;
      if (auto call = parse_tool_call(raw, &problem)) calls.push_back(call->as_call());
    }
    out["toolCalls"] = std::move(calls);
  }
  return out;
}

}  // namespace quill::ollama
