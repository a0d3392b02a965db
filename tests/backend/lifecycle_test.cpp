#include "server/lifecycle.hpp"

#include <gtest/gtest.h>

#include "recording_sink.hpp"

namespace quill::server {
namespace {

using rpc::json;
using namespace std::chrono_literals;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    lifecycle_.reset();
    peer_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  json request(int id, const std::string& method, json params) {
    peer_->receive(
        json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
    return sink_.take_last();
  }

  uv_loop_t loop_{};
  test::RecordingSink sink_;
  std::unique_ptr<rpc::Peer> peer_ = std::make_unique<rpc::Peer>(&loop_, sink_);
  std::optional<int> exit_code_;
  std::unique_ptr<Lifecycle> lifecycle_ =
      std::make_unique<Lifecycle>(*peer_, [this](int code) { exit_code_ = code; });
};

TEST_F(LifecycleTest, RequestsBeforeInitializeAreRefused) {
  peer_->on_request("models/list", [](const json&, rpc::Responder r) { r.reply(nullptr); });
  const json reply = request(1, "models/list", json::object());
  EXPECT_EQ(reply["error"]["code"], rpc::code::kServerNotInitialized);
}

TEST_F(LifecycleTest, InitializeStoresSettingsAndListsMethods) {
  const json reply = request(1, "initialize",
                             {{"workspaceRoot", "/w"},
                              {"clientInfo", {{"name", "quill.nvim"}, {"version", "9"}}},
                              {"provider", {{"host", "http://h:1"}, {"headers", {{"A", "b"}}}}},
                              {"timeouts", {{"idleMs", 1500}}}});
  ASSERT_TRUE(reply.contains("result")) << reply;
  EXPECT_EQ(reply["result"]["serverInfo"]["name"], "quill-backend");
  EXPECT_EQ(reply["result"]["serverInfo"]["version"], QUILL_VERSION);
  const auto& methods = reply["result"]["capabilities"]["methods"];
  for (const char* m : {"initialize", "shutdown", "exit", "$/cancelRequest"}) {
    EXPECT_NE(std::find(methods.begin(), methods.end(), m), methods.end()) << m;
  }
  ASSERT_TRUE(lifecycle_->initialized());
  const auto& s = lifecycle_->settings();
  EXPECT_EQ(s.workspace_root, "/w");
  EXPECT_EQ(s.client_version, "9");
  ASSERT_NE(s.endpoints.find(""), nullptr);  // the default: "ollama", from `provider`
  const provider::ProviderSettings& ollama = *s.endpoints.find("");
  EXPECT_EQ(ollama.name, "ollama");
  EXPECT_EQ(ollama.host, "http://h:1");
  EXPECT_EQ(ollama.headers.at("A"), "b");
  EXPECT_EQ(ollama.timeouts.idle, 1500ms);
  EXPECT_EQ(ollama.timeouts.connect,
            provider::Timeouts{}.connect);  // unspecified keeps the default
}

TEST_F(LifecycleTest, BadInitializeParamsNameTheField) {
  json reply = request(1, "initialize", {{"clientInfo", {{"name", "x"}}}});
  EXPECT_EQ(reply["error"]["code"], rpc::code::kInvalidParams);
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("workspaceRoot"), std::string::npos);
  reply = request(2, "initialize", {{"workspaceRoot", "relative/dir"}});
  EXPECT_EQ(reply["error"]["code"], rpc::code::kInvalidParams);
  reply = request(3, "initialize", {{"workspaceRoot", "/w"}, {"timeouts", {{"idleMs", -1}}}});
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("timeouts.idleMs"),
            std::string::npos);
  reply =
      request(4, "initialize", {{"workspaceRoot", "/w"}, {"provider", {{"headers", {{"X", 1}}}}}});
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("provider.headers.X"),
            std::string::npos);
  EXPECT_FALSE(lifecycle_->initialized());
  // A failed initialize can be retried.
  reply = request(5, "initialize", {{"workspaceRoot", "/w"}});
  EXPECT_TRUE(reply.contains("result"));
}

TEST_F(LifecycleTest, SecondInitializeIsInvalid) {
  request(1, "initialize", {{"workspaceRoot", "/w"}});
  const json reply = request(2, "initialize", {{"workspaceRoot", "/w"}});
  EXPECT_EQ(reply["error"]["code"], rpc::code::kInvalidRequest);
}

TEST_F(LifecycleTest, ShutdownThenExitExitsZeroAndRefusesNewWork) {
  request(1, "initialize", {{"workspaceRoot", "/w"}});
  EXPECT_TRUE(request(2, "shutdown", nullptr).contains("result"));
  const json after = request(3, "initialize", {{"workspaceRoot", "/w"}});
  EXPECT_EQ(after["error"]["code"], rpc::code::kInvalidRequest);
  peer_->receive(R"({"jsonrpc":"2.0","method":"exit"})");
  EXPECT_EQ(exit_code_, 0);
}

TEST_F(LifecycleTest, ExitWithoutShutdownExitsOne) {
  peer_->receive(R"({"jsonrpc":"2.0","method":"exit"})");
  EXPECT_EQ(exit_code_, 1);
}

}  // namespace
}  // namespace quill::server
