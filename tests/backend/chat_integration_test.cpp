// The real backend streaming from the fake Ollama server over loopback: every scenario of the
// failure table, exactly-once delivery, cancel closing the connection, parallel chats, and
// coalescing while the editor does not read.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"

namespace quill::test {
namespace {

struct TurnOutcome {
  std::map<std::string, std::string> text;  // chatId -> concatenated chat/token text
  int token_messages = 0;
  std::size_t deltas = 0;  // sum of the notifications' `deltas`
  json response;           // the chat/send response (result or error)
};

void initialize(BackendProcess& backend, const std::string& url, json timeouts = json::object()) {
  backend.request(
      1, "initialize",
      {{"workspaceRoot", "/tmp"}, {"provider", {{"host", url}}}, {"timeouts", timeouts}});
  auto reply = backend.read_response(1);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->contains("result")) << *reply;
}

json chat_params(const std::string& chat_id, const std::string& model) {
  return {{"chatId", chat_id},
          {"model", model},
          {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
}

// Reads until the response to `id`, collecting tokens of every chat on the way.
TurnOutcome read_turn(BackendProcess& backend, int id, TurnOutcome so_far = {},
                      std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = backend.read_message(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!m) break;
    if (m->value("method", "") == "chat/token") {
      so_far.text[(*m)["params"]["chatId"]] += (*m)["params"]["text"].get<std::string>();
      ++so_far.token_messages;
      so_far.deltas += (*m)["params"]["deltas"].get<std::size_t>();
    } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
      so_far.response = *m;
      return so_far;
    }
  }
  ADD_FAILURE() << "no response to request " << id;
  return so_far;
}

class ChatIntegrationTest : public ::testing::Test {
 protected:
  FakeOllamaProcess fake_;
  BackendProcess backend_{{"--log-level", "info"}};
};

TEST_F(ChatIntegrationTest, FiveThousandTokensArriveExactlyOnceAndInOrder) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c1", "text?tokens=5000&rate=0"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json stats = fake_.stats();
  const std::string expected = stats["last_text"];
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(t.text.at("c1"), expected);  // nothing lost, nothing twice, nothing reordered
  const json& result = t.response["result"];
  EXPECT_EQ(result["chatId"], "c1");
  EXPECT_EQ(result["doneReason"], "stop");
  EXPECT_EQ(result["messages"][0]["role"], "assistant");
  EXPECT_EQ(result["messages"][0]["content"], expected);
  EXPECT_EQ(result["stats"]["evalCount"], 5000);
  EXPECT_TRUE(result["stats"].contains("firstTokenMs"));
  EXPECT_EQ(stats["completed"], 1);
}

TEST_F(ChatIntegrationTest, SystemOptionsAndHeadersReachOllama) {
  backend_.request(
      1, "initialize",
      {{"workspaceRoot", "/tmp"},
       {"provider", {{"host", fake_.url()}, {"headers", {{"Authorization", "Bearer s3cret"}}}}}});
  ASSERT_TRUE(backend_.read_response(1).has_value());
  json params = chat_params("c", "text?tokens=2");
  params["system"] = "answer in French";
  params["options"] = {{"temperature", 0.25}, {"num_ctx", 8192}};
  params["think"] = false;
  backend_.request(2, "chat/send", params);
  ASSERT_TRUE(read_turn(backend_, 2).response.contains("result"));
  const json stats = fake_.stats();
  const json& sent = stats["last_request"];
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["think"], false);
  EXPECT_EQ(sent["options"], params["options"]);
  ASSERT_EQ(sent["messages"].size(), 2u);
  EXPECT_EQ(sent["messages"][0], (json{{"role", "system"}, {"content", "answer in French"}}));
  EXPECT_EQ(sent["messages"][1], (json{{"role", "user"}, {"content", "hello"}}));
  EXPECT_EQ(stats["last_headers"]["authorization"], "Bearer s3cret");
  EXPECT_EQ(stats["last_headers"]["content-type"], "application/json");
}

TEST_F(ChatIntegrationTest, TinyWritesSplitInsideCharactersDecodeTheSame) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c1", "split?tokens=150"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.text.at("c1"), fake_.stats()["last_text"].get<std::string>());
}

