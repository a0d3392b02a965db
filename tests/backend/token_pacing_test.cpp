// TokenCoalescer's pacing on a real libuv loop: the first delta after a quiet spell leaves in the
// same loop iteration, later ones merge until a frame after the chat's last send, a busy editor
// gets one merged message, flush() is immediate, chats are paced independently.

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/token_coalescer.hpp"
#include "uv/handle.hpp"

namespace quill {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct Sent {
  std::string chat_id;
  std::string text;
  std::size_t deltas;
  std::uint64_t at;    // loop time, ms
  std::string method;  // chat/token or chat/thinking
};

class TokenPacingTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    coalescer_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  void make(std::chrono::milliseconds frame) {
    coalescer_ = std::make_unique<chat::TokenCoalescer>(
        &loop_,
        chat::TokenCoalescer::Output{
            .writable = [this] { return writable_; },
            .send =
                [this](std::string body) {
                  const json m = json::parse(body);
                  sent_.push_back({m["params"]["chatId"], m["params"]["text"],
                                   m["params"].value("deltas", std::size_t{0}), uv_now(&loop_),
                                   m["method"]});
                },
        },
        chat::TokenCoalescer::kDefaultMaxPending, frame);
  }
  // One loop iteration that does not block.
  void iterate() { uv_run(&loop_, UV_RUN_NOWAIT); }
  // Runs the loop until `n` messages were sent or `limit` passed.
  void run_until_sent(std::size_t n, std::chrono::milliseconds limit = 2s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (sent_.size() < n && std::chrono::steady_clock::now() < deadline)
      uv_run(&loop_, UV_RUN_ONCE);
  }
  std::string all_text(const std::string& chat_id) const {
    std::string all;
    for (const Sent& s : sent_)
      if (s.chat_id == chat_id) all += s.text;
    return all;
  }

  uv_loop_t loop_{};
  bool writable_ = true;
  std::vector<Sent> sent_;
  std::unique_ptr<chat::TokenCoalescer> coalescer_;
};

TEST_F(TokenPacingTest, TheFirstDeltasLeaveInTheSameLoopIterationAsOneMessage) {
  make(50ms);
  coalescer_->append("c", "a");
  coalescer_->append("c", "b");
  coalescer_->append("c", "c");
  EXPECT_TRUE(sent_.empty()) << "nothing is sent from inside append()";
  iterate();
  ASSERT_EQ(sent_.size(), 1u) << "an idle chat's text must not wait for a timer";
  EXPECT_EQ(sent_[0].text, "abc");
  EXPECT_EQ(sent_[0].deltas, 3u);
}

TEST_F(TokenPacingTest, DeltasWithinAFrameWaitMergedUntilAFrameAfterTheLastSend) {
  make(50ms);
  coalescer_->append("c", "1");
  iterate();
  ASSERT_EQ(sent_.size(), 1u);
  coalescer_->append("c", "2");
  iterate();
  coalescer_->append("c", "3");
  iterate();
  EXPECT_EQ(sent_.size(), 1u) << "a chat that just sent waits for the frame";
  EXPECT_EQ(coalescer_->pending_bytes("c"), 2u);
  run_until_sent(2);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].text, "23");
  EXPECT_EQ(sent_[1].deltas, 2u);
  EXPECT_GE(sent_[1].at - sent_[0].at, 50u);
  EXPECT_LT(sent_[1].at - sent_[0].at, 1000u);
}

TEST_F(TokenPacingTest, AFastStreamLeavesAtMostOncePerFrameWithEveryByteInOrder) {
  make(20ms);
  // 150 deltas, one every 2 ms: 300 ms of streaming.
  auto source =
      uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  struct State {
    chat::TokenCoalescer* coalescer;
    int i = 0;
    std::string expected;
  } state{coalescer_.get(), 0, {}};
  source.get()->data = &state;
  uv_timer_start(
      source.get(),
      [](uv_timer_t* t) {
        auto* st = static_cast<State*>(t->data);
        const std::string token = std::to_string(st->i) + " ";
        st->expected += token;
        st->coalescer->append("c", token);
        if (++st->i == 150) uv_timer_stop(t);
      },
      2, 2);
  while (state.i < 150)
    uv_run(&loop_, UV_RUN_ONCE);
  source.close();
  coalescer_->flush("c");
  EXPECT_EQ(all_text("c"), state.expected);
  std::size_t deltas = 0;
  for (const Sent& s : sent_)
    deltas += s.deltas;
  EXPECT_EQ(deltas, 150u);
  // At most one message per 20 ms frame (the last one by flush): 300 ms -> about 15 + slack.
  EXPECT_LE(sent_.size(), 20u) << "deltas were not paced";
  EXPECT_GE(sent_.size(), 5u) << "text waited longer than a frame";
  for (std::size_t i = 1; i + 1 < sent_.size(); ++i)
    EXPECT_GE(sent_[i].at - sent_[i - 1].at, 20u) << "two messages within one frame at " << i;
}

