// The real backend against a hostile fake Ollama: a server that never stops (text or thinking),
// invalid UTF-8, an HTML page, a redirect; credentials in the host; hosts that do not parse; the
// log file's mode.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"
#include "util/utf8.hpp"

namespace quill::test {
namespace {

constexpr std::string_view kFFFD = "\xEF\xBF\xBD";

struct TurnOutcome {
  std::string text;  // concatenated chat/token text
  json response;
};

json chat_params(const std::string& model, std::optional<std::size_t> max_answer = std::nullopt) {
  json params = {{"chatId", "c"},
                 {"model", model},
                 {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
  if (max_answer) params["maxAnswerBytes"] = *max_answer;
  return params;
}

json initialize(BackendProcess& backend, const json& provider) {
  backend.request(1, "initialize", {{"workspaceRoot", "/tmp"}, {"provider", provider}});
  auto reply = backend.read_response(1);
  EXPECT_TRUE(reply.has_value());
  return reply.value_or(json());
}

TurnOutcome read_turn(BackendProcess& backend, int id) {
  TurnOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = backend.read_message(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!m) break;
    if (m->value("method", "") == "chat/token") {
      out.text += (*m)["params"]["text"].get<std::string>();
    } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
      out.response = *m;
      return out;
    }
  }
  ADD_FAILURE() << "no response to request " << id;
  return out;
}

std::string percent_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

class BoundsIntegrationTest : public ::testing::Test {
 protected:
  // The result of a turn that must have ended at the limit.
  json expect_limit(const TurnOutcome& t, const std::string& note) {
    EXPECT_TRUE(t.response.contains("result")) << t.response.dump().substr(0, 500);
    const json result = t.response.value("result", json::object());
    EXPECT_EQ(result.value("doneReason", ""), "limit");
    EXPECT_EQ(result.value("note", ""), note);
    // The connection was closed: the server is not left generating.
    EXPECT_EQ(fake_.wait_stats([](const json& s) { return s["aborted"] == 1; })["aborted"], 1);
    return result;
  }

  FakeOllamaProcess fake_;
  BackendProcess backend_{{"--log-level", "info"}};
};

TEST_F(BoundsIntegrationTest, AnEndlessAnswerStopsAtTheLimitKeepingTheText) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  backend_.request(2, "chat/send", chat_params("endless", 65536));
  const TurnOutcome t = read_turn(backend_, 2);
  const json result = expect_limit(t, "answer exceeded 64 KiB");
  ASSERT_EQ(result["messages"].size(), 1u);
  const std::string content = result["messages"][0]["content"];
  EXPECT_EQ(content.size(), 65536u);
  EXPECT_EQ(content.substr(0, 16), "endless endless ");
  EXPECT_EQ(t.text, content);  // what the user saw is what the history keeps
}

TEST_F(BoundsIntegrationTest, TheDefaultLimitIsFourMiB) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  backend_.request(2, "chat/send", chat_params("endless?size=65536"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json result = expect_limit(t, "answer exceeded 4 MiB");
  EXPECT_EQ(result["messages"][0]["content"].get<std::string>().size(), 4u * 1024 * 1024);
  EXPECT_EQ(t.text.size(), 4u * 1024 * 1024);
}

TEST_F(BoundsIntegrationTest, EndlessThinkingStopsAtTheLimitToo) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  backend_.request(2, "chat/send", chat_params("endless?field=thinking", 100000));
  const TurnOutcome t = read_turn(backend_, 2);
  const json result = expect_limit(t, "thinking exceeded 100000 bytes");
  ASSERT_EQ(result["messages"].size(), 1u);
  EXPECT_EQ(result["messages"][0]["thinking"].get<std::string>().size(), 100000u);
  EXPECT_EQ(result["messages"][0]["content"], "");
  EXPECT_EQ(t.text, "");  // thinking is never answer text
}

TEST_F(BoundsIntegrationTest, TheCutNeverSplitsACodePoint) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  // "日本語" is 9 bytes: 65537 falls inside a character.
  backend_.request(2, "chat/send", chat_params("endless?unit=" + percent_encode("日本語"), 65537));
  const TurnOutcome t = read_turn(backend_, 2);
  const json result = expect_limit(t, "answer exceeded 65537 bytes");
  const std::string content = result["messages"][0]["content"];
  EXPECT_TRUE(util::is_valid_utf8(content));
  EXPECT_EQ(content.size(), 65535u);  // 65537 rounded down to a whole character
  EXPECT_EQ(t.text, content);
}

