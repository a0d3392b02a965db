// Fuzz target: the editor's answer to a tool's request (editor/readFile, listFiles, applyEdit,
// createFile), a result or an error of any shape. It must become a tool outcome — done, failed
// or rejected, with text for the model — never a crash, and that text must go on into the tool
// message of the next round's body.
//
// Input: the tool's name, '\n', the editor's JSON-RPC response body. A name that is not a tool
// picks one by its length (only mapped calls reach the editor).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using quill::fuzz::check;
  quill::fuzz::quiet_logs();
  const auto [name_text, body] =
      quill::fuzz::split_first_line({reinterpret_cast<const char*>(data), size});
  const auto tools = quill::tools::name_list();
  std::string name(name_text);
  if (std::find(tools.begin(), tools.end(), name) == tools.end())
    name = tools[name_text.size() % tools.size()];
  auto message = quill::rpc::parse_message(body);
  const auto* response = std::get_if<quill::rpc::Response>(&message);
  if (response == nullptr) return 0;  // the peer only hands responses to the waiting call

  const quill::tools::Outcome outcome = quill::tools::outcome_of(name, *response);
  check(outcome.status == "done" || outcome.status == "failed" || outcome.status == "rejected",
        "the outcome is done, failed or rejected");
  check(outcome.status == "done" || !outcome.content.empty(), "a failure says why");
  check(quill::fuzz::valid_utf8(outcome.content), "the tool message is valid UTF-8");

  // As ChatTurn::finish_tool sends it on.
  nlohmann::json note = {{"chatId", "c1"}, {"status", outcome.status}};
  if (outcome.status != "done") note["message"] = outcome.content;
  (void)quill::rpc::make_notification("chat/toolCall", note);
  quill::provider::ChatRequest next;
  next.model = "m";
  next.messages =
      nlohmann::json::array({{{"role", "user"}, {"content", "go"}},
                             {{"role", "tool"}, {"content", outcome.content}, {"toolName", name}}});
  (void)quill::ollama::build_chat_body(next);
  return 0;
}
