#pragma once
// One chat turn: one or more rounds of POST /api/chat (stream:true). Each round's NDJSON lines
// become chat/token deltas; when a round ends with tool calls (and tools were offered), each
// call runs in order through an editor request, its result becomes a tool message, and the
// next round starts — until a round ends without calls or the round limit is reached. The turn
// answers chat/send once: its new messages, doneReason and stats; or a ProviderError carrying
// the partial answer; or, after a cancel, doneReason "cancelled" with everything so far. The
// connection is closed on cancel, which stops Ollama generating.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/token_coalescer.hpp"
#include "http/curl_multi.hpp"
#include "http/http_transfer.hpp"
#include "ollama/chat_request.hpp"
#include "ollama/chunk_decoder.hpp"
#include "ollama/errors.hpp"
#include "ollama/line_splitter.hpp"
#include "ollama/settings.hpp"
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
  ollama::ChatRequest request;
  bool tools = false;  // offer the tool catalogue
  int max_rounds = 8;  // rounds that may end in tool calls
  // Caps the content, and separately the thinking.
  std::size_t max_answer_bytes = kDefaultMaxAnswerBytes;
};

// Decodes chat/send params; the error names the offending field.
std::optional<TurnParams> parse_turn_params(const rpc::json& params, std::string* error);

class ChatTurn {
 public:
  using Finished = std::function<void(ChatTurn& turn)>;

  ChatTurn(http::CurlMulti& multi, rpc::Peer& peer, TokenCoalescer& tokens, std::string base_url,
           const ollama::ProviderSettings& settings, TurnParams params, rpc::Responder responder,
           Finished finished);
  ~ChatTurn();

  void start() { start_round(); }
  void cancel();
  const std::string& chat_id() const { return params_.chat_id; }

 private:
  void start_round();
  bool on_data(long status, std::string_view bytes);
  void on_line(std::string_view line);
  void on_transfer_done(const http::HttpResult& result);
  void round_finished();
  void run_next_tool();
  void finish_tool(const std::string& status, const std::string& content);
  // The part of `text` that fits after `used` bytes of the turn's limit; cutting sets limit_note_.
  std::string_view within_limit(std::size_t used, std::string_view text, const char* what);
  void stop_at_limit();
  void succeed(const std::string& done_reason, const std::string& note = "");
  void fail(const ollama::ProviderFailure& failure);
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
  std::string base_url_;
  const ollama::ProviderSettings& settings_;
  TurnParams params_;
  rpc::Responder responder_;
  Finished finished_;
  std::unique_ptr<http::HttpTransfer> transfer_;

  // The round being streamed.
  ollama::LineSplitter splitter_;
  ollama::ChunkDecoder decoder_;
  ollama::ChatChunk chunk_;  // reused for every line
  std::string error_body_;   // body of an HTTP error status
  std::optional<ollama::ProviderFailure> stream_failure_;
  std::string content_;
  std::string thinking_;
  std::vector<std::string> raw_calls_;
  bool done_seen_ = false;
  std::string done_reason_;
  ollama::ChatStats round_stats_;

  // The turn so far.
  rpc::json messages_ = rpc::json::array();  // finished messages of this turn
  std::string partial_;                      // every token sent, across rounds
  std::size_t thinking_bytes_ = 0;           // thinking kept, across rounds
  std::size_t call_bytes_ = 0;               // tool call JSON received, across rounds
  std::optional<std::string> limit_note_;    // set when the answer or thinking hit the limit
  ollama::ChatStats totals_;
  int rounds_with_tools_ = 0;
  std::vector<ollama::ToolCall> calls_;  // the calls of the round being carried out
  std::size_t next_call_ = 0;
  bool in_tools_ = false;
  std::optional<rpc::Peer::CallId> editor_call_;

  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::milliseconds> first_token_;
  bool answered_ = false;
};

}  // namespace quill::chat