TEST_F(BoundsIntegrationTest, InvalidUtf8FromTheProviderBecomesReplacementCharacters) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  backend_.request(2, "chat/send", chat_params("badutf8"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const std::string r(kFFFD);
  EXPECT_EQ(t.text, "caf" + r + " ok" + r + " end");
  const json& message = t.response["result"]["messages"][0];
  EXPECT_EQ(message["content"], t.text);
  EXPECT_EQ(message["thinking"], r + "( think");
  EXPECT_EQ(message["toolCalls"][0]["arguments"]["path"], "a" + r + ".txt");
}

TEST_F(BoundsIntegrationTest, AnHtmlPageIsABadStreamNamingItsContentType) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  backend_.request(2, "chat/send", chat_params("html"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "bad_stream");
  EXPECT_NE(t.response["error"]["message"].get<std::string>().find("text/html"), std::string::npos)
      << t.response;
}

TEST_F(BoundsIntegrationTest, ARedirectIsAnHttpErrorAndIsNeverFollowed) {
  ASSERT_TRUE(initialize(backend_, {{"host", fake_.url()}}).contains("result"));
  // 307 keeps the method: followed, it would POST the prompt to /api/chat again.
  const std::string target = fake_.url() + "/api/chat";
  backend_.request(2, "chat/send",
                   chat_params("redirect?code=307&location=" + percent_encode(target)));
  TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("error")) << t.response;
  EXPECT_EQ(t.response["error"]["data"]["kind"], "http");
  std::string message = t.response["error"]["message"];
  EXPECT_NE(message.find("HTTP 307"), std::string::npos) << message;
  EXPECT_NE(message.find(target), std::string::npos) << message;
  EXPECT_EQ(fake_.stats()["requests"], 1);

  backend_.request(3, "chat/send", chat_params("redirect"));
  t = read_turn(backend_, 3);
  message = t.response["error"]["message"];
  EXPECT_NE(message.find("HTTP 302"), std::string::npos) << message;
  EXPECT_NE(message.find("https://login.example.com/sso?next=/api/chat"), std::string::npos)
      << message;
}

class SecretsTest : public ::testing::Test {
 protected:
  SecretsTest() {
    char dir_template[] = "/tmp/quill-secrets-XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    log_ = dir_ + "/backend.log";
  }
  ~SecretsTest() override {
    std::remove(log_.c_str());
    ::rmdir(dir_.c_str());
  }
  void expect_no_secret(const BackendProcess& backend) {
    for (const json& m : backend.seen())
      EXPECT_EQ(m.dump().find("secret"), std::string::npos) << m;
    EXPECT_EQ(backend.stderr_text().find("secret"), std::string::npos) << backend.stderr_text();
    const std::string log = read_all(log_);
    EXPECT_FALSE(log.empty());
    EXPECT_EQ(log.find("secret"), std::string::npos) << log;
  }

  std::string dir_;
  std::string log_;
  FakeOllamaProcess fake_;
};

TEST_F(SecretsTest, CredentialsInTheHostAreBasicAuthAndNeverShown) {
  {
    BackendProcess backend({"--log-file", log_, "--log-level", "debug"});
    const std::string port = fake_.url().substr(fake_.url().rfind(':'));
    ASSERT_TRUE(
        initialize(backend, {{"host", "http://user:secret@127.0.0.1" + port}}).contains("result"));
    backend.request(2, "chat/send", chat_params("text?tokens=3"));
    ASSERT_TRUE(read_turn(backend, 2).response.contains("result"));
    EXPECT_EQ(fake_.stats()["last_headers"]["authorization"], "Basic dXNlcjpzZWNyZXQ=");
    backend.request(3, "provider/version");
    const auto version = backend.read_response(3);
    ASSERT_TRUE(version.has_value());
    EXPECT_EQ((*version)["result"]["host"], fake_.url());
    backend.request(4, "shutdown", nullptr);
    ASSERT_TRUE(backend.read_response(4).has_value());
    backend.notify("exit");
    EXPECT_EQ(backend.wait_exit().code, 0);
    expect_no_secret(backend);
  }
  struct stat st {};
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SecretsTest, AnUnreachableHostIsNamedWithoutItsCredentials) {
  BackendProcess backend({"--log-file", log_, "--log-level", "debug"});
  ASSERT_TRUE(initialize(backend, {{"host", "http://user:secret@127.0.0.1:9"}}).contains("result"));
  backend.request(2, "chat/send", chat_params("text"));
  const TurnOutcome t = read_turn(backend, 2);
  EXPECT_EQ(t.response["error"]["message"],
            "Ollama is not reachable at http://127.0.0.1:9 — is `ollama serve` running?");
  backend.request(3, "models/list");
  const auto list = backend.read_response(3);
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ((*list)["error"]["data"]["kind"], "unreachable");
  expect_no_secret(backend);
}

TEST_F(SecretsTest, AHostThatDoesNotParseIsAnInitializeErrorNotAFallback) {
  BackendProcess backend({"--log-file", log_, "--log-level", "debug"});
  const std::pair<std::string, std::string> hosts[] = {
      {"http://user:secret@[::1", "http://***@[::1"},
      {"ftp://x", "ftp://x"},
      {"http://host:99999", "http://host:99999"},
      {"not a url with spaces", "not a url with spaces"},
  };
  for (const auto& [host, shown] : hosts) {
    const json reply = initialize(backend, {{"host", host}, {"headers", {{"X-Token", "t"}}}});
    ASSERT_TRUE(reply.contains("error")) << host << " -> " << reply;
    EXPECT_EQ(reply["error"]["code"], -32602);
    EXPECT_NE(reply["error"]["message"].get<std::string>().find("'" + shown + "'"),
              std::string::npos)
        << reply;
  }
  // Still uninitialized: nothing can be sent anywhere, the default address included.
  backend.request(9, "models/list");
  const auto refused = backend.read_response(9);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ((*refused)["error"]["code"], -32002);
  expect_no_secret(backend);
}

}  // namespace
}  // namespace quill::test
