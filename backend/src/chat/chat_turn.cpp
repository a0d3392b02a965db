#include "chat/chat_turn.hpp"

#include "util/log.hpp"

namespace quill::chat {
namespace {

using rpc::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::int64_t ns_to_ms(std::uint64_t ns) {
  return static_cast<std::int64_t>(ns / 1000000);
}

}  // namespace

std::optional<TurnParams> parse_turn_params(const json& params, std::string* error) {
  if (!params.is_object()) {
    *error = "params must be an object";
    return std::nullopt;
  }
  TurnParams out;
  const auto chat_id = params.find("chatId");
  if (chat_id == params.end() || !chat_id->is_string() || chat_id->get<std::string>().empty()) {
    *error = "chatId must be a non-empty string";
    return std::nullopt;
  }
  out.chat_id = chat_id->get<std::string>();
  const auto model = params.find("model");
  if (model == params.end() || !model->is_string() || model->get<std::string>().empty()) {
    *error = "model must be a non-empty string";
    return std::nullopt;
  }
  out.request.model = model->get<std::string>();
  const auto messages = params.find("messages");
  if (messages == params.end() || !ollama::validate_messages(*messages, error)) {
    if (messages == params.end()) *error = "messages must be a non-empty array";
    return std::nullopt;
  }
  out.request.messages = *messages;
  if (const auto it = params.find("system"); it != params.end() && !it->is_null()) {
    if (!it->is_string()) {
      *error = "system must be a string";
      return std::nullopt;
    }
    out.request.system = it->get<std::string>();
  }
  if (const auto it = params.find("options"); it != params.end() && !it->is_null()) {
    if (!it->is_object()) {
      *error = "options must be an object";
      return std::nullopt;
    }
    out.request.options = *it;
  }
  if (const auto it = params.find("think"); it != params.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      *error = "think must be a boolean";
      return std::nullopt;
    }
    out.request.think = it->get<bool>();
  }
  return out;
}

ChatTurn::ChatTurn(http::CurlMulti& multi, TokenCoalescer& tokens, std::string base_url,
                   const ollama::ProviderSettings& settings, TurnParams params,
                   rpc::Responder responder, Finished finished)
    : multi_(multi),
      tokens_(tokens),
      base_url_(std::move(base_url)),
      settings_(settings),
      params_(std::move(params)),
      responder_(std::move(responder)),
      finished_(std::move(finished)) {}

void ChatTurn::start() {
  http::HttpRequest request;
  request.method = "POST";
  request.url = base_url_ + "/api/chat";
  request.body = ollama::build_chat_body(params_.request);
  request.headers = settings_.headers;
  request.connect_timeout = settings_.timeouts.connect;
  request.first_byte_timeout = settings_.timeouts.first_byte;
  request.idle_timeout = settings_.timeouts.idle;
  QLOG(Info) << "chat " << params_.chat_id << ": " << params_.request.model << ", "
             << params_.request.messages.size() << " messages -> " << request.url;
  transfer_ = std::make_unique<http::HttpTransfer>(
      multi_, std::move(request),
      [this](long status, std::string_view bytes) { return on_data(status, bytes); },
      [this](const http::HttpResult& result) { on_transfer_done(result); });
  if (!transfer_->start()) fail(ollama::unreachable(base_url_, "could not start the transfer"));
}

void ChatTurn::cancel() {
  if (answered_) return;
  QLOG(Info) << "chat " << params_.chat_id << ": cancelled after " << content_.size() << " bytes";
  answered_ = true;
  tokens_.flush(params_.chat_id);
  responder_.reply({{"chatId", params_.chat_id},
                    {"messages", partial_messages()},
                    {"doneReason", "cancelled"},
                    {"stats", stats()}});
  if (transfer_) transfer_->abort();  // closes the connection: Ollama stops generating
  finish();
}

bool ChatTurn::on_data(long status, std::string_view bytes) {
  if (status != 200) {
    // An error status: the body is Ollama's {"error": …}, collected for the message.
    if (error_body_.size() < 64 * 1024) error_body_.append(bytes);
    return true;
  }
  const bool fits = splitter_.feed(bytes, [this](std::string_view line) {
    if (!stream_failure_) on_line(line);
  });
  if (!fits) stream_failure_ = ollama::bad_stream("a line longer than 64 MiB");
  return !stream_failure_;  // stop reading at the first failure
}

