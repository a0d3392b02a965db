#include "rpc/peer.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "recording_sink.hpp"

namespace quill::rpc {
namespace {

using test::RecordingSink;
using namespace std::chrono_literals;

class PeerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    peer_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // finish handle closes
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a libuv handle was left open";
  }
  Peer& peer() {
    if (!peer_) peer_ = std::make_unique<Peer>(&loop_, sink_);
    return *peer_;
  }
  void receive(const json& message) { peer().receive(message.dump()); }

  uv_loop_t loop_{};
  RecordingSink sink_;
  std::unique_ptr<Peer> peer_;
};

TEST_F(PeerTest, DispatchesRequestsByMethodAndAnswersWithTheirId) {
  peer().on_request("math/add", [](const json& params, Responder r) {
    r.reply(params["a"].get<int>() + params["b"].get<int>());
  });
  receive({{"jsonrpc", "2.0"},
           {"id", "abc"},
           {"method", "math/add"},
           {"params", {{"a", 2}, {"b", 3}}}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["id"], "abc");
  EXPECT_EQ(sink_.sent[0]["result"], 5);
  EXPECT_EQ(peer().pending_requests(), 0u);
}

TEST_F(PeerTest, UnknownMethodIsMethodNotFound) {
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "nope"}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kMethodNotFound);
  EXPECT_EQ(sink_.sent[0]["id"], 1);
}

// Handlers decode their params themselves; an exception that escapes one is a bug of ours, not
// the editor's: InternalError naming the method, and the peer goes on serving.
TEST_F(PeerTest, AHandlerExceptionIsAnInternalErrorAndThePeerKeepsServing) {
  peer().on_request("boom", [](const json&, Responder) { throw std::runtime_error("kaput"); });
  peer().on_request("need/int",
                    [](const json& params, Responder r) { r.reply(params.at("n").get<int>()); });
  peer().on_request("odd", [](const json&, Responder) { throw 42; });
  peer().on_request("ping", [](const json&, Responder r) { r.reply("pong"); });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "boom"}});
  receive({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "need/int"}, {"params", {{"n", "text"}}}});
  receive({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "odd"}});
  receive({{"jsonrpc", "2.0"}, {"id", 4}, {"method", "ping"}});
  ASSERT_EQ(sink_.sent.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sink_.sent[i]["id"], i + 1);
    EXPECT_EQ(sink_.sent[i]["error"]["code"], code::kInternalError) << sink_.sent[i];
  }
  EXPECT_NE(sink_.sent[0]["error"]["message"].get<std::string>().find("kaput"), std::string::npos);
  EXPECT_NE(sink_.sent[1]["error"]["message"].get<std::string>().find("need/int"),
            std::string::npos)
      << "a json::type_error names the method";
  EXPECT_EQ(sink_.sent[3]["result"], "pong");
  EXPECT_EQ(peer().pending_requests(), 0u);
}

TEST_F(PeerTest, AHandlerThatAnsweredAndThenThrewIsNotAnsweredTwice) {
  peer().on_request("half", [](const json&, Responder r) {
    r.reply(1);
    throw std::runtime_error("after the answer");
  });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "half"}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["result"], 1);
}

TEST_F(PeerTest, AThrowingGateIsAnInternalError) {
  peer().on_request("work", [](const json&, Responder r) { r.reply(nullptr); });
  peer().set_gate([](std::string_view) -> std::optional<RpcError> {
    throw nlohmann::json::type_error::create(302, "type must be string", nullptr);
  });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "work"}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kInternalError);
}

TEST_F(PeerTest, ThrowingNotificationHandlersAndCancelHooksStopInThePeer) {
  peer().on_notification("note", [](const json&) { throw 7; });  // not a std::exception
  std::optional<Responder> kept;
  peer().on_request("slow", [&](const json&, Responder r) {
    r.cancel_token().on_cancel([] { throw std::runtime_error("hook"); });
    kept = r;
  });
  peer().on_request("ping", [](const json&, Responder r) { r.reply("pong"); });
  receive({{"jsonrpc", "2.0"}, {"method", "note"}});
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "slow"}});
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 1}}}});
  receive({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "ping"}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["result"], "pong");
  kept->reply(nullptr);
}

TEST_F(PeerTest, AThrowingCallbackOfACallStopsThereAndTheOthersStillRun) {
  int finished = 0;
  const auto a = peer().call("editor/a", {}, 0ms, [](Response r) {
    (void)r.result.at("content").get<std::string>();  // {"content": 5}: type_error
  });
  peer().call("editor/b", {}, 0ms, [](Response) { throw std::runtime_error("b"); });
  peer().call("editor/c", {}, 0ms, [&](Response) { ++finished; });
  peer().call("editor/d", {}, 20ms, [](Response) { throw std::runtime_error("timer"); });
  receive({{"jsonrpc", "2.0"}, {"id", a}, {"result", {{"content", 5}}}});
  EXPECT_EQ(peer().pending_calls(), 3u);
  uv_run(&loop_, UV_RUN_DEFAULT);  // d times out; its callback throws inside the timer callback
  EXPECT_EQ(peer().pending_calls(), 2u);
  peer().fail_all_calls({code::kInternalError, "closing", nullptr});  // b throws, c still runs
  EXPECT_EQ(finished, 1);
  EXPECT_EQ(peer().pending_calls(), 0u);
}

