// The backend against a real OpenAI-compatible server: llama.cpp's llama-server with a generated
// tiny model (../shared/tools/llama-real/serve, see its README). Skipped, saying why, when that
// tool is not there or cannot be installed here. The model's text is gibberish; everything
// around it (SSE framing, usage, tool-call fragments, cancel, errors, reasoning) is the real
// server's.

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "backend_process.hpp"

namespace quill::test {
namespace {

// Token ids of the Qwen3 tokenizer (the tool's README).
constexpr const char* kImEnd = "151645";
constexpr const char* kToolCall = "151657";
constexpr const char* kToolCallEnd = "151658";
constexpr const char* kCloseBrace = "92";

// The number after `label` in `text`, or 0.
int number_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return 0;
  return std::atoi(text.c_str() + at + label.size());
}

std::string serve_path() {
  if (const char* env = std::getenv("QUILL_LLAMA_REAL"); env != nullptr && *env != '\0') return env;
  return QUILL_LLAMA_REAL_SERVE;
}

// One llama-server for a test; skipped (not failed) when the tool is absent or unavailable.
struct RealServer {
  int port = 0;
  int pid = 0;
  std::string log;
  std::string skip;  // why there is no server, when it was skipped

  explicit RealServer(const std::vector<std::string>& args = {}) {
    const std::string serve = serve_path();
    if (::access(serve.c_str(), X_OK) != 0) {
      skip = "llama-real is not here (" + serve + "): skipped";
      return;
    }
    log = ::testing::TempDir() + "/llama-real-" + std::to_string(::getpid()) + "-" +
          std::to_string(reinterpret_cast<std::uintptr_t>(this) % 100000) + ".log";
    std::string cmd = "LLAMA_REAL_LOG='" + log + "' '" + serve + "' 0";
    for (const auto& a : args)
      cmd += " '" + a + "'";
    cmd += " 2>&1";
    FILE* out = ::popen(cmd.c_str(), "r");
    std::string text;
    char buf[512];
    while (out != nullptr && std::fgets(buf, sizeof buf, out) != nullptr)
      text += buf;
    const int status = out == nullptr ? -1 : ::pclose(out);
    port = number_after(text, "listening on ");
    pid = number_after(text, "pid ");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
      skip = "llama-real unavailable here: " + text;
    } else if (port == 0 || pid == 0) {
      ADD_FAILURE() << "llama-real did not start: " << text;
    }
  }
  ~RealServer() {
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
  std::string log_text() const {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The same request without streaming, straight to the server.
json unstreamed(const RealServer& server, json body) {
  body["stream"] = false;
  CURL* curl = curl_easy_init();
  std::string answer;
  const std::string text = body.dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  const std::string url = server.url() + "/chat/completions";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, CURLE_OK);
  return json::parse(answer, nullptr, false);
}

struct Turn {
  std::string text;
  std::vector<json> tool_notes;
  std::vector<json> editor_requests;
  std::vector<std::string> events;  // chat/token and chat/toolCall (with its status), in order
  json response;
};

class LlamaRealTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& args = {}) {
    server_ = std::make_unique<RealServer>(args);
    if (!server_->skip.empty()) GTEST_SKIP() << server_->skip;
    ASSERT_GT(server_->port, 0);
    backend_.request(1, "initialize",
                     {{"workspaceRoot", "/tmp"},
                      {"endpoints", {{"real", {{"kind", "openai"}, {"url", server_->url()}}}}},
                      {"endpoint", "real"}});
    auto reply = backend_.read_response(1);
    ASSERT_TRUE(reply.has_value() && reply->contains("result"));
  }

  json params(const std::string& prompt, json options) {
    return {{"chatId", "c"},
            {"model", "tiny"},
            {"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
            {"options", std::move(options)}};
  }

  // Reads to the answer of `id`; editor/listFiles is answered with two files, anything else
  // refused.
  Turn run(int id, std::chrono::seconds limit = 120s) {
    Turn t;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = backend_.read_message(limit);
      if (!m) break;
      const std::string method = m->value("method", "");
      if (method == "chat/token") {
        t.text += (*m)["params"]["text"].get<std::string>();
        t.events.push_back(method);
      } else if (method == "chat/toolCall") {
        t.tool_notes.push_back((*m)["params"]);
        t.events.push_back(method + " " + (*m)["params"].value("status", ""));
      } else if (method.starts_with("editor/")) {
        t.editor_requests.push_back(*m);
        if (method == "editor/listFiles") {
          backend_.send({{"jsonrpc", "2.0"},
                         {"id", (*m)["id"]},
                         {"result", {{"files", {"a.txt", "src/b.cpp"}}, {"truncated", false}}}});
        } else {
          backend_.send({{"jsonrpc", "2.0"},
                         {"id", (*m)["id"]},
                         {"error", {{"code", -32000}, {"message", "not in this test"}}}});
        }
      } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
        t.response = *m;
        return t;
      }
    }
    ADD_FAILURE() << "no answer to request " << id;
    return t;
  }

  std::unique_ptr<RealServer> server_;
  BackendProcess backend_{{"--log-level", "debug"}};
};

TEST_F(LlamaRealTest, TheStreamedTextIsWhatTheSameRequestReturnsWithoutStreaming) {
  start();
  if (IsSkipped()) return;
  const json options = {{"seed", 42}, {"max_tokens", 24}, {"logit_bias", {{kImEnd, -100}}}};
  backend_.request(2, "chat/send", params("Hello there", options));
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json& result = t.response["result"];
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "Hello there"}}})}};
  body.update(options);
  const json plain = unstreamed(*server_, body);
  ASSERT_TRUE(plain.is_object()) << plain;
  const std::string want = plain["choices"][0]["message"]["content"];
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(t.text, want);
  EXPECT_EQ(result["messages"][0]["content"], want);
  EXPECT_EQ(result["doneReason"], "length");    // max_tokens, mapped
  EXPECT_EQ(result["stats"]["evalCount"], 24);  // usage
  EXPECT_GT(result["stats"]["promptEvalCount"].get<int>(), 0);
  EXPECT_GT(result["stats"]["tokensPerSecond"].get<double>(), 0.0);
}

