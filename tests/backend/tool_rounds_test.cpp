// Tool calls through the real backend: the fake Ollama asks for tools, this test plays the
// editor answering editor/* requests, and checks what the model receives next round.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <functional>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"

namespace quill::test {
namespace {

std::string tools_model(const json& calls, const std::string& extra = "") {
  return "tools?calls=" + url_encode(calls.dump()) + "&then=" + url_encode("All done.") + extra;
}

struct Turn {
  std::string text;
  std::vector<json> tool_notes;       // chat/toolCall params, in order
  std::vector<json> editor_requests;  // editor/* requests, in order
  json response;
};

// Answers each editor request with `editor(request)` (a result or an error object), or leaves
// it unanswered when that returns null, calling `on_unanswered` instead.
using Editor = std::function<json(const json& request)>;

class ToolRoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.request(1, "initialize",
                     {{"workspaceRoot", "/tmp"}, {"provider", {{"host", fake_.url()}}}});
    auto reply = backend_.read_response(1);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ((*reply)["result"]["capabilities"]["tools"].size(), 4u);
  }

  void send(int id, const std::string& model, json extra = json::object()) {
    json params = {{"chatId", "c"},
                   {"model", model},
                   {"tools", true},
                   {"messages", json::array({{{"role", "user"}, {"content", "look at a.txt"}}})}};
    params.update(extra);
    backend_.request(id, "chat/send", params);
  }

  Turn run(int id, const Editor& editor, std::function<void(const json&)> on_unanswered = {}) {
    Turn t;
    for (;;) {
      auto m = backend_.read_message(10s);
      if (!m) {
        ADD_FAILURE() << "no answer to chat/send";
        return t;
      }
      const std::string method = m->value("method", "");
      if (method == "chat/token") {
        t.text += (*m)["params"]["text"].get<std::string>();
      } else if (method == "chat/toolCall") {
        t.tool_notes.push_back((*m)["params"]);
      } else if (method.rfind("editor/", 0) == 0) {
        t.editor_requests.push_back(*m);
        json answer = editor(*m);
        if (answer.is_null()) {
          if (on_unanswered) on_unanswered(*m);
        } else if (answer.contains("error")) {
          backend_.send({{"jsonrpc", "2.0"}, {"id", (*m)["id"]}, {"error", answer["error"]}});
        } else {
          backend_.send({{"jsonrpc", "2.0"}, {"id", (*m)["id"]}, {"result", answer}});
        }
      } else if (method == "$/cancelRequest") {
        t.editor_requests.push_back(*m);
      } else if (m->contains("id") && (*m)["id"] == id) {
        t.response = *m;
        return t;
      }
    }
  }

  json last_request() { return fake_.stats()["last_request"]; }

  FakeOllamaProcess fake_;
  BackendProcess backend_{{"--log-level", "debug"}};
};

