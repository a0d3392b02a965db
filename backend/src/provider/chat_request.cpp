#include "provider/chat_request.hpp"

namespace quill::provider {

json ToolCall::as_call() const {
  json call = {{"name", name}, {"arguments", arguments}};
  if (id) call["id"] = *id;
  return call;
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
    for (const char* key : {"toolName", "toolCallId"}) {
      const auto it = m.find(key);
      if (it != m.end() && !it->is_string()) {
        *error = at + "." + key + " must be a string";
        return false;
      }
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
        if (const auto id = call.find("id"); id != call.end() && !id->is_string()) {
          *error = at + ".toolCalls entries' id must be a string";
          return false;
        }
      }
    }
  }
  return true;
}

json assistant_message(const std::string& content, const std::string& thinking,
                       const std::vector<ToolCall>& calls) {
  json out = {{"role", "assistant"}, {"content", content}};
  if (!thinking.empty()) out["thinking"] = thinking;
  if (!calls.empty()) {
    json list = json::array();
    for (const auto& call : calls)
      list.push_back(call.as_call());
    out["toolCalls"] = std::move(list);
  }
  return out;
}

}  // namespace quill::provider
