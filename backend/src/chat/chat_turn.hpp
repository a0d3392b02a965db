#pragma once
// One chat turn: POST /api/chat with stream:true, NDJSON lines -> chunks -> chat/token deltas,
// then one answer to the editor's chat/send: the new assistant message, doneReason and stats;
// or a ProviderError carrying the partial answer; or, after a cancel, doneReason "cancelled"
// with the partial message. The connection is closed on cancel, which stops Ollama generating.

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

struct TurnParams {
  std::string chat_id;
  ollama::ChatRequest request;
};

// Decodes chat/send params; the error names the offending field.
std::optional<TurnParams> parse_turn_params(const rpc::json& params, std::string* error);

class ChatTurn {
 public:
  using Finished = std::function<void(ChatTurn& turn)>;

  ChatTurn(http::CurlMulti& multi, TokenCoalescer& tokens, std::string base_url,
           const ollama::ProviderSettings& settings, TurnParams params, rpc::Responder responder,
           Finished finished);

  void start();
  void cancel();
  const std::string& chat_id() const { return params_.chat_id; }

 private:
  bool on_data(long status, std::string_view bytes);
  void on_line(std::string_view line);
  void on_transfer_done(const http::HttpResult& result);
  void succeed();
  void fail(const ollama::ProviderFailure& failure);
  rpc::json partial_messages() const;
  rpc::json stats() const;
  void finish();

  http::CurlMulti& multi_;
  TokenCoalescer& tokens_;
  std::string base_url_;
  const ollama::ProviderSettings& settings_;
  TurnParams params_;
  rpc::Responder responder_;
  Finished finished_;
  std::unique_ptr<http::HttpTransfer> transfer_;

  ollama::LineSplitter splitter_;
  ollama::ChunkDecoder decoder_;
  ollama::ChatChunk chunk_;  // reused for every line
  std::string error_body_;   // body of an HTTP error status
  std::optional<ollama::ProviderFailure> stream_failure_;

  std::string content_;
  std::string thinking_;
  std::vector<std::string> tool_calls_;
  bool done_seen_ = false;
  std::string done_reason_;
  ollama::ChatStats stats_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::milliseconds> first_token_;
  bool answered_ = false;
};

}  // namespace quill::chat
