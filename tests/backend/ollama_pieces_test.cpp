// Host parsing, error wording, request building and the chat/token encoder.

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "chat/token_coalescer.hpp"
#include "provider/chat_request.hpp"
#include "provider/failure.hpp"
#include "provider/host.hpp"
#include "provider/ollama/chat_body.hpp"
#include "util/json_escape.hpp"

namespace quill {
namespace {

using nlohmann::json;

std::string host(std::string_view spec) {
  std::string error;
  auto endpoint = provider::parse_host(spec, &error);
  return endpoint ? endpoint->base_url : "ERROR: " + error;
}

TEST(HostTest, FollowsOllamaHostRules) {
  EXPECT_EQ(host("127.0.0.1"), "http://127.0.0.1:11434");
  EXPECT_EQ(host("example.com:8080"), "http://example.com:8080");
  EXPECT_EQ(host("http://example.com"), "http://example.com:80");
  EXPECT_EQ(host("https://example.com"), "https://example.com:443");
  EXPECT_EQ(host("https://example.com:9443/ollama/"), "https://example.com:9443/ollama");
  EXPECT_EQ(host("0.0.0.0"), "http://127.0.0.1:11434");
  EXPECT_EQ(host("0.0.0.0:9999"), "http://127.0.0.1:9999");
  EXPECT_EQ(host("[::]:1234"), "http://[::1]:1234");
  EXPECT_EQ(host("[::1]"), "http://[::1]:11434");
  EXPECT_EQ(host("  localhost  "), "http://localhost:11434");
  EXPECT_EQ(host("ftp://x").rfind("ERROR", 0), 0u);
  EXPECT_EQ(host("h:99999").rfind("ERROR", 0), 0u);
  EXPECT_EQ(host("").rfind("ERROR", 0), 0u);
}

std::string resolved(const std::optional<std::string>& configured) {
  std::string error;
  auto endpoint = provider::resolve_endpoint(configured, &error);
  return endpoint ? endpoint->base_url : "ERROR: " + error;
}

TEST(HostTest, ConfiguredBeatsEnvironmentBeatsDefault) {
  ::setenv("OLLAMA_HOST", "0.0.0.0:7777", 1);
  EXPECT_EQ(resolved(std::nullopt), "http://127.0.0.1:7777");
  EXPECT_EQ(resolved(std::string("h:1")), "http://h:1");
  EXPECT_EQ(resolved(std::string("")), "http://127.0.0.1:7777");
  ::unsetenv("OLLAMA_HOST");
  EXPECT_EQ(resolved(std::nullopt), provider::kDefaultHost);
  EXPECT_EQ(provider::resolve_host(std::string("h:1")), "http://h:1");
  EXPECT_EQ(provider::resolve_host(std::nullopt), provider::kDefaultHost);
}

TEST(ProviderErrorTest, MessagesFollowTheFailureTable) {
  auto f = provider::unreachable(provider::Kind::Ollama, "http://127.0.0.1:11434", "refused");
  EXPECT_EQ(f.kind, "unreachable");
  EXPECT_EQ(f.message,
            "Ollama is not reachable at http://127.0.0.1:11434 — is `ollama serve` running?");
  f = provider::http_status(provider::Kind::Ollama, 404, R"({"error":"model 'llama9' not found"})",
                            "llama9");
  EXPECT_EQ(f.kind, "model_not_found");
  EXPECT_EQ(f.message, "model 'llama9' not found — run `ollama pull llama9`");
  EXPECT_EQ(f.detail, "model 'llama9' not found");
  f = provider::http_status(
      provider::Kind::Ollama, 503,
      R"({"error":"server busy, please try again.  maximum pending requests exceeded"})", "m");
  EXPECT_EQ(f.kind, "http");
  EXPECT_EQ(f.message,
            "Ollama answered HTTP 503: server busy, please try again.  maximum pending requests "
            "exceeded");
  f = provider::timed_out(provider::Kind::Ollama, std::chrono::milliseconds(60000));
  EXPECT_EQ(f.kind, "timeout");
  EXPECT_NE(f.message.find("timed out after 60 s"), std::string::npos);
  f = provider::bad_stream(provider::Kind::Ollama, "not JSON");
  EXPECT_EQ(f.message, "bad stream from Ollama: not JSON");
  EXPECT_EQ(provider::error_text("plain text body\n"), "plain text body");
}

TEST(ChatRequestTest, ConvertsMessagesToOllamaShape) {
  provider::ChatRequest r;
  r.model = "qwen3:8b";
  r.system = "be brief";
  r.think = false;
  r.options = {{"temperature", 0.2}};
  r.messages = json::array(
      {{{"role", "user"}, {"content", "read it"}},
       {{"role", "assistant"},
        {"content", ""},
        {"toolCalls", {{{"id", "c1"}, {"name", "read_file"}, {"arguments", {{"path", "a.c"}}}}}}},
       {{"role", "tool"}, {"content", "int x;"}, {"toolName", "read_file"}, {"toolCallId", "c1"}}});
  const json body = json::parse(ollama::build_chat_body(r));
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["think"], false);
  EXPECT_EQ(body["options"]["temperature"], 0.2);
  ASSERT_EQ(body["messages"].size(), 4u);
  EXPECT_EQ(body["messages"][0], (json{{"role", "system"}, {"content", "be brief"}}));
  const json& call = body["messages"][2]["tool_calls"][0];
  EXPECT_EQ(call["id"], "c1");
  EXPECT_EQ(call["function"]["name"], "read_file");
  EXPECT_TRUE(call["function"]["arguments"].is_object());  // a string here is an HTTP 400
  EXPECT_EQ(body["messages"][3]["tool_name"], "read_file");
  EXPECT_EQ(body["messages"][3]["tool_call_id"], "c1");
  EXPECT_FALSE(body.contains("tools"));
}

TEST(ChatRequestTest, ThinkIsOnlySentWhenAsked) {
  provider::ChatRequest r;
  r.model = "m";
  r.messages = json::array({{{"role", "user"}, {"content", "x"}}});
  const json body = json::parse(ollama::build_chat_body(r));
  EXPECT_FALSE(body.contains("think"));
  EXPECT_FALSE(body.contains("options"));
}

TEST(ChatRequestTest, ValidationNamesTheBadElement) {
  std::string error;
  EXPECT_FALSE(provider::validate_messages(json::array(), &error));
  EXPECT_FALSE(
      provider::validate_messages(json::array({{{"role", "user"}, {"content", 1}}}), &error));
  EXPECT_EQ(error, "messages[0].content must be a string");
  EXPECT_FALSE(provider::validate_messages(
      json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "robot"}}}), &error));
  EXPECT_NE(error.find("messages[1].role"), std::string::npos);
  EXPECT_TRUE(
      provider::validate_messages(json::array({{{"role", "user"}, {"content", "a"}}}), &error));
}