TEST_F(PeerTest, MethodWithResultIsRefusedAndItsHandlerDoesNotRun) {
  bool ran = false;
  peer().on_request("work", [&](const json&, Responder r) {
    ran = true;
    r.reply(nullptr);
  });
  receive({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "work"}, {"result", 1}});
  EXPECT_FALSE(ran);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["id"], 3);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kInvalidRequest);
}

TEST_F(PeerTest, NeitherMethodNorResultIsAnsweredInvalidRequestWithItsId) {
  receive({{"jsonrpc", "2.0"}, {"id", 4}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["id"], 4);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kInvalidRequest);
}

TEST_F(PeerTest, AnAnswerThatCannotBeReadFailsItsCallAtOnce) {
  std::vector<Response> done;
  const auto a = peer().call("editor/readFile", {}, 0ms, [&](Response r) { done.push_back(r); });
  const auto b = peer().call("editor/readFile", {}, 0ms, [&](Response r) { done.push_back(r); });
  sink_.sent.clear();
  peer().receive(R"({"jsonrpc":"2.0","id":)" + std::to_string(a) + R"(,"result":{"content":"caf)" +
                 "\xe9" + R"("}})");
  peer().receive(R"({"jsonrpc":"2.0","id":)" + std::to_string(b) + R"(,"result":)" +
                 std::string(1000, '[') + std::string(1000, ']') + "}");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].error.code, code::kParseError);
  EXPECT_EQ(done[1].error.code, code::kInvalidRequest);
  EXPECT_TRUE(sink_.sent.empty()) << "an answer is not answered";
}

TEST_F(PeerTest, MalformedBodiesGetErrorsAndThePeerKeepsServing) {
  peer().on_request("ping", [](const json&, Responder r) { r.reply("pong"); });
  peer().receive("{not json");
  receive({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "ping"}});
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kParseError);
  EXPECT_TRUE(sink_.sent[0]["id"].is_null());
  EXPECT_EQ(sink_.sent[1]["result"], "pong");
}

TEST_F(PeerTest, UnknownNotificationsAreIgnored) {
  receive({{"jsonrpc", "2.0"}, {"method", "something/new"}, {"params", {}}});
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(PeerTest, NotificationsReachTheirHandler) {
  json got;
  peer().on_notification("note", [&](const json& params) { got = params; });
  receive({{"jsonrpc", "2.0"}, {"method", "note"}, {"params", {{"k", 1}}}});
  EXPECT_EQ(got["k"], 1);
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(PeerTest, GateRefusesBeforeDispatch) {
  bool ran = false;
  peer().on_request("work", [&](const json&, Responder r) {
    ran = true;
    r.reply(nullptr);
  });
  peer().set_gate([](std::string_view) -> std::optional<RpcError> {
    return RpcError{code::kServerNotInitialized, "not yet", nullptr};
  });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "work"}});
  EXPECT_FALSE(ran);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kServerNotInitialized);
}

TEST_F(PeerTest, ARequestIsAnsweredExactlyOnce) {
  std::optional<Responder> kept;
  peer().on_request("later", [&](const json&, Responder r) { kept = r; });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "later"}});
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(peer().pending_requests(), 1u);
  kept->reply(1);
  kept->reply(2);
  kept->fail({code::kInternalError, "late", nullptr});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["result"], 1);
  EXPECT_EQ(peer().pending_requests(), 0u);
}

TEST_F(PeerTest, ADroppedRequestIsAnsweredWithInternalError) {
  peer().on_request("forgetful", [](const json&, Responder) {});
  receive({{"jsonrpc", "2.0"}, {"id", 9}, {"method", "forgetful"}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["id"], 9);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kInternalError);
  EXPECT_EQ(peer().pending_requests(), 0u);
}

TEST_F(PeerTest, CancelRequestReachesTheRequestItNames) {
  std::optional<Responder> kept;
  peer().on_request("slow", [&](const json&, Responder r) {
    r.cancel_token().on_cancel([r] { r.fail({code::kRequestCancelled, "cancelled", nullptr}); });
    kept = r;
  });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "slow"}});
  receive({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "slow"}});
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 1}}}});
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0]["id"], 1);
  EXPECT_EQ(sink_.sent[0]["error"]["code"], code::kRequestCancelled);
  // Cancelling an unknown or finished id is harmless.
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 1}}}});
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 77}}}});
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_FALSE(kept->cancel_token().cancelled());  // request 2 still running
}

TEST_F(PeerTest, StringIdsAreCancelledByTheSameString) {
  bool cancelled = false;
  std::optional<Responder> kept;
  peer().on_request("slow", [&](const json&, Responder r) {
    r.cancel_token().on_cancel([&] { cancelled = true; });
    kept = r;
  });
  receive({{"jsonrpc", "2.0"}, {"id", "7"}, {"method", "slow"}});
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 7}}}});
  EXPECT_FALSE(cancelled);  // 7 is not "7"
  receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", "7"}}}});
  EXPECT_TRUE(cancelled);
  kept->reply(nullptr);
}