TEST_F(TokenPacingTest, ABusyEditorGetsOneMergedMessageWhenItDrains) {
  make(10ms);
  writable_ = false;
  for (int i = 0; i < 100; ++i) {
    coalescer_->append("c", "x");
    iterate();
  }
  run_until_sent(1, 100ms);  // the frame passes, but the editor still does not read
  EXPECT_TRUE(sent_.empty());
  writable_ = true;
  coalescer_->on_writable();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].text, std::string(100, 'x'));
  EXPECT_EQ(sent_[0].deltas, 100u);
}

TEST_F(TokenPacingTest, FlushSendsAtOnceAndTheNextTurnStartsUnpaced) {
  make(1000ms);
  coalescer_->append("c", "a");
  iterate();
  coalescer_->append("c", "b");
  iterate();
  ASSERT_EQ(sent_.size(), 1u);
  coalescer_->flush("c");  // the turn ends: its response must follow its text
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].text, "b");
  coalescer_->append("c", "next turn");
  iterate();
  ASSERT_EQ(sent_.size(), 3u) << "a flushed chat's next first token waited for the old frame";
  EXPECT_EQ(sent_[2].text, "next turn");
}

TEST_F(TokenPacingTest, ChatsArePacedIndependently) {
  make(1000ms);
  coalescer_->append("a", "1");
  iterate();
  coalescer_->append("a", "2");  // waits: "a" just sent
  coalescer_->append("b", "x");  // goes: "b" never sent
  iterate();
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].chat_id, "b");
  EXPECT_EQ(coalescer_->pending_chats(), 1u);
}

TEST_F(TokenPacingTest, AChatQuietForAFrameSendsItsNextDeltaAtOnce) {
  make(30ms);
  coalescer_->append("c", "a");
  iterate();
  // Let a frame pass with nothing to send (a slow model between tokens).
  auto pause = uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  uv_timer_start(
      pause.get(), [](uv_timer_t*) {}, 40, 0);
  uv_run(&loop_, UV_RUN_ONCE);
  pause.close();
  coalescer_->append("c", "b");
  iterate();
  ASSERT_EQ(sent_.size(), 2u) << "a slow model's token waited";
  EXPECT_EQ(sent_[1].text, "b");
}

TEST_F(TokenPacingTest, ADeltaAppendedOutsideTheIoPhaseDoesNotWaitForTheNextEvent) {
  // libcurl hands over data it had buffered from its timer (a reused connection's first bytes):
  // the loop must not block in its poll phase before the check phase sends them.
  make(50ms);
  auto from_timer =
      uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  from_timer.get()->data = coalescer_.get();
  uv_timer_start(
      from_timer.get(),
      [](uv_timer_t* t) { static_cast<chat::TokenCoalescer*>(t->data)->append("c", "t1"); }, 0, 0);
  // Something else keeps the loop alive, far in the future (the next token, seconds away).
  auto later = uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); });
  uv_timer_start(
      later.get(), [](uv_timer_t*) {}, 2000, 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (sent_.empty() && std::chrono::steady_clock::now() - t0 < 3s)
    uv_run(&loop_, UV_RUN_ONCE);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_LT(waited, 1s) << "the token waited for the loop's next event";
  later.close();
  from_timer.close();
}

TEST_F(TokenPacingTest, AZeroFrameSendsEveryIterationsDeltas) {
  make(0ms);
  for (int i = 0; i < 5; ++i) {
    coalescer_->append("c", std::to_string(i));
    iterate();
  }
  EXPECT_EQ(sent_.size(), 5u);
  EXPECT_EQ(all_text("c"), "01234");
}

TEST_F(TokenPacingTest, ThinkingSharesTheFrameAndLeavesBeforeTheTextOfThatFrame) {
  make(40ms);
  coalescer_->append_thinking("c", "hmm ");
  iterate();  // the first after a quiet spell: at once
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].method, "chat/thinking");
  EXPECT_EQ(sent_[0].text, "hmm ");
  coalescer_->append_thinking("c", "so ");
  coalescer_->append("c", "Hi");
  coalescer_->append_thinking("c", "then");
  iterate();
  EXPECT_EQ(sent_.size(), 1u);  // within the frame: they wait together
  run_until_sent(3);
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[1].method, "chat/thinking");
  EXPECT_EQ(sent_[1].text, "so then");
  EXPECT_EQ(sent_[2].method, "chat/token");
  EXPECT_EQ(sent_[2].text, "Hi");
  EXPECT_EQ(sent_[2].deltas, 1u);  // thinking is not counted as tokens
  EXPECT_GE(sent_[1].at - sent_[0].at, 39u);
  EXPECT_EQ(coalescer_->pending_bytes("c"), 0u);
}

}  // namespace
}  // namespace quill