TEST(ChatRequestTest, AssistantMessageCarriesThinkingAndCalls) {
  std::string problem;
  const auto call = ollama::parse_tool_call(
      R"({"id":"x","function":{"index":0,"name":"list_files","arguments":{}}})", &problem);
  ASSERT_TRUE(call.has_value()) << problem;
  const json m = provider::assistant_message("done", "hmm", {*call});
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["thinking"], "hmm");
  EXPECT_EQ(m["toolCalls"][0],
            (json{{"id", "x"}, {"name", "list_files"}, {"arguments", json::object()}}));
  EXPECT_FALSE(provider::assistant_message("a", "", {}).contains("thinking"));
}

TEST(TokenNotificationTest, IsValidJsonForAnyText) {
  const std::string nasty = std::string("q\"b\\n\nt\tc\x01 é 日本 👋 \x7f", 27);
  const json m = json::parse(chat::TokenCoalescer::notification("chat \"1\"", nasty));
  EXPECT_EQ(m["method"], "chat/token");
  EXPECT_EQ(m["params"]["chatId"], "chat \"1\"");
  EXPECT_EQ(m["params"]["text"], nasty);
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c)
    all_controls += static_cast<char>(c);
  std::string out;
  util::append_json_escaped(out, all_controls);
  EXPECT_EQ(json::parse("\"" + out + "\"").get<std::string>(), all_controls);
}

TEST(TokenNotificationTest, GoStyleEscapesLikeOllamaDoes) {
  std::string out;
  util::append_json_escaped<util::JsonStyle::Go>(out, "a<b>&c \u2028 \u2029 \"é\"\n");
  EXPECT_EQ(out, R"(a\u003cb\u003e\u0026c \u2028 \u2029 \"é\"\n)");
  EXPECT_EQ(json::parse("\"" + out + "\"").get<std::string>(), "a<b>&c \u2028 \u2029 \"é\"\n");
  out.clear();
  util::append_json_escaped(out, "a<b>&c");  // plain JSON leaves them raw
  EXPECT_EQ(out, "a<b>&c");
}

}  // namespace
}  // namespace quill