void ChatTurn::on_line(std::string_view line) {
  if (line.empty()) return;
  if (auto problem = decoder_.decode(line, chunk_)) {
    std::string shown(line.substr(0, 80));
    stream_failure_ = ollama::bad_stream(*problem + ": " + shown);
    return;
  }
  if (chunk_.error) {
    stream_failure_ = ollama::interrupted(*chunk_.error);
    return;
  }
  if (!chunk_.content.empty()) {
    if (!first_token_) {
      first_token_ = duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
    }
    content_ += chunk_.content;
    tokens_.append(params_.chat_id, chunk_.content);
  }
  thinking_ += chunk_.thinking;  // collected, never shown as answer text
  for (auto& call : chunk_.tool_calls)
    tool_calls_.push_back(std::move(call));
  if (chunk_.done) {
    done_seen_ = true;
    done_reason_ = chunk_.done_reason.empty() ? "stop" : chunk_.done_reason;
    stats_ = chunk_.stats;
  }
}

void ChatTurn::on_transfer_done(const http::HttpResult& result) {
  if (answered_) return;
  using Outcome = http::HttpResult::Outcome;
  if (result.status >= 400)
    return fail(ollama::http_status(result.status, error_body_, params_.request.model));
  if (stream_failure_) return fail(*stream_failure_);
  if (result.outcome != Outcome::Complete && result.outcome != Outcome::Stopped) {
    return fail(ollama::transfer_failure(result, base_url_));
  }
  if (!done_seen_) {
    return fail(ollama::interrupted(
        splitter_.rest().empty()
            ? "stream interrupted: the answer ended before Ollama said it was done"
            : "stream interrupted in the middle of a line"));
  }
  succeed();
}

void ChatTurn::succeed() {
  answered_ = true;
  QLOG(Info) << "chat " << params_.chat_id << ": done (" << done_reason_ << "), "
             << stats_.eval_count << " tokens";
  tokens_.flush(params_.chat_id);  // every token before the answer
  responder_.reply(
      {{"chatId", params_.chat_id},
       {"messages", json::array({ollama::assistant_message(content_, thinking_, tool_calls_)})},
       {"doneReason", done_reason_},
       {"stats", stats()}});
  finish();
}

void ChatTurn::fail(const ollama::ProviderFailure& failure) {
  if (answered_) return;
  answered_ = true;
  QLOG(Warn) << "chat " << params_.chat_id << ": " << failure.kind << ": " << failure.message
             << (failure.detail.empty() ? "" : " (" + failure.detail + ")");
  tokens_.flush(params_.chat_id);
  json data = {{"kind", failure.kind}, {"partial", content_}, {"messages", partial_messages()}};
  if (!failure.detail.empty()) data["message"] = failure.detail;
  responder_.fail({rpc::code::kProviderError, failure.message, std::move(data)});
  finish();
}

json ChatTurn::partial_messages() const {
  json messages = json::array();
  if (!content_.empty() || !thinking_.empty() || !tool_calls_.empty()) {
    messages.push_back(ollama::assistant_message(content_, thinking_, tool_calls_));
  }
  return messages;
}

json ChatTurn::stats() const {
  const double tokens_per_second = stats_.eval_duration == 0
                                       ? 0.0
                                       : static_cast<double>(stats_.eval_count) * 1e9 /
                                             static_cast<double>(stats_.eval_duration);
  json out = {
      {"evalCount", stats_.eval_count},
      {"promptEvalCount", stats_.prompt_eval_count},
      {"totalDurationMs",
       duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_).count()},
      {"loadDurationMs", ns_to_ms(stats_.load_duration)},
      {"promptEvalDurationMs", ns_to_ms(stats_.prompt_eval_duration)},
      {"evalDurationMs", ns_to_ms(stats_.eval_duration)},
      {"tokensPerSecond", tokens_per_second},
  };
  if (first_token_) out["firstTokenMs"] = first_token_->count();
  return out;
}

void ChatTurn::finish() {
  if (auto finished = std::exchange(finished_, nullptr)) finished(*this);
}

}  // namespace quill::chat
