// models/pull through the real backend and the fake's /api/pull: paced progress notifications,
// Ollama's error line, cancel closing the connection, and a pulled model then answering.

#include <gtest/gtest.h>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"
#include "rpc/message.hpp"

namespace quill::test {
namespace {

struct Pull {
  std::vector<json> progress;
  json response;
};

class PullIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.request(1, "initialize",
                     {{"workspaceRoot", "/tmp"},
                      {"provider", {{"host", fake_.url()}}},
                      {"endpoints", {{"v1", {{"kind", "openai"}, {"url", fake_.url() + "/v1"}}}}}});
    ASSERT_TRUE(backend_.read_response(1).has_value());
  }
  Pull run(int id, int cancel_after = -1) {
    Pull p;
    for (;;) {
      auto m = backend_.read_message(10s);
      if (!m) {
        ADD_FAILURE() << "no answer to " << id;
        return p;
      }
      if (m->value("method", "") == "models/pullProgress") {
        p.progress.push_back((*m)["params"]);
        if (static_cast<int>(p.progress.size()) == cancel_after)
          backend_.notify("$/cancelRequest", {{"id", id}});
      } else if (m->contains("id") && (*m)["id"] == id && !m->contains("method")) {
        p.response = *m;
        return p;
      }
    }
  }
  FakeOllamaProcess fake_;
  BackendProcess backend_{{"--log-level", "debug"}};
};

TEST_F(PullIntegrationTest, ProgressArrivesPacedThenSuccessAndThePulledModelAnswers) {
  backend_.request(2, "chat/send",
                   {{"chatId", "c"},
                    {"model", "missing-model"},
                    {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}});
  auto reply = backend_.read_response(2);
  ASSERT_TRUE(reply.has_value() && reply->contains("error"));
  EXPECT_EQ((*reply)["error"]["data"]["kind"], "model_not_found");

  backend_.request(3, "models/pull", {{"model", "missing-model"}});
  const Pull p = run(3);
  ASSERT_TRUE(p.response.contains("result")) << p.response;
  EXPECT_EQ(p.response["result"], (json{{"model", "missing-model"}, {"status", "success"}}));
  EXPECT_EQ(fake_.stats()["last_request"]["model"], "missing-model");
  ASSERT_GE(p.progress.size(), 5u);
  EXPECT_EQ(p.progress.front()["status"], "pulling manifest");
  EXPECT_EQ(p.progress.back()["status"], "success");
  EXPECT_LE(p.progress.size(), 15u);  // 15 lines; same-status lines 5 ms apart are paced
  bool saw_layer = false;
  std::uint64_t last = 0;
  for (const json& step : p.progress) {
    EXPECT_EQ(step["model"], "missing-model");
    if (step.contains("total")) {
      saw_layer = true;
      EXPECT_TRUE(step["digest"].is_string());
      if (step.contains("completed") && step["total"] == 8000000) {
        EXPECT_GE(step["completed"].get<std::uint64_t>(), last);  // never backwards
        last = step["completed"].get<std::uint64_t>();
      }
    }
  }
  EXPECT_TRUE(saw_layer);

  backend_.request(4, "chat/send",
                   {{"chatId", "c"},
                    {"model", "missing-model"},
                    {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}});
  reply = backend_.read_response(4, 10s);
  ASSERT_TRUE(reply.has_value() && reply->contains("result")) << *reply;
}

TEST_F(PullIntegrationTest, OllamasErrorLineIsTheError) {
  backend_.request(2, "models/pull", {{"model", "nosuch-model"}});
  const Pull p = run(2);
  ASSERT_TRUE(p.response.contains("error")) << p.response;
  EXPECT_EQ(p.response["error"]["data"]["kind"], "http");
  EXPECT_EQ(p.response["error"]["message"],
            "pulling nosuch-model failed: pull model manifest: file does not exist");
}

TEST_F(PullIntegrationTest, CancelClosesTheConnection) {
  backend_.request(2, "models/pull", {{"model", "slowpull-model"}});
  const Pull p = run(2, 2);
  ASSERT_TRUE(p.response.contains("error")) << p.response;
  EXPECT_EQ(p.response["error"]["code"], rpc::code::kRequestCancelled);
  const json stats = fake_.wait_stats([](const json& s) { return s["aborted"] == 1; });
  EXPECT_EQ(stats["aborted"], 1);
}

TEST_F(PullIntegrationTest, BadParamsAndOpenAIEndpointsAreRefused) {
  backend_.request(2, "models/pull", {{"model", ""}});
  auto reply = backend_.read_response(2);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], rpc::code::kInvalidParams);
  backend_.request(3, "models/pull", {{"model", "m"}, {"endpoint", "v1"}});
  reply = backend_.read_response(3);
  ASSERT_TRUE(reply.has_value() && reply->contains("error"));
  EXPECT_EQ((*reply)["error"]["data"]["kind"], "config");
  EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("only Ollama pulls"),
            std::string::npos);
}

}  // namespace
}  // namespace quill::test

namespace quill::test {
namespace {

TEST_F(PullIntegrationTest, ShutdownAnswersARunningPullAsCancelledFirst) {
  backend_.request(2, "models/pull", {{"model", "slowpull-model"}});
  for (;;) {  // the pull is under way
    auto m = backend_.read_message(5s);
    ASSERT_TRUE(m.has_value());
    if (m->value("method", "") == "models/pullProgress") break;
  }
  backend_.request(3, "shutdown");
  std::optional<json> pull;
  for (;;) {
    auto m = backend_.read_message(5s);
    ASSERT_TRUE(m.has_value()) << "no answer to shutdown";
    if (m->contains("id") && (*m)["id"] == 2) pull = m;
    if (m->contains("id") && (*m)["id"] == 3) break;
  }
  ASSERT_TRUE(pull.has_value()) << "the pull was not answered before shutdown";
  EXPECT_EQ((*pull)["error"]["code"], rpc::code::kRequestCancelled);
}

}  // namespace
}  // namespace quill::test
