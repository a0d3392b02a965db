#pragma once
// chat/token batching. Deltas of a chat received in one loop iteration leave as one
// notification, sent from a uv_check handle (after the loop's I/O phase), so nothing ever
// waits for more data. While the editor is not reading (the output queue is not empty), a
// chat's new deltas join its unsent text instead of queueing a message each: the queue stays
// bounded and the editor catches up with one append. A chat's unsent text is bounded too
// (max_pending): a delta that would outgrow it sends what waited first, writable or not. Deltas
// are never cut, so no code point is split.

#include <uv.h>

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

  TokenCoalescer(uv_loop_t* loop, Output output, std::size_t max_pending = kDefaultMaxPending);

  void append(const std::string& chat_id, std::string_view text);
  // Sends the chat's pending text now, writable or not: its response must come after it.
  void flush(const std::string& chat_id);
  // The output drained: send what waited.
  void on_writable() { flush_all_if_writable(); }
  // Chats with text not yet sent.
  std::size_t pending_chats() const { return pending_.size(); }
  // Bytes of the chat's text not yet sent.
  std::size_t pending_bytes(std::string_view chat_id) const;

  // Builds one chat/token notification without a DOM.
  static std::string notification(std::string_view chat_id, std::string_view text);

 private:
  void flush_all_if_writable();
  void send_one(const std::string& chat_id, std::string& text);

  Output output_;
  std::size_t max_pending_;
  std::map<std::string, std::string, std::less<>> pending_;
  uv::UvHandle<uv_check_t> check_;
  bool check_active_ = false;
};

}  // namespace quill::chat