TEST_F(LlamaRealTest, AForcedToolCallReachesTheEditorAndTheNextRoundStreams) {
  start();
  if (IsSkipped()) return;
  // The biases make the model open a call and close its JSON; offering only list_files (whose
  // arguments are all optional) lets the grammar finish it as {}.
  json p = params("List the files",
                  {{"seed", 1},
                   {"max_tokens", 60},
                   {"logit_bias", {{kToolCall, 30}, {kToolCallEnd, 20}, {kCloseBrace, 15}}}});
  p["tools"] = json::array({"list_files"});
  p["maxRounds"] = 2;
  backend_.request(2, "chat/send", p);
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  ASSERT_FALSE(t.editor_requests.empty()) << t.response;
  EXPECT_EQ(t.editor_requests[0]["method"], "editor/listFiles");
  ASSERT_GE(t.tool_notes.size(), 2u);
  const json& call = t.tool_notes[0]["call"];
  EXPECT_EQ(call["name"], "list_files");
  EXPECT_TRUE(call["arguments"].is_object());
  EXPECT_EQ(call["id"].get<std::string>().size(), 32u);  // llama-server's ids
  EXPECT_EQ(t.tool_notes[1]["status"], "done");
  // The next round ran: the server accepted the history (tool_calls with ids, a tool message)
  // and answered again, with another call or with text.
  const json& messages = t.response["result"]["messages"];
  ASSERT_GE(messages.size(), 3u);
  EXPECT_EQ(messages[1]["role"], "tool");
  EXPECT_EQ(messages[1]["toolCallId"], call["id"]);
  EXPECT_EQ(messages[2]["role"], "assistant");
  EXPECT_TRUE(messages[2].contains("toolCalls") ||
              !messages[2]["content"].get<std::string>().empty())
      << messages[2];
  // ... and streamed: the second round's text or call reached the editor after the result.
  const auto result_at = std::find(t.events.begin(), t.events.end(), "chat/toolCall done");
  ASSERT_NE(result_at, t.events.end());
  std::string seen;
  for (const auto& e : t.events)
    seen += e + "; ";
  EXPECT_TRUE(std::any_of(result_at + 1, t.events.end(), [](const std::string& e) {
    return e == "chat/token" || e == "chat/toolCall requested";
  })) << seen;
}

TEST_F(LlamaRealTest, CancelClosesTheConnectionAndTheServerStopsTheTask) {
  start();
  if (IsSkipped()) return;
  backend_.request(2, "chat/send",
                   params("Hello there",
                          {{"seed", 42}, {"max_tokens", 2000}, {"logit_bias", {{kImEnd, -100}}}}));
  for (int tokens = 0; tokens < 5;) {
    auto m = backend_.read_message(30s);
    ASSERT_TRUE(m.has_value());
    if (m->value("method", "") == "chat/token") ++tokens;
  }
  backend_.notify("$/cancelRequest", {{"id", 2}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "cancelled");
  bool cancelled = false;
  for (int i = 0; i < 300 && !cancelled; ++i) {
    // "srv          stop: cancel task" (the server pads the component name)
    const std::string log = server_->log_text();
    const auto at = log.find("stop: cancel task");
    cancelled = at != std::string::npos && log.rfind("srv", at) != std::string::npos &&
                log.find_first_not_of(' ', log.rfind("srv", at) + 3) == at;
    if (!cancelled) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(cancelled) << server_->log_text().substr(0, 2000);
}

TEST_F(LlamaRealTest, APromptOverTheContextGivesTheServersMessage) {
  start();
  if (IsSkipped()) return;
  std::string prompt;
  for (int i = 0; i < 5000; ++i)
    prompt += "word ";
  backend_.request(2, "chat/send", params(prompt, {{"max_tokens", 5}}));
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "http");
  const std::string message = t.response["error"]["message"];
  EXPECT_NE(message.find("HTTP 400"), std::string::npos) << message;
  EXPECT_NE(message.find("exceeds the available context size"), std::string::npos) << message;
}

TEST_F(LlamaRealTest, ReasoningIsThinkingNeverAnswerText) {
  const char* prefix = std::getenv("LLAMA_REAL_PREFIX");
  start({"--chat-template-file",
         std::string(prefix != nullptr && *prefix != '\0' ? prefix : "/opt/llama-real") +
             "/models/qwen3-think-open.jinja"});
  if (IsSkipped()) return;
  const json options = {{"seed", 42},
                        {"max_tokens", 20},
                        {"reasoning_budget_tokens", 8},
                        {"logit_bias", {{kImEnd, -100}}}};
  backend_.request(2, "chat/send", params("Hello there", options));
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json& answer = t.response["result"]["messages"][0];
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "Hello there"}}})}};
  body.update(options);
  const json plain = unstreamed(*server_, body);
  ASSERT_TRUE(plain.is_object()) << plain;
  const json& message = plain["choices"][0]["message"];
  ASSERT_TRUE(message.contains("reasoning_content")) << plain;
  EXPECT_EQ(answer["thinking"], message["reasoning_content"]);
  EXPECT_EQ(answer["content"], message["content"]);
  EXPECT_EQ(t.text, message["content"].get<std::string>());  // no thinking in the stream
  EXPECT_EQ(t.text.find(message["reasoning_content"].get<std::string>()), std::string::npos);
}

}  // namespace
}  // namespace quill::test
