#pragma once
// What the fuzz targets share: checks that abort with a message (libFuzzer then keeps the input),
// the UTF-8 rule text sent to the editor must follow, and the step of a chat turn that turns a
// round's raw tool calls into editor requests and the next round's body.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "provider/chat_request.hpp"
#include "provider/ollama/chat_body.hpp"
#include "provider/openai/chat_body.hpp"
#include "rpc/message.hpp"
#include "tools/catalogue.hpp"
#include "util/log.hpp"

namespace quill::fuzz {

using nlohmann::json;

inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

// The backend's logs would flood the fuzzer's output and slow it down.
inline void quiet_logs() {
  static const bool done = [] {
    log::set_level(log::Level::Error);
    return true;
  }();
  (void)done;
}

// Text before the first '\n' and the rest (a tool name and a message body, say).
inline std::pair<std::string_view, std::string_view> split_first_line(std::string_view input) {
  const std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return {input, {}};
  return {input.substr(0, nl), input.substr(nl + 1)};
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// A mapped call must be exactly one of: an editor request the editor knows, or a problem for the
// model. Either way it must serialize (the request to the editor, the problem as a tool message).
inline void check_mapped(const tools::Mapped& mapped, const std::string& chat_id) {
  check(mapped.request.has_value() != !mapped.problem.empty(),
        "map_call gives a request or a problem, never both or neither");
  if (!mapped.request) return;
  const auto& r = *mapped.request;
  check(r.method == "editor/readFile" || r.method == "editor/listFiles" ||
            r.method == "editor/applyEdit" || r.method == "editor/createFile",
        "map_call asks the editor only for a known method");
  check(r.params.is_object() && r.params.value("chatId", json()) == chat_id,
        "editor request params carry the chat id");
  check(r.timeout.count() > 0, "editor request has a timeout");
  (void)rpc::make_request(1, r.method, r.params);
}

// Ollama's raw calls typed as its stream decoder types them: a call that does not parse ends the
// round there (the decoder refuses its line), with a reason.
inline std::vector<provider::ToolCall> typed_calls(const std::vector<std::string>& raw_calls) {
  std::vector<provider::ToolCall> calls;
  for (const std::string& raw : raw_calls) {
    std::string problem;
    auto call = ollama::parse_tool_call(raw, &problem);
    if (!call) {
      check(!problem.empty(), "a refused tool call says why");
      continue;
    }
    calls.push_back(std::move(*call));
  }
  return calls;
}

// What a turn does when a round ends with `calls` (ChatTurn::round_finished and run_next_tool):
// the assistant message in the editor's form, map_call, a tool message per call, and the body of
// the next round for both providers.
inline void run_round_end(const std::string& content, const std::string& thinking,
                          const std::vector<provider::ToolCall>& calls) {
  const std::string chat_id = "c1";
  const json message = provider::assistant_message(content, thinking, calls);
  json messages = json::array({{{"role", "user"}, {"content", "go"}}, message});
  for (const provider::ToolCall& call : calls) {
    const tools::Mapped mapped = tools::map_call(chat_id, call.name, call.arguments);
    check_mapped(mapped, chat_id);
    (void)rpc::make_notification("chat/toolCall", {{"chatId", chat_id}, {"call", call.as_call()}});
    json tool = {{"role", "tool"}, {"content", mapped.problem}, {"toolName", call.name}};
    if (call.id) tool["toolCallId"] = *call.id;
    messages.push_back(std::move(tool));
  }
  const auto listed = message.find("toolCalls");
  check(calls.empty() == (listed == message.end()), "toolCalls is there when calls were");
  check(listed == message.end() || (listed->is_array() && listed->size() == calls.size()),
        "the assistant message keeps exactly the calls");
  std::string error;
  check(provider::validate_messages(messages, &error), "the turn's history is valid again");
  provider::ChatRequest next;
  next.model = "m";
  next.messages = std::move(messages);
  (void)ollama::build_chat_body(next);
  (void)openai::build_chat_body(next);
}

}  // namespace quill::fuzz
