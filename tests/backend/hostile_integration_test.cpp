// The real backend against a hostile server, model and editor (the fake Ollama over loopback):
// a tool call of the wrong shape, an editor answer of the wrong shape, a line number past every
// integer type, too many calls in a round, and tags/show/version answers with fields of the
// wrong type. Each used to abort the process and every chat in flight; now each ends only its
// own turn, call or request, and the backend goes on serving.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"

namespace quill::test {
namespace {

std::string tools_model(const json& calls) {
  return "tools?calls=" + url_encode(calls.dump()) + "&then=" + url_encode("All done.");
}

// The editor's answer to an editor/* request: a result.
using Editor = std::function<json(const json& request)>;

class HostileIntegrationTest : public ::testing::Test {
 protected:
  // A backend whose provider host is `path` under the fake (see fake_ollama.cpp's /_answer/).
  void start(const std::string& path = "") {
    backend_ = std::make_unique<BackendProcess>(std::vector<std::string>{"--log-level", "info"});
    backend_->request(1, "initialize",
                      {{"workspaceRoot", "/tmp"}, {"provider", {{"host", fake_.url() + path}}}});
    auto reply = backend_->read_response(1);
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->contains("result")) << *reply;
  }
  // Under this host the JSON calls get `answer` verbatim.
  void start_answering(const std::string& answer) { start("/_answer/" + url_encode(answer)); }

  void send(int id, const std::string& chat_id, const std::string& model, bool tools = true) {
    backend_->request(id, "chat/send",
                      {{"chatId", chat_id},
                       {"model", model},
                       {"tools", tools},
                       {"messages", json::array({{{"role", "user"}, {"content", "go"}}})}});
  }

  // Reads until every request in `ids` is answered (their responses, by id), answering editor
  // requests with `editor` on the way.
  std::map<int, json> run(const std::vector<int>& ids, const Editor& editor = {}) {
    std::map<int, json> responses;
    for (int id : ids)
      responses[id] = nullptr;
    auto unanswered = [&] {
      return std::any_of(responses.begin(), responses.end(),
                         [](const auto& entry) { return entry.second.is_null(); });
    };
    while (unanswered()) {
      auto m = backend_->read_message(15s);
      if (!m) {
        ADD_FAILURE() << "the backend stopped answering";
        return responses;
      }
      const std::string method = m->value("method", "");
      if (method == "chat/token") {
        text_[(*m)["params"]["chatId"]] += (*m)["params"]["text"].get<std::string>();
      } else if (method == "chat/toolCall") {
        notes_.push_back((*m)["params"]);
      } else if (method.rfind("editor/", 0) == 0) {
        editor_requests_.push_back(*m);
        json result = editor ? editor(*m) : json::object();
        backend_->send({{"jsonrpc", "2.0"}, {"id", (*m)["id"]}, {"result", result}});
      } else if (m->contains("id") && !m->contains("method") && (*m)["id"].is_number_integer()) {
        if (auto it = responses.find((*m)["id"].get<int>()); it != responses.end()) it->second = *m;
      }
    }
    return responses;
  }

  // The backend still serves: a new chat streams to its end.
  void expect_still_serving(int id) {
    send(id, "after", "text?tokens=5", false);
    const json response = run({id}).at(id);
    ASSERT_TRUE(response.contains("result")) << response;
    EXPECT_EQ(text_["after"], "t1 t2é t3日本 t4👋 t5\n ");
  }

  FakeOllamaProcess fake_;
  std::unique_ptr<BackendProcess> backend_;
  std::map<std::string, std::string> text_;  // chatId -> streamed text
  std::vector<json> notes_;                  // chat/toolCall params
  std::vector<json> editor_requests_;
};

TEST_F(HostileIntegrationTest, AToolCallOfTheWrongShapeEndsOnlyItsTurn) {
  start();
  const std::pair<const char*, const char*> cases[] = {
      {R"([{"function":{"name":5,"arguments":{}}}])", "message.tool_calls[0].function.name"},
      {R"([{"function":"read_file"}])", "message.tool_calls[0].function is not an object"},
      {R"([{"function":null}])", "message.tool_calls[0].function is missing"},
      {R"([{"id":7,"function":{"name":"read_file","arguments":{}}}])",
       "message.tool_calls[0].id is not a string"},
  };
  int id = 10;
  for (const auto& [calls, named] : cases) {
    // A long chat in flight while the hostile one arrives: it must finish, whole.
    const int slow = id++;
    const int bad = id++;
    send(slow, "slow" + std::to_string(slow), "text?tokens=40&rate=100", false);
    send(bad, "bad", "rawcalls?calls=" + url_encode(calls));
    const auto turns = run({slow, bad});
    const json& error = turns.at(bad);
    ASSERT_TRUE(error.contains("error")) << calls << ": " << error;
    EXPECT_EQ(error["error"]["data"]["kind"], "bad_stream") << calls;
    EXPECT_NE(error["error"]["message"].get<std::string>().find(named), std::string::npos)
        << calls << ": " << error;
    EXPECT_EQ(error["error"]["data"]["partial"], "Let me ");
    const json& done = turns.at(slow);
    ASSERT_TRUE(done.contains("result")) << calls << ": " << done;
    EXPECT_EQ(done["result"]["stats"]["evalCount"], 40);
  }
  EXPECT_TRUE(editor_requests_.empty());
  expect_still_serving(id);
}

TEST_F(HostileIntegrationTest, AnEditorAnswerOfTheWrongShapeFailsOnlyThatCall) {
  start();
  send(2, "c",
       tools_model({{{"name", "read_file"}, {"arguments", {{"path", "a"}}}},
                    {{"name", "list_files"}, {"arguments", json::object()}},
                    {{"name", "edit_file"},
                     {"arguments", {{"path", "a"}, {"old_text", "x"}, {"new_text", "y"}}}},
                    {{"name", "create_file"}, {"arguments", {{"path", "b"}, {"content", "z"}}}},
                    {{"name", "read_file"}, {"arguments", {{"path", "c"}}}}}));
  const std::map<std::string, json> answers = {
      {"editor/readFile", {{"content", 5}}},
      {"editor/listFiles", {{"files", "x"}}},
      {"editor/applyEdit", {{"applied", "yes"}}},
      {"editor/createFile", {{"created", true}, {"message", 5}}},
  };
  int reads = 0;
  const auto turns = run({2}, [&](const json& request) -> json {
    const std::string method = request["method"];
    if (method == "editor/readFile" && reads++ == 1) return {{"content", "C"}};  // the last call
    return answers.at(method);
  });
  const json& response = turns.at(2);
  ASSERT_TRUE(response.contains("result")) << response;
  const json& msgs = response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 7u) << msgs;
  const char* problems[] = {"content is not a string", "files is not an array of strings",
                            "applied is not a boolean", "message is not a string"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(msgs[1 + i]["content"],
              std::string("the editor's answer was malformed: ") + problems[i]);
  }
  EXPECT_EQ(msgs[5]["content"], "C");          // the call after them ran normally
  EXPECT_EQ(msgs[6]["content"], "All done.");  // and the turn went on
  ASSERT_EQ(notes_.size(), 10u);
  EXPECT_EQ(notes_[1]["status"], "failed");
  expect_still_serving(3);
}

