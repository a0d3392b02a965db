// The real backend on an OpenAI-compatible endpoint (the fake's /v1/chat/completions, SSE) over
// loopback: text, tool calls in interleaved fragments, errors as statuses and as events, a
// stream cut short, the API key from the environment, one retry without tools, endpoints
// switched live with settings/update, and cancel closing the connection.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"
#include "spawn.hpp"

namespace quill::test {
namespace {

struct Turn {
  std::string text;
  std::vector<json> tool_notes;
  std::vector<json> editor_requests;
  json response;
};

class OpenAIIntegrationTest : public ::testing::Test {
 protected:
  // Two endpoints on the same fake: "local" (OpenAI-compatible, the default) and "ollama".
  json endpoints(json local_extra = json::object()) {
    json local = {{"kind", "openai"}, {"url", fake_.url() + "/v1"}};
    local.update(local_extra);
    return {
        {"endpoints", {{"local", local}, {"ollama", {{"kind", "ollama"}, {"url", fake_.url()}}}}},
        {"endpoint", "local"}};
  }

  void initialize(json settings) {
    json params = {{"workspaceRoot", "/tmp"}};
    params.update(settings);
    backend_.request(1, "initialize", params);
    auto reply = backend_.read_response(1);
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->contains("result")) << *reply;
  }