TEST_F(ToolRoundsTest, AReadResultReachesTheModelInTheNextRound) {
  send(2, tools_model(
              {{{"name", "read_file"}, {"arguments", {{"path", "a.txt"}}}, {"id", "call_a"}}}));
  const Turn t = run(2, [](const json& request) {
    EXPECT_EQ(request["method"], "editor/readFile");
    EXPECT_EQ(request["params"]["chatId"], "c");
    EXPECT_EQ(request["params"]["path"], "a.txt");
    return json{{"content", "UNSAVED buffer text\n"}, {"truncated", false}};
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  // The model got the tool result, in Ollama's shape, with the call before it.
  const json sent = last_request();
  const json& msgs = sent["messages"];
  ASSERT_GE(msgs.size(), 3u);
  EXPECT_EQ(msgs[msgs.size() - 2]["tool_calls"][0]["function"]["name"], "read_file");
  EXPECT_TRUE(msgs[msgs.size() - 2]["tool_calls"][0]["function"]["arguments"].is_object());
  EXPECT_EQ(msgs.back()["role"], "tool");
  EXPECT_EQ(msgs.back()["content"], "UNSAVED buffer text\n");
  EXPECT_EQ(msgs.back()["tool_name"], "read_file");
  EXPECT_EQ(msgs.back()["tool_call_id"], "call_a");
  EXPECT_EQ(sent["tools"].size(), 4u);
  // The editor saw the call's progress, and the turn's new messages are all there.
  ASSERT_EQ(t.tool_notes.size(), 2u);
  EXPECT_EQ(t.tool_notes[0]["status"], "requested");
  EXPECT_EQ(t.tool_notes[0]["call"]["name"], "read_file");
  EXPECT_EQ(t.tool_notes[1]["status"], "done");
  const json& result = t.response["result"];
  EXPECT_EQ(result["doneReason"], "stop");
  ASSERT_EQ(result["messages"].size(), 3u);
  EXPECT_EQ(result["messages"][0]["toolCalls"][0]["id"], "call_a");
  EXPECT_EQ(result["messages"][1], (json{{"role", "tool"},
                                         {"content", "UNSAVED buffer text\n"},
                                         {"toolName", "read_file"},
                                         {"toolCallId", "call_a"}}));
  EXPECT_EQ(result["messages"][2]["content"], "All done.");
  EXPECT_EQ(t.text, "Let me check.All done.");
}

TEST_F(ToolRoundsTest, TwoCallsInOneRoundRunInOrder) {
  send(2, tools_model({{{"name", "list_files"}, {"arguments", {{"pattern", "src/**"}}}},
                       {{"name", "read_file"},
                        {"arguments", {{"path", "b"}, {"start_line", 2}, {"end_line", "4"}}}}},
                      "&sameindex=1"));
  const Turn t = run(2, [](const json& request) {
    if (request["method"] == "editor/listFiles")
      return json{{"files", {"src/a.c", "src/b.c"}}, {"truncated", true}};
    EXPECT_EQ(request["params"]["startLine"], 2);
    EXPECT_EQ(request["params"]["endLine"], 4);  // "4" from the model becomes a number
    return json{{"content", "x"}, {"truncated", false}};
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  ASSERT_EQ(t.editor_requests.size(), 2u);
  EXPECT_EQ(t.editor_requests[0]["method"], "editor/listFiles");
  EXPECT_EQ(t.editor_requests[1]["method"], "editor/readFile");
  const json& msgs = t.response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[1]["content"], "src/a.c\nsrc/b.c\n[truncated]");
  EXPECT_EQ(msgs[2]["content"], "x");
}

TEST_F(ToolRoundsTest, RejectedAndFailedEditsBecomeResultsTheModelReads) {
  send(2, tools_model({{{"name", "edit_file"},
                        {"arguments", {{"path", "a"}, {"old_text", "x"}, {"new_text", "y"}}}},
                       {{"name", "edit_file"},
                        {"arguments", {{"path", "a"}, {"old_text", "q"}, {"new_text", "z"}}}}}));
  int n = 0;
  const Turn t = run(2, [&](const json& request) {
    EXPECT_EQ(request["method"], "editor/applyEdit");
    EXPECT_EQ(request["params"]["oldText"], n == 0 ? "x" : "q");
    if (n++ == 0) return json{{"applied", false}, {"message", "the user rejected this edit"}};
    return json{
        {"error",
         {{"code", -32001}, {"message", "old_text matches 2 times in a; include more context"}}}};
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  ASSERT_EQ(t.tool_notes.size(), 4u);
  EXPECT_EQ(t.tool_notes[1]["status"], "rejected");
  EXPECT_EQ(t.tool_notes[1]["message"], "the user rejected this edit");
  EXPECT_EQ(t.tool_notes[3]["status"], "failed");
  const json& msgs = t.response["result"]["messages"];
  EXPECT_EQ(msgs[1]["content"], "the user rejected this edit");
  EXPECT_EQ(msgs[2]["content"], "old_text matches 2 times in a; include more context");
}

TEST_F(ToolRoundsTest, UnknownToolsAndBadArgumentsNeverReachTheEditor) {
  send(2, tools_model({{{"name", "delete_everything"}, {"arguments", json::object()}},
                       {{"name", "read_file"}, {"arguments", {{"path", 42}}}}}));
  const Turn t = run(2, [](const json&) {
    ADD_FAILURE() << "no editor request expected";
    return json::object();
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_TRUE(t.editor_requests.empty());
  const json& msgs = t.response["result"]["messages"];
  EXPECT_NE(msgs[1]["content"].get<std::string>().find("unknown tool 'delete_everything'"),
            std::string::npos);
  EXPECT_NE(msgs[2]["content"].get<std::string>().find("path must be a string"), std::string::npos);
  EXPECT_EQ(t.tool_notes[1]["status"], "failed");
  EXPECT_EQ(msgs.back()["content"], "All done.");  // the turn went on
}

TEST_F(ToolRoundsTest, TheRoundLimitEndsTheTurnWithANote) {
  send(2, tools_model({{{"name", "list_files"}, {"arguments", json::object()}}}, "&forever=1"),
       {{"maxRounds", 3}});
  const Turn t = run(2, [](const json&) {
    return json{{"files", json::array()}, {"truncated", false}};
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "tool_limit");
  EXPECT_NE(t.response["result"]["note"].get<std::string>().find("3 rounds"), std::string::npos);
  EXPECT_EQ(t.editor_requests.size(), 3u);
  EXPECT_EQ(fake_.stats()["requests"], 3);
}

TEST_F(ToolRoundsTest, CancelWhileTheEditorIsAskingTheUser) {
  send(2, tools_model({{{"name", "edit_file"},
                        {"arguments", {{"path", "a"}, {"old_text", "x"}, {"new_text", "y"}}}},
                       {{"name", "read_file"}, {"arguments", {{"path", "b"}}}}}));
  const Turn t = run(
      2, [](const json&) { return json(); },  // the user is looking at the diff
      [this](const json&) {
        backend_.notify("$/cancelRequest", {{"id", 2}});
      });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "cancelled");
  // The editor was told to drop its pending request.
  ASSERT_EQ(t.editor_requests.size(), 2u);
  EXPECT_EQ(t.editor_requests[1]["method"], "$/cancelRequest");
  EXPECT_EQ(t.editor_requests[1]["params"]["id"], t.editor_requests[0]["id"]);
  // Every call has a result in the history, so the conversation can go on.
  const json& msgs = t.response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[1]["content"], "cancelled by the user");
  EXPECT_EQ(msgs[2]["content"], "cancelled by the user");
  EXPECT_EQ(fake_.stats()["requests"], 1);  // no further round
}

TEST_F(ToolRoundsTest, WithoutToolsTheModelIsOfferedNone) {
  send(2, tools_model({{{"name", "read_file"}, {"arguments", {{"path", "a"}}}}}),
       {{"tools", false}});
  const Turn t = run(2, [](const json&) { return json::object(); });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.text, "(no tools were offered)");
  EXPECT_FALSE(last_request().contains("tools"));
}

TEST_F(ToolRoundsTest, CallsOnTheDoneLineAndWithoutIdsWork) {
  send(2,
       tools_model({{{"name", "read_file"}, {"arguments", {{"path", "a"}}}}}, "&ondone=1&noid=1"));
  const Turn t = run(2, [](const json&) { return json{{"content", "A"}, {"truncated", false}}; });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json& msgs = t.response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_FALSE(msgs[0]["toolCalls"][0].contains("id"));
  EXPECT_FALSE(msgs[1].contains("toolCallId"));
  EXPECT_FALSE(last_request()["messages"].back().contains("tool_call_id"));
}

}  // namespace
}  // namespace quill::test

namespace quill::test {
namespace {

TEST_F(ToolRoundsTest, OnlyTheToolsNamedAreOfferedAndACallOfAnotherIsRefused) {
  send(2,
       tools_model({{{"name", "edit_file"},
                     {"arguments", {{"path", "a.txt"}, {"old_text", "a"}, {"new_text", "b"}}}}}),
       {{"tools", json::array({"read_file", "list_files"})}});
  const Turn t = run(2, [](const json& request) {
    ADD_FAILURE() << "the editor was asked: " << request;
    return json{{"error", {{"code", -32000}, {"message", "no"}}}};
  });
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_TRUE(t.editor_requests.empty());
  const json sent = last_request();
  ASSERT_EQ(sent["tools"].size(), 2u);
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "read_file");
  EXPECT_EQ(sent["tools"][1]["function"]["name"], "list_files");
  ASSERT_EQ(t.tool_notes.size(), 2u);
  EXPECT_EQ(t.tool_notes[1]["status"], "failed");
  EXPECT_EQ(t.tool_notes[1]["message"], "the tool 'edit_file' is not offered in this chat");

  backend_.request(3, "chat/send",
                   {{"chatId", "d"},
                    {"model", "text"},
                    {"tools", json::array({"read_file", "rm_rf"})},
                    {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  const auto reply = backend_.read_response(3);
  ASSERT_TRUE(reply.has_value() && reply->contains("error")) << *reply;
  EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("list of tool names"),
            std::string::npos);
}

}  // namespace
}  // namespace quill::test
