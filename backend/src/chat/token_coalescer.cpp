#include "chat/token_coalescer.hpp"

#include "util/json_escape.hpp"

namespace quill::chat {

TokenCoalescer::TokenCoalescer(uv_loop_t* loop, Output output, std::size_t max_pending)
    : output_(std::move(output)), max_pending_(max_pending) {
  check_ = uv::UvHandle<uv_check_t>([loop](uv_check_t* c) { return uv_check_init(loop, c); });
  check_.get()->data = this;
}

std::string TokenCoalescer::notification(std::string_view chat_id, std::string_view text) {
  std::string out;
  out.reserve(64 + chat_id.size() + text.size() + text.size() / 8);
  out += R"({"jsonrpc":"2.0","method":"chat/token","params":{"chatId":")";
  util::append_json_escaped(out, chat_id);
  out += R"(","text":")";
  util::append_json_escaped(out, text);
  out += "\"}}";
  return out;
}

void TokenCoalescer::append(const std::string& chat_id, std::string_view text) {
  if (text.empty()) return;
  auto it = pending_.find(chat_id);
  if (it == pending_.end()) it = pending_.emplace(chat_id, std::string()).first;
  std::string& pending = it->second;
  if (pending.size() + text.size() > max_pending_) {
    send_one(chat_id, pending);
    pending.clear();
    if (text.size() > max_pending_) return output_.send(notification(chat_id, text));
  }
  pending.append(text);
  if (!check_active_) {
    check_active_ = true;
    uv_check_start(check_.get(), [](uv_check_t* c) {
      static_cast<TokenCoalescer*>(c->data)->flush_all_if_writable();
    });
  }
}

std::size_t TokenCoalescer::pending_bytes(std::string_view chat_id) const {
  const auto it = pending_.find(chat_id);
  return it == pending_.end() ? 0 : it->second.size();
}

void TokenCoalescer::flush(const std::string& chat_id) {
  const auto it = pending_.find(chat_id);
  if (it == pending_.end()) return;
  send_one(it->first, it->second);
  pending_.erase(it);
}

void TokenCoalescer::flush_all_if_writable() {
  if (!pending_.empty() && !output_.writable()) return;  // on_writable() comes back
  for (auto& [chat_id, text] : pending_)
    send_one(chat_id, text);
  pending_.clear();
  if (check_active_) {
    check_active_ = false;
    uv_check_stop(check_.get());
  }
}

void TokenCoalescer::send_one(const std::string& chat_id, std::string& text) {
  if (!text.empty()) output_.send(notification(chat_id, text));
}

}  // namespace quill::chat