TEST_F(ChatIntegrationTest, CancelAnswersCancelledWithThePartialTextAndClosesTheConnection) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c1", "hang?after=5"));
  // Wait for the five tokens, then cancel while the server is silent.
  TurnOutcome t;
  while (t.text["c1"].find("t5") == std::string::npos) {
    auto m = backend_.read_message();
    ASSERT_TRUE(m.has_value());
    if (m->value("method", "") == "chat/token")
      t.text["c1"] += (*m)["params"]["text"].get<std::string>();
  }
  backend_.notify("$/cancelRequest", {{"id", 2}});
  t = read_turn(backend_, 2, t);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json& result = t.response["result"];
  EXPECT_EQ(result["doneReason"], "cancelled");
  EXPECT_EQ(result["messages"][0]["content"], t.text["c1"]);
  // The server sees the connection close: a silent GPU is not left generating.
  const json stats = fake_.wait_stats([](const json& s) { return s["aborted"] == 1; });
  EXPECT_EQ(stats["aborted"], 1) << stats;
  EXPECT_EQ(stats["active"], 0) << stats;
}

TEST_F(ChatIntegrationTest, ACancelWhileTheEditorDoesNotReadSendsEveryTokenBeforeItsAnswer) {
  initialize(backend_, fake_.url());
  // 20,000 tok/s for 5 s; the editor reads nothing for the first 1.5 s, so the pipe is full
  // and the backend holds merged text when the cancel comes.
  backend_.request(2, "chat/send", chat_params("c", "text?tokens=100000&rate=20000"));
  std::this_thread::sleep_for(1500ms);
  backend_.notify("$/cancelRequest", {{"id", 2}});
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  const json& result = t.response["result"];
  ASSERT_EQ(result["doneReason"], "cancelled") << "the stream ended before the cancel";
  const std::string shown = t.text.count("c") ? t.text.at("c") : "";
  const std::string kept = result["messages"][0]["content"];
  EXPECT_GT(kept.size(), 64u * 1024) << "less than a pipe's worth: nothing was held back";
  EXPECT_EQ(shown.size(), kept.size()) << "text the answer keeps never reached the editor first";
  EXPECT_EQ(shown, kept);
}

TEST_F(ChatIntegrationTest, TwoChatsStreamAtOnceAndCancelIndependently) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("a", "text?tokens=300&rate=1500"));
  backend_.request(3, "chat/send", chat_params("b", "hang?after=3"));
  TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["chatId"], "a");
  EXPECT_EQ(t.response["result"]["messages"][0]["content"], t.text["a"]);
  EXPECT_EQ(t.response["result"]["stats"]["evalCount"], 300);
  backend_.notify("$/cancelRequest", {{"id", 3}});
  t = read_turn(backend_, 3, t);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.response["result"]["doneReason"], "cancelled");
  EXPECT_NE(t.text["b"].find("t3"), std::string::npos);
  EXPECT_EQ(t.response["result"]["messages"][0]["content"], t.text["b"]);
}

TEST_F(ChatIntegrationTest, ASecondSendOnARunningChatIsRefused) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("same", "hang?after=1"));
  backend_.request(3, "chat/send", chat_params("same", "text?tokens=1"));
  const auto refused = backend_.read_response(3);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ((*refused)["error"]["code"], -32602);
  backend_.notify("$/cancelRequest", {{"id", 2}});
  EXPECT_EQ(read_turn(backend_, 2).response["result"]["doneReason"], "cancelled");
}

json expect_provider_error(const TurnOutcome& t, const std::string& kind) {
  EXPECT_TRUE(t.response.contains("error")) << t.response;
  const json& error = t.response["error"];
  EXPECT_EQ(error["code"], -32000) << error;
  EXPECT_EQ(error["data"]["kind"], kind) << error;
  return error;
}

TEST_F(ChatIntegrationTest, ErrorLineMidStreamKeepsThePartialAnswer) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "error?after=10"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json error = expect_provider_error(t, "stream_interrupted");
  EXPECT_NE(error["message"].get<std::string>().find("unexpected EOF"), std::string::npos);
  EXPECT_EQ(error["data"]["partial"], t.text.at("c"));
  EXPECT_NE(t.text.at("c").find("t10"), std::string::npos);
  EXPECT_EQ(error["data"]["messages"][0]["content"], t.text.at("c"));
}

