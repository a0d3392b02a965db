#include "provider/openai/chat_body.hpp"

#include <deque>
#include <string_view>

namespace quill::openai {
namespace {

using provider::json;

// Keys the request sets itself: an option must not replace the conversation or the streaming.
constexpr std::string_view kOwnKeys[] = {"model", "messages", "stream", "stream_options", "tools"};

bool own_key(std::string_view key) {
  for (const auto own : kOwnKeys) {
    if (key == own) return true;
  }
  return false;
}

// Calls from Ollama may have no id, but here every tool message must name its call: such calls
// get one made up, and the tool messages that follow take them in order.
class CallIds {
 public:
  std::string for_call(const json& call, std::size_t message, std::size_t index) {
    std::string id = call.contains("id")
                         ? call["id"].get<std::string>()
                         : "call_" + std::to_string(message) + "_" + std::to_string(index);
    pending_.push_back(id);
    return id;
  }
  std::string for_result(const json& message, std::size_t at) {
    std::string id;
    if (message.contains("toolCallId")) {
      id = message["toolCallId"].get<std::string>();
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (*it == id) {
          pending_.erase(it);
          break;
        }
      }
    } else if (!pending_.empty()) {
      id = pending_.front();
      pending_.pop_front();
    } else {
      id = "call_" + std::to_string(at);
    }
    return id;
  }

 private:
  std::deque<std::string> pending_;
};

json assistant(const json& message, std::size_t at, CallIds& ids) {
  json out = {{"role", "assistant"}, {"content", message.value("content", "")}};
  const auto calls = message.find("toolCalls");
  if (calls == message.end() || calls->empty()) return out;
  json list = json::array();
  for (std::size_t i = 0; i < calls->size(); ++i) {
    const json& call = (*calls)[i];
    const json arguments = call.value("arguments", json::object());
    // Arguments the model sent as text that was not JSON (the call was answered, not run) go
    // back as "{}": servers refuse a history whose arguments do not parse (llama-server: 500).
    std::string text = arguments.is_string()
                           ? std::string("{}")
                           : arguments.dump(-1, ' ', false, json::error_handler_t::replace);
    list.push_back({{"id", ids.for_call(call, at, i)},
                    {"type", "function"},
                    {"function", {{"name", call["name"]}, {"arguments", std::move(text)}}}});
  }
  if (out["content"] == "") out["content"] = nullptr;  // what OpenAI sends with calls
  out["tool_calls"] = std::move(list);
  return out;
}

}  // namespace

std::string build_chat_body(const provider::ChatRequest& request) {
  json messages = json::array();
  if (request.system && !request.system->empty()) {
    messages.push_back({{"role", "system"}, {"content", *request.system}});
  }
  CallIds ids;
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    const json& m = request.messages[i];
    const std::string role = m["role"].get<std::string>();
    if (role == "assistant") {
      messages.push_back(assistant(m, i, ids));
    } else if (role == "tool") {
      messages.push_back({{"role", "tool"},
                          {"tool_call_id", ids.for_result(m, i)},
                          {"content", m.value("content", "")}});
    } else {
      messages.push_back({{"role", role}, {"content", m.value("content", "")}});
    }
  }
  json body = json::object();
  if (request.options.is_object()) {
    for (const auto& [key, value] : request.options.items()) {
      if (!own_key(key)) body[key] = value;
    }
  }
  body["model"] = request.model;
  body["messages"] = std::move(messages);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (request.tools.is_array() && !request.tools.empty()) body["tools"] = request.tools;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace quill::openai
