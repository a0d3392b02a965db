#pragma once
// One chat turn: one or more streamed rounds on the chat's endpoint (its provider builds the
// request and decodes the stream into neutral chunks). Each round's text becomes chat/token
// deltas; when a round ends with tool calls (and tools were offered), each
// call runs in order through an editor request, its result becomes a tool message, and the
// next round starts — until a round ends without calls or the round limit is reached. The turn
// answers chat/send once: its new messages, doneReason and stats; or a ProviderError carrying
// the partial answer; or, after a cancel, doneReason "cancelled" with everything so far. The
// connection is closed on cancel, which stops the server generating.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/token_coalescer.hpp"
#include "http/curl_multi.hpp"
#include "http/http_transfer.hpp"
#include "provider/chat_request.hpp"
#include "provider/chunk.hpp"
#include "provider/failure.hpp"
#include "provider/provider.hpp"
#include "provider/settings.hpp"
#include "rpc/peer.hpp"

namespace quill::chat {

// The default cap on a turn's answer text, and separately on its thinking; past it the turn ends
// with doneReason "limit" (a server that never stops must not grow the backend without bound).
inline constexpr std::size_t kDefaultMaxAnswerBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxAnswerBytesLimit = 1024 * 1024 * 1024;

// Calls of one round that are carried out; the rest get a tool result saying so, unrun.
inline constexpr std::size_t kMaxToolCallsPerRound = 32;

struct TurnParams {
  std::string chat_id;
  std::string endpoint;  // "" for the default
  provider::ChatRequest request;
  bool tools = false;  // offer the tool catalogue
  // The tools offered when `tools` came as a list of names (empty: every tool); a call of
  // another is answered, never run.
  std::vector<std::string> offered;
  int max_rounds = 8;            // rounds that may end in tool calls
  bool stream_thinking = false;  // send the thinking as chat/thinking as it comes
  // Caps the content, and separately the thinking.
  std::size_t max_answer_bytes = kDefaultMaxAnswerBytes;
};

// Decodes chat/send params; the error names the offending field.
std::optional<TurnParams> parse_turn_params(const rpc::json& params, std::string* error);

class ChatTurn {
 public:
  using Finished = std::function<void(ChatTurn& turn)>;

  // `settings` is the endpoint's, copied: settings changed later apply from the next turn.
  ChatTurn(http::CurlMulti& multi, rpc::Peer& peer, TokenCoalescer& tokens,
           provider::ProviderSettings settings, TurnParams params, rpc::Responder responder,
           Finished finished);
  ~ChatTurn();

  void start() { start_round(); }
  void cancel();
  const std::string& chat_id() const { return params_.chat_id; }

 private:
  void start_round();
  bool on_data(long status, std::string_view bytes);
  void on_chunk(provider::Chunk& chunk);
  // An OpenAI-compatible server that refused the first request with tools is asked once more
  // without them (a model or server without tool support); true when that retry started.
  bool retried_without_tools(const http::HttpResult& result);
  void on_transfer_done(const http::HttpResult& result);
  void round_finished();
  void run_next_tool();
  void finish_tool(const std::string& status, const std::string& content);
  // The part of `text` that fits after `used` bytes of the turn's limit; cutting sets limit_note_.
  std::string_view within_limit(std::size_t used, std::string_view text, const char* what);
  void stop_at_limit();
  void succeed(const std::string& done_reason, const std::string& note = "");
  void fail(const provider::ProviderFailure& failure);
  // The turn's messages as they would stand if it stopped now (partial round and unanswered
  // calls included).
  rpc::json messages_so_far() const;
  rpc::json stats() const;
  void finish();
  // Runs one of the turn's event handlers (libcurl's data, the transfer's end, the editor's
  // answer): an exception ends the turn with an error, never unwinds into libuv or libcurl and
  // never leaves the turn hanging.
  template <typename Fn>
  void guarded(const char* what, Fn&& fn) noexcept;
  void failed_inside(const char* what, const char* problem) noexcept;

  http::CurlMulti& multi_;
  rpc::Peer& peer_;
  TokenCoalescer& tokens_;
  provider::ProviderSettings settings_;
  const provider::Provider& provider_;
  std::string base_url_;
  TurnParams params_;
  rpc::Responder responder_;
  Finished finished_;
  std::unique_ptr<http::HttpTransfer> transfer_;

  // The round being streamed.
  std::unique_ptr<provider::StreamDecoder> decoder_;
  std::string error_body_;  // body of an HTTP error status
  std::optional<provider::ProviderFailure> stream_failure_;
  std::string content_;
  std::string thinking_;
  std::vector<provider::ToolCall> round_calls_;
  bool done_seen_ = false;
  std::string done_reason_;
  provider::ChatStats round_stats_;
  std::optional<std::chrono::steady_clock::time_point> round_first_delta_;

  // The turn so far.
  rpc::json messages_ = rpc::json::array();  // finished messages of this turn
  std::string partial_;                      // every token sent, across rounds
  std::size_t thinking_bytes_ = 0;           // thinking kept, across rounds
  std::size_t call_bytes_ = 0;               // tool call JSON received, across rounds
  std::optional<std::string> limit_note_;    // set when the answer or thinking hit the limit
  std::optional<std::string> note_;          // said with the answer (tools dropped)
  bool tools_retried_ = false;
  bool responding_ = false;  // chat/progress "responding" was sent (once per turn)
  provider::ChatStats totals_;
  int rounds_with_tools_ = 0;
  std::vector<provider::ToolCall> calls_;  // the calls of the round being carried out
  std::size_t next_call_ = 0;
  bool in_tools_ = false;
  std::optional<rpc::Peer::CallId> editor_call_;

  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::milliseconds> first_token_;
  bool answered_ = false;
};

}  // namespace quill::chat