  void send(int id, const std::string& model, json extra = json::object()) {
    json params = {{"chatId", "c"},
                   {"model", model},
                   {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
    params.update(extra);
    backend_.request(id, "chat/send", params);
  }

  // Reads to the answer of `id`, playing an editor whose readFile gives "<path> text".
  Turn run(int id) {
    Turn t;
    for (;;) {
      auto m = backend_.read_message(10s);
      if (!m) {
        ADD_FAILURE() << "no answer to " << id;
        return t;
      }
      const std::string method = m->value("method", "");
      if (method == "chat/token") {
        t.text += (*m)["params"]["text"].get<std::string>();
      } else if (method == "chat/toolCall") {
        t.tool_notes.push_back((*m)["params"]);
      } else if (method == "editor/readFile") {
        t.editor_requests.push_back(*m);
        backend_.send({{"jsonrpc", "2.0"},
                       {"id", (*m)["id"]},
                       {"result",
                        {{"content", (*m)["params"]["path"].get<std::string>() + " text"},
                         {"truncated", false}}}});
      } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
        t.response = *m;
        return t;
      }
    }
  }

  json last_request() { return fake_.stats()["last_request"]; }

  FakeOllamaProcess fake_;
  BackendProcess backend_{{"--log-level", "debug"}};
};

TEST_F(OpenAIIntegrationTest, TextStreamsInSplitEventsWithUsageAndSpeed) {
  initialize(endpoints());
  send(2, "split?tokens=30&rate=0");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json stats = fake_.stats();
  EXPECT_EQ(t.text, stats["last_text"].get<std::string>());
  EXPECT_FALSE(t.text.empty());
  const json& sent = stats["last_request"];
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["stream_options"]["include_usage"], true);
  EXPECT_EQ(sent["messages"][0], (json{{"role", "user"}, {"content", "hello"}}));
  const json& result = t.response["result"];
  EXPECT_EQ(result["doneReason"], "stop");
  EXPECT_EQ(result["messages"][0]["content"], t.text);
  EXPECT_EQ(result["stats"]["evalCount"], 30);                       // from usage
  EXPECT_GT(result["stats"]["tokensPerSecond"].get<double>(), 0.0);  // our own clock
}

TEST_F(OpenAIIntegrationTest, InterleavedToolCallFragmentsRunAndTheNextRoundCarriesIds) {
  initialize(endpoints());
  const json calls = {{{"name", "read_file"}, {"arguments", {{"path", "a.txt"}}}, {"id", "ca"}},
                      {{"name", "read_file"}, {"arguments", {{"path", "b.txt"}}}, {"id", "cb"}}};
  send(2,
       "tools?calls=" + url_encode(calls.dump()) + "&then=" + url_encode("All done.") +
           "&interleave=1&fragment=3",
       {{"tools", true}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  ASSERT_EQ(t.editor_requests.size(), 2u);
  EXPECT_EQ(t.editor_requests[0]["params"]["path"], "a.txt");
  EXPECT_EQ(t.editor_requests[1]["params"]["path"], "b.txt");
  const json sent = last_request();
  const json& msgs = sent["messages"];
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[1]["role"], "assistant");
  EXPECT_EQ(msgs[1]["tool_calls"][0]["id"], "ca");
  EXPECT_EQ(msgs[1]["tool_calls"][0]["type"], "function");
  EXPECT_EQ(msgs[1]["tool_calls"][0]["function"]["arguments"], "{\"path\":\"a.txt\"}");
  EXPECT_EQ(msgs[2], (json{{"role", "tool"}, {"tool_call_id", "ca"}, {"content", "a.txt text"}}));
  EXPECT_EQ(msgs[3], (json{{"role", "tool"}, {"tool_call_id", "cb"}, {"content", "b.txt text"}}));
  EXPECT_EQ(sent["tools"].size(), 4u);
  EXPECT_EQ(t.text, "Let me check.All done.");
  EXPECT_EQ(t.response["result"]["doneReason"], "stop");
}

TEST_F(OpenAIIntegrationTest, ArgumentsThatAreNotJsonAreAnsweredNotRun) {
  initialize(endpoints());
  // The fake sends a string `arguments` as the argument text itself: here, text that is not JSON.
  const std::string raw = R"([{"function":{"name":"read_file","arguments":"{\"path\": "}}])";
  send(2, "rawcalls?calls=" + url_encode(raw), {{"tools", true}, {"maxRounds", 1}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_TRUE(t.editor_requests.empty());
  ASSERT_EQ(t.tool_notes.size(), 2u);
  EXPECT_EQ(t.tool_notes[1]["status"], "failed");
  EXPECT_NE(t.tool_notes[1]["message"].get<std::string>().find("not valid JSON"), std::string::npos)
      << t.tool_notes[1];
}

TEST_F(OpenAIIntegrationTest, ErrorsKeepThePartialAnswerAndSayWhatHappened) {
  initialize(endpoints());
  send(2, "fixture?name=chat-error-midstream");
  Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "stream_interrupted");
  EXPECT_EQ(t.response["error"]["data"]["partial"], "Sure, here is a summary:\n\n1.");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("unexpected EOF"),
            std::string::npos);

  send(3, "missing-model");
  t = run(3);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "model_not_found");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("missing-model"),
            std::string::npos);

  send(4, "drop?after=5");
  t = run(4);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "stream_interrupted");
  EXPECT_FALSE(t.response["error"]["data"]["partial"].get<std::string>().empty());

  send(5, "garbage");
  t = run(5);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "bad_stream");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("the server"),
            std::string::npos);
}

TEST_F(OpenAIIntegrationTest, AWrongPathSaysToCheckTheUrl) {
  json settings = endpoints();
  settings["endpoints"]["local"]["url"] = fake_.url();  // without /v1
  initialize(settings);
  send(2, "text");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "http");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("/v1"), std::string::npos)
      << t.response;
}

