#include "chat/token_coalescer.hpp"

#include <limits>

#include "util/json_escape.hpp"
#include "uv/guard.hpp"

namespace quill::chat {
namespace {
// Text buffers larger than this are released after a send rather than kept for the next frame.
constexpr std::size_t kKeptCapacity = 64 * 1024;
}  // namespace

TokenCoalescer::TokenCoalescer(uv_loop_t* loop, Output output, std::size_t max_pending,
                               std::chrono::milliseconds frame)
    : loop_(loop),
      output_(std::move(output)),
      max_pending_(max_pending),
      frame_ms_(static_cast<std::uint64_t>(frame.count())) {
  check_ = uv::UvHandle<uv_check_t>([loop](uv_check_t* c) { return uv_check_init(loop, c); });
  if (check_.ok()) check_.get()->data = this;
  timer_ = uv::UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  if (timer_.ok()) timer_.get()->data = this;
  idle_ = uv::UvHandle<uv_idle_t>([loop](uv_idle_t* i) { return uv_idle_init(loop, i); });
}

std::string TokenCoalescer::notification(std::string_view chat_id, std::string_view text,
                                         std::size_t deltas) {
  std::string out;
  out.reserve(80 + chat_id.size() + text.size() + text.size() / 8);
  out += R"({"jsonrpc":"2.0","method":"chat/token","params":{"chatId":")";
  util::append_json_escaped(out, chat_id);
  out += R"(","text":")";
  util::append_json_escaped(out, text);
  out += R"(","deltas":)";
  out += std::to_string(deltas);
  out += "}}";
  return out;
}

std::string TokenCoalescer::thinking_notification(std::string_view chat_id, std::string_view text) {
  std::string out;
  out.reserve(64 + chat_id.size() + text.size() + text.size() / 8);
  out += R"({"jsonrpc":"2.0","method":"chat/thinking","params":{"chatId":")";
  util::append_json_escaped(out, chat_id);
  out += R"(","text":")";
  util::append_json_escaped(out, text);
  out += "\"}}";
  return out;
}

void TokenCoalescer::append(const std::string& chat_id, std::string_view text) {
  add(chat_id, text, false);
}

void TokenCoalescer::append_thinking(const std::string& chat_id, std::string_view text) {
  add(chat_id, text, true);
}

void TokenCoalescer::add(const std::string& chat_id, std::string_view text, bool thinking) {
  if (text.empty()) return;
  auto it = chats_.find(chat_id);
  if (it == chats_.end()) it = chats_.emplace(chat_id, Chat{}).first;
  Chat& chat = it->second;
  if (chat.text.size() + chat.thinking.size() + text.size() > max_pending_) {
    send(chat_id, chat);
    if (text.size() > max_pending_) {
      output_.send(thinking ? thinking_notification(chat_id, text) : notification(chat_id, text));
      chat.sent_at = uv_now(loop_);
      chat.sent_once = true;
      return;
    }
  }
  if (thinking) {
    chat.thinking.append(text);
  } else {
    chat.text.append(text);
    ++chat.deltas;
  }
  // Due now: sent after this loop iteration's I/O. Otherwise the frame's timer sends it, and
  // nothing runs per delta.
  const std::uint64_t due = due_at(chat);
  if (uv_now(loop_) >= due) {
    arm_check();
  } else {
    arm_timer(due);
  }
}

std::size_t TokenCoalescer::pending_chats() const {
  std::size_t n = 0;
  for (const auto& [id, chat] : chats_)
    n += chat.text.empty() && chat.thinking.empty() ? 0 : 1;
  return n;
}

std::size_t TokenCoalescer::pending_bytes(std::string_view chat_id) const {
  const auto it = chats_.find(chat_id);
  return it == chats_.end() ? 0 : it->second.text.size() + it->second.thinking.size();
}

void TokenCoalescer::flush(const std::string& chat_id) {
  const auto it = chats_.find(chat_id);
  if (it == chats_.end()) return;
  send(it->first, it->second);
  chats_.erase(it);
}

std::uint64_t TokenCoalescer::due_at(const Chat& chat) const {
  return chat.sent_once ? chat.sent_at + frame_ms_ : 0;
}

void TokenCoalescer::arm_check() {
  if (check_active_ || !check_.ok()) return;
  check_active_ = true;
  uv_check_start(check_.get(), [](uv_check_t* c) {
    uv::guarded("sending chat tokens", [c] { static_cast<TokenCoalescer*>(c->data)->pump(); });
  });
  // An active idle handle keeps the loop from blocking in its poll phase: text appended outside
  // it (libcurl delivering buffered bytes from its timer) leaves in this iteration, not after
  // the next socket event.
  if (idle_.ok()) uv_idle_start(idle_.get(), [](uv_idle_t*) {});
}

void TokenCoalescer::arm_timer(std::uint64_t due) {
  if (!timer_.ok() || (timer_armed_ && timer_due_ <= due)) return;
  timer_armed_ = true;
  timer_due_ = due;
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<TokenCoalescer*>(t->data);
        self->timer_armed_ = false;
        uv::guarded("sending chat tokens", [self] { self->pump(); });
      },
      due > now ? due - now : 0, 0);
}

void TokenCoalescer::pump() {
  if (check_active_) {
    check_active_ = false;
    uv_check_stop(check_.get());
    if (idle_.ok()) uv_idle_stop(idle_.get());
  }
  const std::uint64_t now = uv_now(loop_);
  std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
  int writable = -1;  // asked once, and only when something is due
  for (auto it = chats_.begin(); it != chats_.end();) {
    Chat& chat = it->second;
    const std::uint64_t due = due_at(chat);
    if (chat.text.empty() && chat.thinking.empty()) {
      // Quiet for a frame: forgotten, so the map holds only chats that are streaming.
      it = now >= due ? chats_.erase(it) : std::next(it);
      continue;
    }
    if (now < due) {
      next = std::min(next, due);
    } else {
      if (writable < 0) writable = output_.writable() ? 1 : 0;
      if (writable == 1) send(it->first, chat);
      // Otherwise on_writable() comes back.
    }
    ++it;
  }
  if (next != std::numeric_limits<std::uint64_t>::max()) arm_timer(next);
}

void TokenCoalescer::send(const std::string& chat_id, Chat& chat) {
  if (chat.text.empty() && chat.thinking.empty()) return;
  // Thinking first: it came before the answer text of the same frame.
  if (!chat.thinking.empty()) output_.send(thinking_notification(chat_id, chat.thinking));
  if (!chat.text.empty()) output_.send(notification(chat_id, chat.text, chat.deltas));
  for (std::string* buffer : {&chat.text, &chat.thinking}) {
    if (buffer->capacity() > kKeptCapacity) {
      std::string().swap(*buffer);
    } else {
      buffer->clear();
    }
  }
  chat.deltas = 0;
  chat.sent_at = uv_now(loop_);
  chat.sent_once = true;
}

}  // namespace quill::chat