TEST_F(PeerTest, OutgoingCallsGetIncreasingIdsAndTheirResponses) {
  std::vector<Response> done;
  const auto a =
      peer().call("editor/readFile", {{"path", "a"}}, 0ms, [&](Response r) { done.push_back(r); });
  const auto b =
      peer().call("editor/readFile", {{"path", "b"}}, 0ms, [&](Response r) { done.push_back(r); });
  EXPECT_LT(a, b);
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[0]["method"], "editor/readFile");
  EXPECT_EQ(sink_.sent[0]["id"], a);
  EXPECT_EQ(peer().pending_calls(), 2u);
  // Answered out of order: each reaches its own callback.
  receive({{"jsonrpc", "2.0"}, {"id", b}, {"result", {{"content", "B"}}}});
  receive(
      {{"jsonrpc", "2.0"}, {"id", a}, {"error", {{"code", -32001}, {"message", "no such file"}}}});
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[0].ok);
  EXPECT_EQ(done[0].result["content"], "B");
  EXPECT_FALSE(done[1].ok);
  EXPECT_EQ(done[1].error.message, "no such file");
  EXPECT_EQ(peer().pending_calls(), 0u);
}

TEST_F(PeerTest, ResponsesToUnknownIdsAreIgnored) {
  int calls = 0;
  peer().call("editor/x", {}, 0ms, [&](Response) { ++calls; });
  receive({{"jsonrpc", "2.0"}, {"id", 999}, {"result", 1}});
  receive({{"jsonrpc", "2.0"}, {"id", "1"}, {"result", 1}});  // string "1" is not our 1
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(peer().pending_calls(), 1u);
  peer().fail_all_calls({code::kInternalError, "closing", nullptr});
  EXPECT_EQ(calls, 1);
}

TEST_F(PeerTest, OutgoingCallTimesOutAndTellsTheEditor) {
  std::optional<Response> got;
  const auto id = peer().call("editor/applyEdit", {}, 20ms, [&](Response r) { got = r; });
  uv_run(&loop_, UV_RUN_DEFAULT);  // runs until the timer fires and closes
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->ok);
  EXPECT_EQ(got->error.code, code::kRequestTimeout);
  EXPECT_EQ(peer().pending_calls(), 0u);
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[1]["method"], "$/cancelRequest");
  EXPECT_EQ(sink_.sent[1]["params"]["id"], id);
  // A late answer changes nothing.
  receive({{"jsonrpc", "2.0"}, {"id", id}, {"result", 1}});
  EXPECT_FALSE(got->ok);
}

TEST_F(PeerTest, AnAnsweredCallDoesNotTimeOut) {
  int calls = 0;
  const auto id = peer().call("editor/x", {}, 20ms, [&](Response r) {
    ++calls;
    EXPECT_TRUE(r.ok);
  });
  receive({{"jsonrpc", "2.0"}, {"id", id}, {"result", 1}});
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(calls, 1);
}

TEST_F(PeerTest, CancelCallAnswersCancelledAndSendsCancelRequest) {
  std::optional<Response> got;
  const auto id = peer().call("editor/applyEdit", {}, 10s, [&](Response r) { got = r; });
  EXPECT_TRUE(peer().cancel_call(id));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error.code, code::kRequestCancelled);
  EXPECT_EQ(sink_.sent.back()["method"], "$/cancelRequest");
  EXPECT_EQ(sink_.sent.back()["params"]["id"], id);
  EXPECT_FALSE(peer().cancel_call(id));
  uv_run(&loop_, UV_RUN_DEFAULT);  // the 10 s timer was closed: this returns at once
}

TEST_F(PeerTest, TheCallTableIsBoundedOldestFirst) {
  std::vector<Peer::CallId> failed;
  for (std::size_t i = 0; i < Peer::kMaxPendingCalls + 2; ++i) {
    peer().call("editor/x", {}, 0ms, [&failed, i](Response r) {
      if (!r.ok) failed.push_back(static_cast<Peer::CallId>(i + 1));
    });
  }
  EXPECT_EQ(peer().pending_calls(), Peer::kMaxPendingCalls);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0], 1);
  EXPECT_EQ(failed[1], 2);
  peer().fail_all_calls({code::kInternalError, "done", nullptr});
}

TEST_F(PeerTest, ACallbackMayStartAnotherCall) {
  int second = 0;
  peer().call("editor/a", {}, 0ms,
              [&](Response) { peer().call("editor/b", {}, 0ms, [&](Response) { ++second; }); });
  receive({{"jsonrpc", "2.0"}, {"id", 1}, {"result", 1}});
  EXPECT_EQ(peer().pending_calls(), 1u);
  receive({{"jsonrpc", "2.0"}, {"id", 2}, {"result", 1}});
  EXPECT_EQ(second, 1);
}

}  // namespace
}  // namespace quill::rpc