TEST_F(OpenAIIntegrationTest, TheApiKeyComesFromTheEnvironmentAndIsNeverLogged) {
  // The variable is read when a request is made, in the backend's own environment. A gateway
  // token in a configured header is as secret as the key: sent, never logged.
  ::setenv("QUILL_TEST_KEY", "sk-secret-123", 1);
  BackendProcess backend{{"--log-level", "debug"}};
  ::unsetenv("QUILL_TEST_KEY");
  json params = {{"workspaceRoot", "/tmp"}};
  params.update(endpoints(
      {{"apiKeyEnv", "QUILL_TEST_KEY"}, {"headers", {{"X-Gateway-Token", "gw-secret-456"}}}}));
  backend.request(1, "initialize", params);
  ASSERT_TRUE(backend.read_response(1).has_value());
  backend.request(2, "chat/send",
                  {{"chatId", "c"},
                   {"model", "text?tokens=3"},
                   {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  auto reply = backend.read_response(2, 10s);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->contains("result")) << *reply;
  EXPECT_EQ(fake_.stats()["last_headers"]["authorization"], "Bearer sk-secret-123");
  backend.request(3, "models/list");
  reply = backend.read_response(3);
  ASSERT_TRUE(reply.has_value() && reply->contains("result")) << *reply;
  EXPECT_EQ((*reply)["result"]["models"][0]["name"], "qwen3:8b");
  EXPECT_EQ(fake_.stats()["last_headers"]["x-gateway-token"], "gw-secret-456");
  EXPECT_EQ(backend.stderr_text().find("sk-secret-123"), std::string::npos);
  EXPECT_EQ(backend.stderr_text().find("gw-secret-456"), std::string::npos);
  EXPECT_NE(backend.stderr_text().find("chat"), std::string::npos) << "the log ran at debug";

  // Unset: a clear error naming the variable, no request.
  initialize(endpoints({{"apiKeyEnv", "QUILL_TEST_KEY_UNSET"}}));
  const auto before = fake_.stats()["requests"].get<int>();
  send(2, "text");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "config");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("$QUILL_TEST_KEY_UNSET"),
            std::string::npos);
  EXPECT_EQ(fake_.stats()["requests"].get<int>(), before);
}

TEST_F(OpenAIIntegrationTest, AServerThatRefusesToolsIsAskedOnceMoreWithoutThem) {
  initialize(endpoints());
  send(2, "notools-model", {{"tools", true}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_FALSE(t.text.empty());
  EXPECT_FALSE(last_request().contains("tools"));
  EXPECT_EQ(fake_.stats()["requests"], 2);
  EXPECT_NE(t.response["result"]["note"].get<std::string>().find("does not support tools"),
            std::string::npos)
      << t.response;
}

TEST_F(OpenAIIntegrationTest, ASilentStreamTimesOutKeepingItsTextAndClosesTheConnection) {
  json settings = endpoints();
  settings["timeouts"] = {{"idleMs", 300}};
  initialize(settings);
  send(2, "hang?after=4");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "timeout") << t.response;
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("timed out after 300 ms"),
            std::string::npos)
      << t.response;
  EXPECT_FALSE(t.text.empty());
  EXPECT_EQ(t.response["error"]["data"]["partial"], t.text);
  EXPECT_EQ(fake_.wait_stats([](const json& s) { return s["aborted"] == 1; })["aborted"], 1);
}

