#pragma once
// The provider-facing methods: chat/send (one ChatTurn per running chat), models/list,
// models/show, models/pull and provider/version, each on the endpoint its params name (else the
// default).
// Owns the HTTP machinery and every transfer in flight.

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_turn.hpp"
#include "chat/token_coalescer.hpp"
#include "http/curl_multi.hpp"
#include "provider/json_call.hpp"
#include "provider/ollama/pull.hpp"
#include "provider/settings.hpp"
#include "rpc/peer.hpp"
#include "uv/handle.hpp"

namespace quill::chat {

class ChatService {
 public:
  // `settings` returns the endpoints as they stand now (initialize, then settings/update; the
  // lifecycle gate guarantees requests arrive only after initialize).
  using SettingsSource = std::function<const provider::Endpoints&()>;

  ChatService(uv_loop_t* loop, rpc::Peer& peer, TokenCoalescer& tokens, SettingsSource settings);
  ~ChatService();
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  // Ends every running turn as cancelled and aborts every call (shutdown, exit).
  void cancel_all();
  std::size_t running_chats() const { return turns_.size(); }

 private:
  void send(const rpc::json& params, rpc::Responder responder);
  void list_models(const rpc::json& params, rpc::Responder responder);
  void show_model(const rpc::json& params, rpc::Responder responder);
  void provider_version(const rpc::json& params, rpc::Responder responder);
  // GET /api/ps: the models Ollama has loaded, with their running context length.
  void running_models(const rpc::json& params, rpc::Responder responder);
  // POST /api/pull with models/pullProgress notifications; Ollama endpoints only.
  void pull_model(const rpc::json& params, rpc::Responder responder);
  // The endpoint `params.endpoint` names (the default when absent); nullptr after answering
  // `responder` with the error.
  const provider::ProviderSettings* endpoint_for(const rpc::json& params,
                                                 rpc::Responder& responder) const;
  // Turns Ollama's answer into our result, or nullopt and the problem (a bad_stream error).
  using Shape = std::function<std::optional<rpc::json>(const rpc::json&, std::string* problem)>;
  // Runs a JSON request and answers `responder` with its shaped answer.
  void call_json(const provider::ProviderSettings& endpoint, const std::string& method,
                 const std::string& path, std::string body, std::string model,
                 rpc::Responder responder, Shape shape);
  // Finished objects are destroyed on a later loop turn: they finish from inside their own
  // callbacks.
  void retire_turn(const std::string& chat_id);
  void schedule_reap();

  rpc::Peer& peer_;
  TokenCoalescer& tokens_;
  SettingsSource settings_;
  http::CurlMulti multi_;
  std::map<std::string, std::unique_ptr<ChatTurn>> turns_;
  std::map<std::uint64_t, std::unique_ptr<provider::JsonCall>> calls_;
  std::uint64_t next_call_ = 1;
  std::vector<std::unique_ptr<ChatTurn>> retired_turns_;
  std::vector<std::unique_ptr<provider::JsonCall>> retired_calls_;
  std::map<std::uint64_t, std::unique_ptr<ollama::PullCall>> pulls_;
  // The requests of calls_ and pulls_ not answered yet, by the same ids: cancel_all answers them.
  std::map<std::uint64_t, rpc::Responder> responders_;
  std::vector<std::unique_ptr<ollama::PullCall>> retired_pulls_;
  uv::UvHandle<uv_timer_t> reaper_;
};

}  // namespace quill::chat