TEST_F(ChatIntegrationTest, DroppedConnectionIsAnInterruptedStream) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "drop?after=10"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json error = expect_provider_error(t, "stream_interrupted");
  // said for people, not in libcurl's words ("transfer closed with outstanding read data")
  EXPECT_EQ(error["message"], "the server closed the connection mid-answer") << error;
  EXPECT_EQ(error["data"]["partial"], t.text.at("c"));
  EXPECT_NE(t.text.at("c").find("t10"), std::string::npos);
}

TEST_F(ChatIntegrationTest, ABodyEndingWithoutDoneIsInterruptedNotSuccess) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "truncated?after=7"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json error = expect_provider_error(t, "stream_interrupted");
  EXPECT_EQ(error["data"]["partial"], t.text.at("c"));
  EXPECT_NE(t.text.at("c").find("t7"), std::string::npos);
}

TEST_F(ChatIntegrationTest, FinishedTurnsReuseTheConnection) {
  initialize(backend_, fake_.url());
  // Every stats query is a connection of its own: count from one to the next.
  const int before = fake_.stats()["connections"].get<int>();
  for (int id = 2; id < 5; ++id) {
    backend_.request(id, "chat/send", chat_params("c", "text?tokens=3"));
    ASSERT_TRUE(read_turn(backend_, id).response.contains("result"));
  }
  const int after = fake_.stats()["connections"].get<int>();
  EXPECT_EQ(after - before, 2) << "three turns should share one connection (+1: this query)";
}

TEST_F(ChatIntegrationTest, GarbageLineIsABadStream) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "garbage?after=10"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json error = expect_provider_error(t, "bad_stream");
  EXPECT_EQ(error["message"].get<std::string>().rfind("bad stream from Ollama: ", 0), 0u) << error;
  EXPECT_EQ(error["data"]["partial"], t.text.at("c"));
}

TEST_F(ChatIntegrationTest, MissingModelSaysHowToPullIt) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "missing-model"));
  const json error = expect_provider_error(read_turn(backend_, 2), "model_not_found");
  EXPECT_EQ(error["message"], "model 'missing-model' not found — run `ollama pull missing-model`");
  EXPECT_EQ(error["data"]["partial"], "");
}

TEST_F(ChatIntegrationTest, OtherHttpStatusCarriesOllamasMessage) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "status?code=503"));
  const json error = expect_provider_error(read_turn(backend_, 2), "http");
  EXPECT_EQ(error["message"].get<std::string>().rfind("Ollama answered HTTP 503: server busy", 0),
            0u)
      << error;
}

TEST_F(ChatIntegrationTest, SilenceAfterSomeTokensTimesOutKeepingThem) {
  initialize(backend_, fake_.url(), {{"idleMs", 300}});
  backend_.request(2, "chat/send", chat_params("c", "hang?after=4"));
  const TurnOutcome t = read_turn(backend_, 2);
  const json error = expect_provider_error(t, "timeout");
  EXPECT_NE(error["message"].get<std::string>().find("timed out after 300 ms"), std::string::npos);
  EXPECT_EQ(error["data"]["partial"], t.text.at("c"));
  EXPECT_EQ(fake_.wait_stats([](const json& s) { return s["aborted"] == 1; })["aborted"], 1);
}

TEST_F(ChatIntegrationTest, SlowFirstByteHasItsOwnLongerTimeout) {
  initialize(backend_, fake_.url(), {{"firstByteMs", 2000}, {"idleMs", 100}});
  // Headers after 400 ms: beyond the idle limit, within the first-byte limit.
  backend_.request(2, "chat/send", chat_params("c", "slow?delay_ms=400&tokens=5"));
  TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  // And past the first-byte limit it is a timeout.
  BackendProcess strict({"--log-level", "info"});
  initialize(strict, fake_.url(), {{"firstByteMs", 150}});
  strict.request(2, "chat/send", chat_params("c", "slow?delay_ms=1500&tokens=5"));
  expect_provider_error(read_turn(strict, 2), "timeout");
}