TEST_F(OpenAIIntegrationTest, ARefusalThatIsNotAboutToolsIsNotAskedTwice) {
  // llama-server answers a prompt over its context with 400 while tools are offered: asking
  // again without tools would only make the user wait twice for the same error.
  initialize(endpoints());
  send(2, "status?code=400&message=request%20exceeds%20the%20available%20context%20size",
       {{"tools", true}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("exceeds the available context"),
            std::string::npos)
      << t.response;
  EXPECT_EQ(fake_.stats()["requests"], 1);
}

TEST_F(OpenAIIntegrationTest, SettingsUpdateSendsTheNextTurnToTheNewDefault) {
  initialize(endpoints());
  send(2, "text?tokens=2");
  ASSERT_TRUE(run(2).response.contains("result"));
  EXPECT_TRUE(last_request().contains("stream_options"));  // OpenAI's shape

  json update = endpoints();
  update["endpoint"] = "ollama";
  backend_.request(3, "settings/update", update);
  auto reply = backend_.read_response(3);
  ASSERT_TRUE(reply.has_value() && reply->contains("result")) << *reply;
  EXPECT_EQ((*reply)["result"]["endpoint"], "ollama");
  send(4, "text?tokens=2");
  ASSERT_TRUE(run(4).response.contains("result"));
  EXPECT_FALSE(last_request().contains("stream_options"));  // Ollama's /api/chat

  // A chat may name its endpoint; an unknown one is a clear error; bad settings change nothing.
  send(5, "text?tokens=2", {{"endpoint", "local"}});
  ASSERT_TRUE(run(5).response.contains("result"));
  EXPECT_TRUE(last_request().contains("stream_options"));
  send(6, "text", {{"endpoint", "nope"}});
  const Turn t = run(6);
  ASSERT_TRUE(t.response.contains("error"));
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("no endpoint named 'nope'"),
            std::string::npos);
  backend_.request(7, "settings/update",
                   {{"endpoints", {{"x", {{"kind", "openai"}, {"url", "ftp://h"}}}}}});
  reply = backend_.read_response(7);
  ASSERT_TRUE(reply.has_value() && reply->contains("error")) << *reply;
  EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("endpoints.x.url"),
            std::string::npos);
  send(8, "text?tokens=2");
  ASSERT_TRUE(run(8).response.contains("result"));
  EXPECT_FALSE(last_request().contains("stream_options"));  // still the ollama default
}

TEST_F(OpenAIIntegrationTest, CancelClosesTheConnection) {
  initialize(endpoints());
  // 15 s of tokens at 200/s; not more: the fake translates the whole script to SSE before its
  // first byte, which takes seconds for 100,000 tokens under the sanitizers.
  send(2, "text?tokens=3000&rate=200");
  for (int tokens = 0; tokens < 3;) {
    auto m = backend_.read_message(5s);
    ASSERT_TRUE(m.has_value());
    if (m->value("method", "") == "chat/token") ++tokens;
  }
  backend_.notify("$/cancelRequest", {{"id", 2}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "cancelled");
  const json stats = fake_.wait_stats([](const json& s) { return s["aborted"] == 1; });
  EXPECT_EQ(stats["aborted"], 1);
}

// A loopback port that answers every connection with plain-text HTTP at once: what a TLS client
// meets at a port that does not speak TLS (the handshake fails as with an untrusted certificate).
class PlainTextPort {
 public:
  PlainTextPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "no loopback port";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;  // closed
        const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        (void)!::write(client, reply, sizeof reply - 1);
        ::close(client);
      }
    });
  }
  ~PlainTextPort() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(OpenAIIntegrationTest, ATlsFailureIsKindTlsNamingTheHost) {
  PlainTextPort plain;
  json settings = endpoints();
  const std::string url = "https://127.0.0.1:" + std::to_string(plain.port()) + "/v1";
  settings["endpoints"]["local"]["url"] = url;
  initialize(settings);
  send(2, "text");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "tls") << t.response;
  const std::string message = t.response["error"]["message"];
  EXPECT_NE(message.find("TLS with " + url + " failed"), std::string::npos) << message;
  EXPECT_NE(message.find("certificate"), std::string::npos) << message;
}

