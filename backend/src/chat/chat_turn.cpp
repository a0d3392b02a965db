#include "chat/chat_turn.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "provider/host.hpp"
#include "tools/catalogue.hpp"
#include "util/log.hpp"
#include "util/size_text.hpp"
#include "util/utf8.hpp"

namespace quill::chat {
namespace {

using rpc::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr int kMaxRoundsLimit = 64;
constexpr const char* kCancelledResult = "cancelled by the user";

using util::size_text;

std::int64_t ns_to_ms(std::uint64_t ns) {
  return static_cast<std::int64_t>(ns / 1000000);
}

void add(provider::ChatStats& total, const provider::ChatStats& round) {
  total.total_duration += round.total_duration;
  total.load_duration += round.load_duration;
  total.prompt_eval_count += round.prompt_eval_count;
  total.prompt_eval_duration += round.prompt_eval_duration;
  total.eval_count += round.eval_count;
  total.eval_duration += round.eval_duration;
}

std::string too_many_calls() {
  return "too many tool calls in one round (limit " + std::to_string(kMaxToolCallsPerRound) +
         "); this call was not run";
}

json tool_message(const std::string& name, const std::optional<std::string>& id,
                  const std::string& content) {
  json m = {{"role", "tool"}, {"content", content}, {"toolName", name}};
  if (id) m["toolCallId"] = *id;
  return m;
}

// An optional key: absent or null leaves `out` null; present, it must pass `check`.
template <typename Check>
bool optional_field(const json& params, const char* key, const json** out, std::string* error,
                    const char* what, Check check) {
  const auto it = params.find(key);
  if (it == params.end() || it->is_null()) return true;
  if (!check(*it)) {
    *error = std::string(key) + " must be " + what;
    return false;
  }
  *out = &*it;
  return true;
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
  if (messages == params.end()) {
    *error = "messages must be a non-empty array";
    return std::nullopt;
  }
  if (!provider::validate_messages(*messages, error)) return std::nullopt;
  out.request.messages = *messages;
  const json* system = nullptr;
  const json* options = nullptr;
  const json* think = nullptr;
  const json* tools = nullptr;
  const json* rounds = nullptr;
  const json* max_answer = nullptr;
  const json* endpoint = nullptr;
  const json* stream_thinking = nullptr;
  const bool ok =
      optional_field(params, "streamThinking", &stream_thinking, error, "a boolean",
                     [](const json& j) { return j.is_boolean(); }) &&
      optional_field(params, "endpoint", &endpoint, error, "a string",
                     [](const json& j) { return j.is_string(); }) &&
      optional_field(params, "system", &system, error, "a string",
                     [](const json& j) { return j.is_string(); }) &&
      optional_field(params, "options", &options, error, "an object",
                     [](const json& j) { return j.is_object(); }) &&
      optional_field(params, "think", &think, error, "a boolean",
                     [](const json& j) { return j.is_boolean(); }) &&
      optional_field(params, "tools", &tools, error,
                     "a boolean or a non-empty list of tool names (read_file, list_files, "
                     "edit_file, create_file)",
                     [](const json& j) {
                       if (j.is_boolean()) return true;
                       if (!j.is_array() || j.empty() || j.size() > 16) return false;
                       const auto known = tools::name_list();
                       return std::all_of(j.begin(), j.end(), [&](const json& n) {
                         return n.is_string() && std::find(known.begin(), known.end(),
                                                           n.get<std::string>()) != known.end();
                       });
                     }) &&
      optional_field(params, "maxRounds", &rounds, error, "an integer from 1 to 64",
                     [](const json& j) {
                       return j.is_number_integer() && j.get<int>() >= 1 &&
                              j.get<int>() <= kMaxRoundsLimit;
                     }) &&
      optional_field(params, "maxAnswerBytes", &max_answer, error,
                     "an integer from 1 to 1073741824", [](const json& j) {
                       return j.is_number_integer() && j.get<std::int64_t>() >= 1 &&
                              j.get<std::int64_t>() <= std::int64_t{kMaxAnswerBytesLimit};
                     });
  if (!ok) return std::nullopt;
  if (endpoint) out.endpoint = endpoint->get<std::string>();
  if (stream_thinking) out.stream_thinking = stream_thinking->get<bool>();
  if (system) out.request.system = system->get<std::string>();
  if (options) out.request.options = *options;
  if (think) out.request.think = think->get<bool>();
  if (tools && tools->is_boolean()) out.tools = tools->get<bool>();
  if (tools && tools->is_array()) {
    out.tools = true;
    for (const json& name : *tools)
      out.offered.push_back(name.get<std::string>());
  }
  if (rounds) out.max_rounds = rounds->get<int>();
  if (max_answer) out.max_answer_bytes = static_cast<std::size_t>(max_answer->get<std::int64_t>());
  if (out.tools)
    out.request.tools = out.offered.empty() ? tools::schemas() : tools::schemas_of(out.offered);
  return out;
}

ChatTurn::ChatTurn(http::CurlMulti& multi, rpc::Peer& peer, TokenCoalescer& tokens,
                   provider::ProviderSettings settings, TurnParams params, rpc::Responder responder,
                   Finished finished)
    : multi_(multi),
      peer_(peer),
      tokens_(tokens),
      settings_(std::move(settings)),
      provider_(provider::provider_for(settings_.kind)),
      base_url_(provider::resolve_host(settings_.host)),
      params_(std::move(params)),
      responder_(std::move(responder)),
      finished_(std::move(finished)) {}

ChatTurn::~ChatTurn() {
  if (editor_call_) peer_.cancel_call(*editor_call_);  // its callback sees answered_ and stops
}

void ChatTurn::start_round() {
  decoder_ = provider_.stream_decoder();
  error_body_.clear();
  stream_failure_.reset();
  content_.clear();
  thinking_.clear();
  round_calls_.clear();
  done_seen_ = false;
  done_reason_.clear();
  round_stats_ = {};
  round_first_delta_.reset();

  provider::ChatRequest request = params_.request;
  for (const auto& m : messages_)
    request.messages.push_back(m);  // earlier rounds of this turn

  provider::ProviderFailure failure;
  auto built = provider::request_for(settings_, "POST", provider_.chat_path(), &failure);
  if (!built) return fail(failure);
  http::HttpRequest http = std::move(*built);
  http.body = provider_.chat_body(request);
  QLOG(Info) << "chat " << params_.chat_id << ": " << request.model << ", "
             << request.messages.size() << " messages" << (params_.tools ? ", tools" : "") << " -> "
             << settings_.name << " " << http.url;
  transfer_ = std::make_unique<http::HttpTransfer>(
      multi_, std::move(http),
      [this](long status, std::string_view bytes) {
        bool go_on = false;
        guarded("reading the answer", [&] { go_on = on_data(status, bytes); });
        return go_on;
      },
      [this](const http::HttpResult& result) {
        guarded("ending the round", [&] { on_transfer_done(result); });
      });
  if (!transfer_->start())
    fail(provider::unreachable(settings_.kind, base_url_, "could not start the transfer"));
}

void ChatTurn::cancel() {
  if (answered_) return;
  QLOG(Info) << "chat " << params_.chat_id << ": cancelled after " << partial_.size() << " bytes";
  answered_ = true;
  tokens_.flush(params_.chat_id);
  if (editor_call_) {
    peer_.cancel_call(*std::exchange(editor_call_, std::nullopt));  // tells the editor to stop
  }
  // Calls of this round that have no result are reported as cancelled.
  if (in_tools_) {
    for (std::size_t i = next_call_; i < calls_.size(); ++i) {
      json note = {{"chatId", params_.chat_id},
                   {"call", calls_[i].as_call()},
                   {"status", "failed"},
                   {"message", kCancelledResult}};
      peer_.notify("chat/toolCall", note);
    }
  }
  responder_.reply({{"chatId", params_.chat_id},
                    {"messages", messages_so_far()},
                    {"doneReason", "cancelled"},
                    {"stats", stats()}});
  if (transfer_) transfer_->abort();  // closes the connection: the server stops generating
  finish();
}

bool ChatTurn::on_data(long status, std::string_view bytes) {
  if (status == 200 && !responding_) {
    // The first byte: the model is loaded and the server answers (the editor stops saying
    // "loading"). Before any token of this data, which waits for the coalescer's check.
    responding_ = true;
    peer_.notify("chat/progress", {{"chatId", params_.chat_id}, {"stage", "responding"}});
  }
  if (status != 200) {
    // An error status: the body is the server's {"error": …}, collected for the message.
    if (error_body_.size() < 64 * 1024) error_body_.append(bytes);
    return true;
  }
  if (auto problem = decoder_->feed(bytes, [this](provider::Chunk& c) { on_chunk(c); })) {
    if (!stream_failure_ && !limit_note_)
      stream_failure_ = provider::bad_stream(settings_.kind, *problem);
  }
  return !stream_failure_ && !limit_note_;  // stop reading at the first failure or the limit
}

void ChatTurn::on_chunk(provider::Chunk& chunk) {
  if (stream_failure_ || limit_note_ || done_seen_) return;
  if (chunk.error) {
    stream_failure_ = provider::interrupted(*chunk.error);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const std::string_view content = within_limit(partial_.size(), chunk.content, "answer");
  if (!content.empty()) {
    if (!first_token_) first_token_ = duration_cast<milliseconds>(now - started_);
    if (!round_first_delta_) round_first_delta_ = now;
    content_ += content;
    partial_ += content;
    tokens_.append(params_.chat_id, content);
  }
  // Collected, never shown as answer text.
  const std::string_view thinking = within_limit(thinking_bytes_, chunk.thinking, "thinking");
  if (!thinking.empty() && !round_first_delta_) round_first_delta_ = now;
  if (!thinking.empty() && params_.stream_thinking)
    tokens_.append_thinking(params_.chat_id, thinking);
  thinking_ += thinking;
  thinking_bytes_ += thinking.size();
  if (limit_note_) return;  // the rest of a cut chunk is not the answer's
  // Bounded like the text: a server may send calls, or fragments of one, forever.
  call_bytes_ += chunk.call_bytes;
  if (call_bytes_ > params_.max_answer_bytes) {
    limit_note_ = "tool calls exceeded " + size_text(params_.max_answer_bytes);
    return;
  }
  // Calls are appended in arrival order, never merged (the decoder assembled any fragments).
  for (auto& call : chunk.tool_calls)
    round_calls_.push_back(std::move(call));
  if (chunk.done) {
    done_seen_ = true;
    done_reason_ = chunk.done_reason.empty() ? "stop" : chunk.done_reason;
    round_stats_ = chunk.stats;
    // No durations from the server (OpenAI's usage has only counts): the answer's time on our
    // own clock, from its first delta, gives the speed.
    if (round_stats_.eval_duration == 0 && round_first_delta_) {
      round_stats_.eval_duration = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - *round_first_delta_).count());
    }
  }
}

namespace {
bool mentions_tools(std::string_view text) {
  std::string lower(text);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("tool") != std::string::npos || lower.find("function") != std::string::npos;
}
}  // namespace

bool ChatTurn::retried_without_tools(const http::HttpResult& result) {
  if (settings_.kind != provider::Kind::OpenAI || !params_.tools || tools_retried_ ||
      !messages_.empty() || (result.status != 400 && result.status != 422 && result.status != 500))
    return false;
  // Only a refusal that names tools: any other 400 (a prompt over the context, a bad option)
  // would fail the same way again, costing the user a second wait for the same error.
  if (!mentions_tools(provider::error_text(error_body_))) return false;
  tools_retried_ = true;
  params_.tools = false;
  params_.request.tools = nullptr;
  note_ = "the server refused the request with tools (" + provider::error_text(error_body_) +
          "); asked again without them";
  QLOG(Info) << "chat " << params_.chat_id << ": " << *note_;
  start_round();
  return true;
}

void ChatTurn::on_transfer_done(const http::HttpResult& result) {
  if (answered_) return;
  using Outcome = http::HttpResult::Outcome;
  if (result.status >= 400) {
    if (retried_without_tools(result)) return;
    return fail(provider::http_status(settings_.kind, result.status, error_body_,
                                      params_.request.model, base_url_ + provider_.chat_path()));
  }
  if (result.outcome == Outcome::Complete && !stream_failure_ && !limit_note_) {
    if (auto problem = decoder_->finish([this](provider::Chunk& c) { on_chunk(c); }))
      stream_failure_ = provider::bad_stream(settings_.kind, *problem);
  }
  if (stream_failure_) return fail(*stream_failure_);
  if (limit_note_) return stop_at_limit();
  if (result.outcome != Outcome::Complete && result.outcome != Outcome::Stopped) {
    return fail(provider::transfer_failure(settings_.kind, result, base_url_));
  }
  if (!done_seen_) {
    const std::string who = settings_.kind == provider::Kind::Ollama ? "Ollama" : "the server";
    return fail(provider::interrupted(
        decoder_->cut_mid_message()
            ? "stream interrupted in the middle of a " +
                  std::string(settings_.kind == provider::Kind::Ollama ? "line" : "event")
            : "stream interrupted: the answer ended before " + who + " said it was done"));
  }
  round_finished();
}

void ChatTurn::round_finished() {
  add(totals_, round_stats_);
  messages_.push_back(provider::assistant_message(content_, thinking_, round_calls_));
  if (round_calls_.empty() || !params_.tools) return succeed(done_reason_);

  ++rounds_with_tools_;
  calls_ = round_calls_;
  next_call_ = 0;
  in_tools_ = true;
  tokens_.flush(params_.chat_id);  // the text before the calls shows before their blocks
  run_next_tool();
}

void ChatTurn::run_next_tool() {
  // A loop, not recursion: a round may hold thousands of calls refused without the editor.
  while (!answered_) {
    if (next_call_ == calls_.size()) {
      in_tools_ = false;
      if (rounds_with_tools_ >= params_.max_rounds) {
        return succeed("tool_limit",
                       "stopped after " + std::to_string(rounds_with_tools_) +
                           " rounds of tool calls (the limit); ask again to let the model go on");
      }
      return start_round();
    }
    const provider::ToolCall& call = calls_[next_call_];
    peer_.notify("chat/toolCall",
                 {{"chatId", params_.chat_id}, {"call", call.as_call()}, {"status", "requested"}});
    if (next_call_ >= kMaxToolCallsPerRound) {
      finish_tool("failed", too_many_calls());
      continue;
    }
    if (call.problem) {  // arguments that are not JSON: the model is told, nothing runs
      finish_tool("failed", *call.problem);
      continue;
    }
    if (!params_.offered.empty() && std::find(params_.offered.begin(), params_.offered.end(),
                                              call.name) == params_.offered.end()) {
      finish_tool("failed", "the tool '" + call.name + "' is not offered in this chat");
      continue;
    }
    tools::Mapped mapped = tools::map_call(params_.chat_id, call.name, call.arguments);
    if (!mapped.request) {
      QLOG(Info) << "chat " << params_.chat_id << ": tool call refused: " << mapped.problem;
      finish_tool("failed", mapped.problem);
      continue;
    }
    const std::string name = call.name;
    editor_call_ = peer_.call(mapped.request->method, std::move(mapped.request->params),
                              mapped.request->timeout, [this, name](rpc::Response response) {
                                if (answered_) return;  // cancelled: the turn answered already
                                guarded("handling the editor's answer", [&] {
                                  editor_call_.reset();
                                  const tools::Outcome outcome = tools::outcome_of(name, response);
                                  finish_tool(outcome.status, outcome.content);
                                  run_next_tool();
                                });
                              });
    return;
  }
}

void ChatTurn::finish_tool(const std::string& status, const std::string& content) {
  const provider::ToolCall& call = calls_[next_call_];
  json note = {{"chatId", params_.chat_id}, {"call", call.as_call()}, {"status", status}};
  if (status != "done") note["message"] = content;
  peer_.notify("chat/toolCall", note);
  messages_.push_back(tool_message(call.name, call.id, content));
  ++next_call_;
}

std::string_view ChatTurn::within_limit(std::size_t used, std::string_view text, const char* what) {
  const std::size_t limit = params_.max_answer_bytes;
  const std::size_t room = limit - std::min(used, limit);
  if (text.size() <= room) return text;
  if (!limit_note_) limit_note_ = std::string(what) + " exceeded " + size_text(limit);
  return text.substr(0, util::utf8_prefix(text, room));
}

void ChatTurn::stop_at_limit() {
  // The connection is closed (the transfer stopped mid-answer), so the server stops generating. The
  // round's calls are dropped unrun: nothing announced them yet, and they may be the runaway.
  add(totals_, round_stats_);
  if (!content_.empty() || !thinking_.empty())
    messages_.push_back(provider::assistant_message(content_, thinking_, {}));
  succeed("limit", *limit_note_);
}

void ChatTurn::succeed(const std::string& done_reason, const std::string& note) {
  answered_ = true;
  QLOG(Info) << "chat " << params_.chat_id << ": done (" << done_reason << "), "
             << totals_.eval_count << " tokens";
  tokens_.flush(params_.chat_id);  // every token before the answer
  json result = {{"chatId", params_.chat_id},
                 {"messages", messages_},
                 {"doneReason", done_reason},
                 {"stats", stats()}};
  std::string said = note;
  if (note_) said = said.empty() ? *note_ : *note_ + "; " + said;
  if (!said.empty()) result["note"] = said;
  responder_.reply(std::move(result));
  finish();
}

void ChatTurn::fail(const provider::ProviderFailure& failure) {
  if (answered_) return;
  answered_ = true;
  QLOG(Warn) << "chat " << params_.chat_id << ": " << failure.kind << ": " << failure.message
             << (failure.detail.empty() ? "" : " (" + failure.detail + ")");
  tokens_.flush(params_.chat_id);
  json data = {{"kind", failure.kind}, {"partial", partial_}, {"messages", messages_so_far()}};
  if (!failure.detail.empty()) data["message"] = failure.detail;
  responder_.fail({rpc::code::kProviderError, failure.message, std::move(data)});
  finish();
}

json ChatTurn::messages_so_far() const {
  json messages = messages_;
  if (in_tools_) {
    // The round's assistant message is in; its unanswered calls get a result each, so the
    // history stays one the server accepts.
    for (std::size_t i = next_call_; i < calls_.size(); ++i) {
      messages.push_back(tool_message(calls_[i].name, calls_[i].id, kCancelledResult));
    }
  } else if (!content_.empty() || !thinking_.empty() || !round_calls_.empty()) {
    messages.push_back(provider::assistant_message(content_, thinking_, round_calls_));
    for (const provider::ToolCall& call : round_calls_)
      messages.push_back(tool_message(call.name, call.id, kCancelledResult));
  }
  return messages;
}

json ChatTurn::stats() const {
  const double tokens_per_second = totals_.eval_duration == 0
                                       ? 0.0
                                       : static_cast<double>(totals_.eval_count) * 1e9 /
                                             static_cast<double>(totals_.eval_duration);
  json out = {
      {"evalCount", totals_.eval_count},
      {"promptEvalCount", totals_.prompt_eval_count},
      {"totalDurationMs",
       duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_).count()},
      {"loadDurationMs", ns_to_ms(totals_.load_duration)},
      {"promptEvalDurationMs", ns_to_ms(totals_.prompt_eval_duration)},
      {"evalDurationMs", ns_to_ms(totals_.eval_duration)},
      {"tokensPerSecond", tokens_per_second},
  };
  if (first_token_) out["firstTokenMs"] = first_token_->count();
  return out;
}

void ChatTurn::finish() {
  if (auto finished = std::exchange(finished_, nullptr)) finished(*this);
}

template <typename Fn>
void ChatTurn::guarded(const char* what, Fn&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    failed_inside(what, e.what());
  } catch (...) {
    failed_inside(what, "unknown exception");
  }
}

void ChatTurn::failed_inside(const char* what, const char* problem) noexcept {
  QLOG(Error) << "chat " << params_.chat_id << ": exception while " << what << ": " << problem;
  try {
    fail(provider::bad_stream(settings_.kind,
                              std::string("internal error while ") + what + ": " + problem));
    // Answered before the throw (it came from the answer itself): retire the turn all the same.
    if (answered_) finish();
  } catch (...) {
    QLOG(Error) << "chat " << params_.chat_id << ": the error could not be reported";
  }
}

}  // namespace quill::chat