TEST_F(HostileIntegrationTest, ALineNumberPastEveryIntegerIsAToolResult) {
  start();
  send(2, "c",
       tools_model({{{"name", "read_file"},
                     {"arguments", {{"path", "a"}, {"start_line", "99999999999999999999999"}}}},
                    {{"name", "read_file"}, {"arguments", {{"path", "a"}, {"end_line", 1e300}}}}}));
  const auto turns = run({2});
  const json& response = turns.at(2);
  ASSERT_TRUE(response.contains("result")) << response;
  const json& msgs = response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 4u) << msgs;
  EXPECT_EQ(msgs[1]["content"],
            "invalid arguments for read_file: start_line must be a line number");
  EXPECT_EQ(msgs[2]["content"], "invalid arguments for read_file: end_line must be a line number");
  EXPECT_TRUE(editor_requests_.empty());
  expect_still_serving(3);
}

TEST_F(HostileIntegrationTest, OnlyThirtyTwoCallsOfARoundReachTheEditor) {
  start();
  json calls = json::array();
  for (int i = 0; i < 35; ++i)
    calls.push_back({{"name", "list_files"}, {"arguments", json::object()}});
  send(2, "c", tools_model(calls));
  const auto turns = run({2}, [](const json&) { return json{{"files", {"a"}}}; });
  const json& response = turns.at(2);
  ASSERT_TRUE(response.contains("result")) << response;
  EXPECT_EQ(editor_requests_.size(), 32u);
  const json& msgs = response["result"]["messages"];
  ASSERT_EQ(msgs.size(), 37u);
  EXPECT_EQ(msgs[32]["content"], "a");
  for (int i = 33; i <= 35; ++i) {
    EXPECT_EQ(msgs[i]["content"],
              "too many tool calls in one round (limit 32); this call was not run");
    EXPECT_EQ(msgs[i]["toolCallId"], "call_" + std::to_string(i));
  }
  EXPECT_EQ(notes_.back()["status"], "failed");
  EXPECT_EQ(msgs.back()["content"], "All done.");
}

TEST_F(HostileIntegrationTest, TagsShowAndVersionOfTheWrongShapeAreErrorsNotCrashes) {
  struct Case {
    const char* answer;
    const char* method;
    const char* problem;  // in the error message; "" when the request succeeds
  };
  const Case cases[] = {
      {R"({"version":12})", "provider/version", "version is not a string"},
      {R"({"capabilities":"tools"})", "models/show", "capabilities is not an array of strings"},
      {R"({"capabilities":[5]})", "models/show", "capabilities is not an array of strings"},
      {R"({"model_info":{"general.architecture":5}})", "models/show",
       "model_info.general.architecture is not a string"},
      {R"({"models":"x"})", "models/list", "models is not an array"},
      {R"({"models":[{"name":5},{"name":"m","modified_at":null}]})", "models/list", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.answer);
    start_answering(c.answer);
    // A chat in flight meanwhile finishes.
    send(2, "slow", "text?tokens=30&rate=100", false);
    backend_->request(
        3, c.method,
        std::string(c.method) == "models/show" ? json{{"model", "m"}} : json::object());
    const auto turns = run({2, 3});
    const json& answer = turns.at(3);
    if (*c.problem == '\0') {
      ASSERT_TRUE(answer.contains("result")) << answer;
      EXPECT_EQ(answer["result"]["models"],
                json::array({{{"name", "m"}, {"size", 0}, {"modifiedAt", ""}}}));
    } else {
      ASSERT_TRUE(answer.contains("error")) << answer;
      EXPECT_EQ(answer["error"]["data"]["kind"], "bad_stream");
      EXPECT_EQ(answer["error"]["message"], std::string("bad stream from Ollama: ") + c.problem);
    }
    EXPECT_TRUE(turns.at(2).contains("result")) << turns.at(2);
    expect_still_serving(4);
    text_.clear();
  }
}

}  // namespace
}  // namespace quill::test