// `openssl s_server` with a certificate made for this run: a real TLS handshake whose
// certificate nobody trusts (self-signed), as an https endpoint behind a private CA looks.
class SelfSignedTlsServer {
 public:
  SelfSignedTlsServer() {
    char dir_template[] = "/tmp/quill-tls-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return;
    dir_ = dir_template;
    const std::string key = dir_ + "/key.pem", cert = dir_ + "/cert.pem";
    const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    const pid_t req = spawn({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                             "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert},
                            -1, devnull, devnull);
    int status = 0;
    ::waitpid(req, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ::close(devnull);
      return;  // no openssl program: the test says skipped
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ =
        spawn({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key, "-www"},
              devnull, out[1], devnull);
    ::close(devnull);
    ::close(out[1]);
    // It says "ACCEPT 127.0.0.1:PORT" once it listens.
    std::string said;
    char c = 0;
    pollfd pfd{out[0], POLLIN, 0};
    while (said.find('\n', said.find("ACCEPT")) == std::string::npos && said.size() < 400 &&
           ::poll(&pfd, 1, 10000) > 0 && ::read(out[0], &c, 1) == 1) {
      said += c;
    }
    ::close(out[0]);
    const auto at = said.find("ACCEPT 127.0.0.1:");
    if (at != std::string::npos) port_ = std::atoi(said.c_str() + at + 17);
  }
  ~SelfSignedTlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  int port() const { return port_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(OpenAIIntegrationTest, AnUntrustedCertificateIsKindTlsNamingTheHostAndTheCertificate) {
  SelfSignedTlsServer tls;
  if (tls.port() == 0) GTEST_SKIP() << "no openssl program to serve TLS: skipped";
  json settings = endpoints();
  const std::string url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/v1";
  settings["endpoints"]["local"]["url"] = url;
  initialize(settings);
  send(2, "text");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "tls") << t.response;
  const std::string message = t.response["error"]["message"];
  EXPECT_NE(message.find("TLS with " + url + " failed"), std::string::npos) << message;
  // curl's own words for a failed verification, not only our hint
  EXPECT_NE(message.find("SSL certificate problem"), std::string::npos) << message;
}

// ---- a hostile server or environment ------------------------------------------------------------

TEST_F(OpenAIIntegrationTest, AKeyWithALineBreakIsRefusedNotSentAsAForgedHeader) {
  ::setenv("QUILL_TEST_KEY", "sk-1\r\nX-Forged: yes", 1);
  BackendProcess backend{{"--log-level", "debug"}};
  ::unsetenv("QUILL_TEST_KEY");
  json params = {{"workspaceRoot", "/tmp"}};
  params.update(endpoints({{"apiKeyEnv", "QUILL_TEST_KEY"}}));
  backend.request(1, "initialize", params);
  ASSERT_TRUE(backend.read_response(1).has_value());
  backend.request(2, "chat/send",
                  {{"chatId", "c"},
                   {"model", "text?tokens=3"},
                   {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  const auto reply = backend.read_response(2, 10s);
  ASSERT_TRUE(reply.has_value() && reply->contains("error")) << *reply;
  EXPECT_EQ((*reply)["error"]["data"]["kind"], "config");
  EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("line break"), std::string::npos);
  EXPECT_EQ(fake_.stats()["requests"], 0);
}

TEST_F(OpenAIIntegrationTest, AFloodOfCallFragmentsStopsAtTheAnswerLimitAndRunsNothing) {
  initialize(endpoints());
  const json calls = {
      {{"name", "read_file"}, {"arguments", {{"path", std::string(5000, 'a')}}}, {"id", "big"}}};
  send(2, "tools?calls=" + url_encode(calls.dump()) + "&fragment=1",
       {{"tools", true}, {"maxAnswerBytes", 500}});
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "limit");
  EXPECT_NE(t.response["result"]["note"].get<std::string>().find("tool calls exceeded 500 bytes"),
            std::string::npos)
      << t.response;
  EXPECT_TRUE(t.editor_requests.empty());
  EXPECT_TRUE(t.tool_notes.empty());
  const json stats = fake_.wait_stats([](const json& s) { return s["aborted"] == 1; });
  EXPECT_EQ(stats["aborted"], 1);  // the connection was closed, not read to the end
}

TEST_F(OpenAIIntegrationTest, GarbageBetweenEventsAndAnHtmlPageAreNamed) {
  initialize(endpoints());
  send(2, "html");
  const Turn t = run(2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "bad_stream");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("often ending in /v1"),
            std::string::npos)
      << t.response;
}

}  // namespace
}  // namespace quill::test