TEST_F(ChatIntegrationTest, UnreachableOllamaNamesTheHost) {
  const std::string dead = "http://127.0.0.1:9";  // discard port: nothing listens
  initialize(backend_, dead);
  backend_.request(2, "chat/send", chat_params("c", "text"));
  const json error = expect_provider_error(read_turn(backend_, 2), "unreachable");
  EXPECT_EQ(error["message"],
            "Ollama is not reachable at " + dead + " — is `ollama serve` running?");
}

TEST_F(ChatIntegrationTest, ThinkingIsNeverAnswerText) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "fixture?name=chat-thinking"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.text.at("c"), "17 × 23 = **391**.");
  EXPECT_NE(t.response["result"]["messages"][0]["thinking"].get<std::string>().find("340 + 51"),
            std::string::npos);
}

TEST_F(ChatIntegrationTest, WhileTheEditorDoesNotReadTokensMergeIntoFewMessages) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "text?tokens=20000&rate=0"));
  // Do not read: the pipe fills, the backend must merge instead of queueing 20,000 messages.
  fake_.wait_stats([](const json& s) { return s["completed"] == 1; }, 10000);
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.text.at("c"), fake_.stats()["last_text"].get<std::string>());
  EXPECT_LT(t.token_messages, 2000) << "tokens were queued one message each";
}

TEST_F(ChatIntegrationTest, AFastStreamReachesTheEditorAtMostOncePerFrame) {
  initialize(backend_, fake_.url());
  // 400 tokens at 400 tok/s: one second, so about 62 frames of 16 ms.
  backend_.request(2, "chat/send", chat_params("c", "text?tokens=400&rate=400"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.text.at("c"), fake_.stats()["last_text"].get<std::string>());
  EXPECT_EQ(t.deltas, 400u) << "the editor's live token count";
  EXPECT_LE(t.token_messages, 100) << "tokens were not paced per frame";
  EXPECT_GE(t.token_messages, 20) << "text waited longer than a frame";
}

TEST_F(ChatIntegrationTest, ASlowStreamSendsEveryTokenAtOnce) {
  initialize(backend_, fake_.url());
  // 20 tok/s: 50 ms between tokens, more than a frame, so nothing may wait or merge.
  backend_.request(2, "chat/send", chat_params("c", "text?tokens=8&rate=20"));
  const TurnOutcome t = read_turn(backend_, 2);
  ASSERT_TRUE(t.response.contains("result")) << t.response;
  EXPECT_EQ(t.token_messages, 8);
  EXPECT_EQ(t.deltas, 8u);
}

TEST_F(ChatIntegrationTest, TheFirstTokenOnAReusedConnectionArrivesAtOnce) {
  // A turn after another request reuses its connection; the first token then often arrives with
  // the response headers, which libcurl hands over from its timer, not from a socket event. It
  // must not wait for the next token (0.5 s later at 2 tok/s).
  initialize(backend_, fake_.url());
  int id = 2;
  for (int round = 0; round < 8; ++round) {
    backend_.request(id, "models/show", {{"model", "llama3.2"}});
    ASSERT_TRUE(backend_.read_response(id).has_value());
    ++id;
    const auto sent = std::chrono::steady_clock::now();
    backend_.request(id, "chat/send",
                     chat_params("c" + std::to_string(round), "text?tokens=3&rate=2"));
    std::optional<json> first;
    while (!first) {
      auto m = backend_.read_message(5s);
      ASSERT_TRUE(m.has_value()) << "round " << round << ": no token";
      if (m->value("method", "") == "chat/token") first = m;
    }
    const auto waited = std::chrono::steady_clock::now() - sent;
    EXPECT_LT(waited, 300ms) << "round " << round << ": the first token waited for the second";
    EXPECT_EQ((*first)["params"]["deltas"], 1) << "round " << round << ": merged with the next";
    const TurnOutcome rest = read_turn(backend_, id);
    ASSERT_TRUE(rest.response.contains("result")) << rest.response;
    ++id;
  }
}

TEST_F(ChatIntegrationTest, ModelsListAndShow) {
  initialize(backend_, fake_.url());
  backend_.request(2, "models/list");
  auto reply = backend_.read_response(2);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->contains("result")) << *reply;
  const json& models = (*reply)["result"]["models"];
  ASSERT_FALSE(models.empty());
  EXPECT_TRUE(models[0]["name"].is_string());
  EXPECT_TRUE(models[0]["size"].is_number());
  backend_.request(3, "models/show", {{"model", "llama3.2"}});
  reply = backend_.read_response(3);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->contains("result")) << *reply;
  EXPECT_EQ((*reply)["result"]["model"], "llama3.2");
  EXPECT_TRUE((*reply)["result"]["capabilities"].is_array());
  backend_.request(4, "models/show", {{"model", "missing"}});
  reply = backend_.read_response(4);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["data"]["kind"], "model_not_found");
  backend_.request(5, "provider/version");
  reply = backend_.read_response(5);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE((*reply)["result"]["version"].is_string()) << *reply;
}

