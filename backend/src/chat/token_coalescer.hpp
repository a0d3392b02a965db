#pragma once
// chat/token (and chat/thinking) pacing and batching. The editor renders at most once per frame, so
// a chat's text leaves at most once per frame too: one merged notification instead of a pipe full
// of small ones, whatever the token rate.
// - A delta of a chat that sent nothing for a frame leaves at once: from a uv_check handle, after
//   the loop's I/O phase, so the deltas of that same loop iteration join it (an idle handle keeps
//   the loop from blocking before that when the delta came from a timer). After a quiet spell
//   the first token is never delayed.
// - Deltas that come sooner wait, merged, until a frame after the chat's last send; one timer,
//   armed for the earliest such deadline, serves every chat.
// - While the editor is not reading (the output queue is not empty), due text keeps waiting and
//   merging: the queue stays bounded and the editor catches up with one append.
// A chat's unsent text is bounded (max_pending): a delta that would outgrow it sends what waited
// first, writable or not. Deltas are never cut, so no code point is split.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "uv/handle.hpp"

namespace quill::chat {

class TokenCoalescer {
 public:
  struct Output {
    std::function<bool()> writable;  // true when nothing is waiting to be written
    std::function<void(std::string body)> send;
  };

  static constexpr std::size_t kDefaultMaxPending = 4 * 1024 * 1024;
  // About one screen refresh at 60 Hz; the Lua side renders at the same pace.
  static constexpr std::chrono::milliseconds kDefaultFrame{16};

  TokenCoalescer(uv_loop_t* loop, Output output, std::size_t max_pending = kDefaultMaxPending,
                 std::chrono::milliseconds frame = kDefaultFrame);

  void append(const std::string& chat_id, std::string_view text);
  // The chat's thinking, paced with its text (the same frame) and sent before it as
  // chat/thinking.
  void append_thinking(const std::string& chat_id, std::string_view text);
  // Sends the chat's pending text now, writable or not (its response must come after it), and
  // forgets the chat's pace: its next turn's first token leaves at once.
  void flush(const std::string& chat_id);
  // The output drained: send what is due.
  void on_writable() { pump(); }
  // Chats with text not yet sent.
  std::size_t pending_chats() const;
  // Bytes of the chat's text not yet sent.
  std::size_t pending_bytes(std::string_view chat_id) const;

  // Builds one chat/token notification without a DOM; `deltas`: how many provider deltas the
  // text joins (the editor's live token count).
  static std::string notification(std::string_view chat_id, std::string_view text,
                                  std::size_t deltas = 1);
  static std::string thinking_notification(std::string_view chat_id, std::string_view text);

 private:
  struct Chat {
    std::string text;           // not sent yet
    std::string thinking;       // not sent yet
    std::size_t deltas = 0;     // deltas in `text`
    std::uint64_t sent_at = 0;  // loop time (ms) of the last send
    bool sent_once = false;
  };

  // Sends every chat whose frame has passed (when the output is writable), forgets chats quiet
  // for a frame, and arms the timer for the next deadline.
  void pump();
  void add(const std::string& chat_id, std::string_view text, bool thinking);
  void send(const std::string& chat_id, Chat& chat);
  std::uint64_t due_at(const Chat& chat) const;
  void arm_check();
  // Arms the one timer for loop time `due`, unless it fires sooner already.
  void arm_timer(std::uint64_t due);

  uv_loop_t* loop_;
  Output output_;
  std::size_t max_pending_;
  std::uint64_t frame_ms_;
  std::map<std::string, Chat, std::less<>> chats_;
  uv::UvHandle<uv_check_t> check_;
  uv::UvHandle<uv_timer_t> timer_;
  uv::UvHandle<uv_idle_t> idle_;  // active with check_: the loop does not block before it runs
  bool check_active_ = false;
  bool timer_armed_ = false;
  std::uint64_t timer_due_ = 0;
};

}  // namespace quill::chat