TEST_F(ChatIntegrationTest, ShutdownEndsRunningChatsFirst) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "hang?after=2"));
  while (true) {
    auto m = backend_.read_message();
    ASSERT_TRUE(m.has_value());
    if (m->value("method", "") == "chat/token") break;
  }
  backend_.request(3, "shutdown", nullptr);
  const TurnOutcome t = read_turn(backend_, 2);
  EXPECT_EQ(t.response["result"]["doneReason"], "cancelled");
  EXPECT_TRUE(backend_.read_response(3).has_value());
  backend_.notify("exit");
  EXPECT_EQ(backend_.wait_exit().code, 0);
}

TEST_F(ChatIntegrationTest, EditorGoneMidStreamLeavesNoConnection) {
  initialize(backend_, fake_.url());
  backend_.request(2, "chat/send", chat_params("c", "hang?after=2"));
  fake_.wait_stats([](const json& s) { return s["active"] == 1; });
  backend_.close_stdin();
  EXPECT_EQ(backend_.wait_exit().code, 0);
  EXPECT_EQ(fake_.wait_stats([](const json& s) { return s["aborted"] == 1; })["aborted"], 1);
}

}  // namespace
}  // namespace quill::test

namespace quill::test {
namespace {

// chat/thinking text and chat/token text of one turn, in arrival order.
struct Streams {
  std::string thinking;
  std::string text;
  bool thinking_after_text = false;
  json response;
};

Streams read_streams(BackendProcess& backend, int id) {
  Streams s;
  for (;;) {
    auto m = backend.read_message(10s);
    if (!m) {
      ADD_FAILURE() << "no answer to " << id;
      return s;
    }
    const std::string method = m->value("method", "");
    if (method == "chat/thinking") {
      s.thinking += (*m)["params"]["text"].get<std::string>();
      if (!s.text.empty()) s.thinking_after_text = true;
    } else if (method == "chat/token") {
      s.text += (*m)["params"]["text"].get<std::string>();
    } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
      s.response = *m;
      return s;
    }
  }
}

TEST_F(ChatIntegrationTest, ThinkingStreamsAsChatThinkingOnlyWhenAskedAndNeverAsText) {
  initialize(backend_, fake_.url());
  const json expected = json::parse(
      std::ifstream(std::string(QUILL_FIXTURES_DIR) + "/ollama/chat-thinking.expected.json"));
  json params = chat_params("c1", "fixture?name=chat-thinking");
  params["streamThinking"] = true;
  backend_.request(2, "chat/send", params);
  Streams s = read_streams(backend_, 2);
  ASSERT_TRUE(s.response.contains("result")) << s.response;
  EXPECT_EQ(s.thinking, expected["thinking"].get<std::string>());
  EXPECT_EQ(s.text, expected["content"].get<std::string>());
  EXPECT_FALSE(s.thinking_after_text);
  EXPECT_EQ(s.response["result"]["messages"][0]["thinking"], s.thinking);

  backend_.request(3, "chat/send", chat_params("c2", "fixture?name=chat-thinking"));
  s = read_streams(backend_, 3);
  ASSERT_TRUE(s.response.contains("result")) << s.response;
  EXPECT_EQ(s.thinking, "");  // not asked: only in the result
  EXPECT_EQ(s.text, expected["content"].get<std::string>());
  EXPECT_EQ(s.response["result"]["messages"][0]["thinking"], expected["thinking"]);
}

}  // namespace
}  // namespace quill::test
