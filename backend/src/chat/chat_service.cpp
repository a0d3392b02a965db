#include "chat/chat_service.hpp"

#include "provider/host.hpp"
#include "provider/ollama/models.hpp"
#include "provider/provider.hpp"
#include "util/log.hpp"

namespace quill::chat {

using rpc::json;

namespace {

// A provider error on a request that is not a chat.
rpc::RpcError provider_error(const provider::ProviderFailure& failure) {
  return {rpc::code::kProviderError,
          failure.message,
          {{"kind", failure.kind},
           {"message", failure.detail},
           {"partial", ""},
           {"messages", json::array()}}};
}

}  // namespace

ChatService::ChatService(uv_loop_t* loop, rpc::Peer& peer, TokenCoalescer& tokens,
                         SettingsSource settings)
    : peer_(peer), tokens_(tokens), settings_(std::move(settings)), multi_(loop) {
  reaper_ = uv::UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  reaper_.get()->data = this;

  peer.on_request("chat/send", [this](const json& params, rpc::Responder r) { send(params, r); });
  peer.on_request("models/list",
                  [this](const json& params, rpc::Responder r) { list_models(params, r); });
  peer.on_request("models/show",
                  [this](const json& params, rpc::Responder r) { show_model(params, r); });
  peer.on_request("models/running",
                  [this](const json& params, rpc::Responder r) { running_models(params, r); });
  peer.on_request("models/pull",
                  [this](const json& params, rpc::Responder r) { pull_model(params, r); });
  peer.on_request("provider/version",
                  [this](const json& params, rpc::Responder r) { provider_version(params, r); });
}

ChatService::~ChatService() {
  // Destroying transfers removes them from the multi handle before it is cleaned up.
  turns_.clear();
  calls_.clear();
  retired_turns_.clear();
  retired_calls_.clear();
  pulls_.clear();
  retired_pulls_.clear();
}

void ChatService::cancel_all() {
  std::vector<std::string> ids;
  for (const auto& [id, turn] : turns_)
    ids.push_back(id);
  for (const auto& id : ids) {
    if (auto it = turns_.find(id); it != turns_.end()) it->second->cancel();
  }
  // models/* and pulls answer -32800 through their own cancel path (abort, retire, answer).
  std::vector<rpc::Responder> waiting;
  for (const auto& [id, responder] : responders_)
    waiting.push_back(responder);
  for (const auto& responder : waiting)
    responder.cancel_token().cancel();
}

const provider::ProviderSettings* ChatService::endpoint_for(const json& params,
                                                            rpc::Responder& responder) const {
  std::string name;
  if (params.is_object()) {
    if (const auto it = params.find("endpoint"); it != params.end() && !it->is_null()) {
      if (!it->is_string()) {
        responder.fail({rpc::code::kInvalidParams,
                        responder.method() + ": endpoint must be a string", nullptr});
        return nullptr;
      }
      name = it->get<std::string>();
    }
  }
  const provider::Endpoints& endpoints = settings_();
  const provider::ProviderSettings* endpoint = endpoints.find(name);
  if (endpoint == nullptr) {
    std::string known;
    for (const auto& [known_name, ignored] : endpoints.by_name)
      known += (known.empty() ? "" : ", ") + known_name;
    responder.fail(provider_error(
        provider::config("no endpoint named '" + (name.empty() ? endpoints.default_name : name) +
                         "' (configured: " + (known.empty() ? "none" : known) + ")")));
  }
  return endpoint;
}

void ChatService::send(const json& params, rpc::Responder responder) {
  std::string error;
  auto turn_params = parse_turn_params(params, &error);
  if (!turn_params) {
    responder.fail({rpc::code::kInvalidParams, "chat/send: " + error, nullptr});
    return;
  }
  const std::string chat_id = turn_params->chat_id;
  if (turns_.contains(chat_id)) {
    responder.fail({rpc::code::kInvalidParams,
                    "chat/send: chat '" + chat_id + "' is still answering; cancel it first",
                    nullptr});
    return;
  }
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  auto turn =
      std::make_unique<ChatTurn>(multi_, peer_, tokens_, *endpoint, std::move(*turn_params),
                                 responder, [this](ChatTurn& t) { retire_turn(t.chat_id()); });
  ChatTurn* raw = turn.get();
  turns_.emplace(chat_id, std::move(turn));
  responder.cancel_token().on_cancel([this, chat_id] {
    if (auto it = turns_.find(chat_id); it != turns_.end()) it->second->cancel();
  });
  raw->start();
}

void ChatService::call_json(const provider::ProviderSettings& endpoint, const std::string& method,
                            const std::string& path, std::string body, std::string model,
                            rpc::Responder responder, Shape shape) {
  provider::ProviderFailure unusable;
  auto request = provider::request_for(endpoint, method, path, &unusable);
  if (!request) {
    responder.fail(provider_error(unusable));
    return;
  }
  request->body = std::move(body);
  const std::uint64_t id = next_call_++;
  const provider::Kind kind = endpoint.kind;
  const std::string host = provider::resolve_host(endpoint.host);
  auto call = std::make_unique<provider::JsonCall>(
      multi_, kind, std::move(*request), host, std::move(model),
      [this, id, kind, responder, shape = std::move(shape)](
          std::optional<json> answer, std::optional<provider::ProviderFailure> failure) {
        // From the transfer's end, inside a libuv callback: nothing may escape, and the request
        // is answered whatever happens.
        try {
          std::string problem;
          std::optional<json> result = answer ? shape(*answer, &problem) : std::nullopt;
          if (result) {
            responder.reply(std::move(*result));
          } else {
            if (answer) failure = provider::bad_stream(kind, problem);
            responder.fail(provider_error(*failure));
          }
        } catch (const std::exception& e) {
          QLOG(Error) << responder.method() << ": " << e.what();
          responder.fail({rpc::code::kInternalError,
                          "internal error in " + responder.method() + ": " + e.what(), nullptr});
        }
        responders_.erase(id);
        if (auto it = calls_.find(id); it != calls_.end()) {
          retired_calls_.push_back(std::move(it->second));
          calls_.erase(it);
          schedule_reap();
        }
      });
  provider::JsonCall* raw = call.get();
  calls_.emplace(id, std::move(call));
  responders_.emplace(id, responder);
  responder.cancel_token().on_cancel([this, id, responder] {
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    responders_.erase(id);
    it->second->abort();
    retired_calls_.push_back(std::move(it->second));
    calls_.erase(it);
    schedule_reap();
    responder.fail({rpc::code::kRequestCancelled, "cancelled", nullptr});
  });
  if (!raw->start()) {
    responder.fail({rpc::code::kInternalError, "could not start an HTTP transfer", nullptr});
    calls_.erase(id);
    responders_.erase(id);
  }
}

void ChatService::list_models(const json& params, rpc::Responder responder) {
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  const provider::Provider& provider = provider::provider_for(endpoint->kind);
  call_json(*endpoint, "GET", provider.models_path(), "", "", std::move(responder),
            [&provider](const json& answer, std::string* problem) {
              return provider.shape_models(answer, problem);
            });
}

void ChatService::show_model(const json& params, rpc::Responder responder) {
  const auto model = params.is_object() ? params.find("model") : params.end();
  if (!params.is_object() || model == params.end() || !model->is_string() ||
      model->get<std::string>().empty()) {
    responder.fail(
        {rpc::code::kInvalidParams, "models/show: model must be a non-empty string", nullptr});
    return;
  }
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  const std::string name = model->get<std::string>();
  if (endpoint->kind != provider::Kind::Ollama) {
    responder.fail(provider_error(provider::config(
        "models/show: endpoint '" + endpoint->name +
        "' is OpenAI-compatible, which has no model details (/api/show is Ollama's)")));
    return;
  }
  call_json(*endpoint, "POST", "/api/show",
            json{{"model", name}}.dump(-1, ' ', false, json::error_handler_t::replace), name,
            std::move(responder), [name](const json& show, std::string* problem) {
              return ollama::shape_show(name, show, problem);
            });
}

void ChatService::provider_version(const json& params, rpc::Responder responder) {
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  const std::string host = provider::resolve_host(endpoint->host);
  if (endpoint->kind != provider::Kind::Ollama) {
    // No version route: a models list that answers is the proof of life.
    call_json(*endpoint, "GET", provider::provider_for(endpoint->kind).models_path(), "", "",
              std::move(responder), [host](const json&, std::string*) -> std::optional<json> {
                return json{{"version", ""}, {"host", host}};
              });
    return;
  }
  call_json(*endpoint, "GET", "/api/version", "", "", std::move(responder),
            [host](const json& version, std::string* problem) {
              return ollama::shape_version(host, version, problem);
            });
}

void ChatService::running_models(const json& params, rpc::Responder responder) {
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  if (endpoint->kind != provider::Kind::Ollama) {
    responder.fail(
        provider_error(provider::config("models/running: endpoint '" + endpoint->name +
                                        "' is OpenAI-compatible (/api/ps is Ollama's)")));
    return;
  }
  call_json(*endpoint, "GET", "/api/ps", "", "", std::move(responder), ollama::shape_ps);
}

void ChatService::pull_model(const json& params, rpc::Responder responder) {
  const auto model = params.is_object() ? params.find("model") : params.end();
  if (!params.is_object() || model == params.end() || !model->is_string() ||
      model->get<std::string>().empty()) {
    responder.fail(
        {rpc::code::kInvalidParams, "models/pull: model must be a non-empty string", nullptr});
    return;
  }
  const provider::ProviderSettings* endpoint = endpoint_for(params, responder);
  if (endpoint == nullptr) return;
  const std::string name = model->get<std::string>();
  if (endpoint->kind != provider::Kind::Ollama) {
    responder.fail(provider_error(
        provider::config("models/pull: endpoint '" + endpoint->name +
                         "' is OpenAI-compatible; only Ollama pulls models (/api/pull)")));
    return;
  }
  provider::ProviderFailure unusable;
  auto request = provider::request_for(*endpoint, "POST", "/api/pull", &unusable);
  if (!request) {
    responder.fail(provider_error(unusable));
    return;
  }
  request->body =
      json{{"model", name}, {"stream", true}}.dump(-1, ' ', false, json::error_handler_t::replace);
  request->idle_timeout = std::chrono::milliseconds(0);  // verifying a layer is silent for minutes
  const std::uint64_t id = next_call_++;
  auto retire = [this, id] {
    responders_.erase(id);
    if (auto it = pulls_.find(id); it != pulls_.end()) {
      retired_pulls_.push_back(std::move(it->second));
      pulls_.erase(it);
      schedule_reap();
    }
  };
  auto pull = std::make_unique<ollama::PullCall>(
      multi_, std::move(*request), provider::resolve_host(endpoint->host), name,
      [this](const json& progress) { peer_.notify("models/pullProgress", progress); },
      [responder, name, retire](std::optional<provider::ProviderFailure> failure) {
        if (failure) {
          responder.fail(provider_error(*failure));
        } else {
          responder.reply({{"model", name}, {"status", "success"}});
        }
        retire();
      });
  ollama::PullCall* raw = pull.get();
  pulls_.emplace(id, std::move(pull));
  responders_.emplace(id, responder);
  responder.cancel_token().on_cancel([this, id, responder, retire] {
    const auto it = pulls_.find(id);
    if (it == pulls_.end()) return;
    it->second->abort();  // closes the connection: Ollama stops the download
    retire();
    responder.fail({rpc::code::kRequestCancelled, "cancelled", nullptr});
  });
  if (!raw->start()) {
    responder.fail({rpc::code::kInternalError, "could not start an HTTP transfer", nullptr});
    pulls_.erase(id);
    responders_.erase(id);
  }
}

void ChatService::retire_turn(const std::string& chat_id) {
  const auto it = turns_.find(chat_id);
  if (it == turns_.end()) return;
  retired_turns_.push_back(std::move(it->second));
  turns_.erase(it);
  schedule_reap();
}

void ChatService::schedule_reap() {
  uv_timer_start(
      reaper_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<ChatService*>(t->data);
        self->retired_turns_.clear();
        self->retired_calls_.clear();
        self->retired_pulls_.clear();
      },
      0, 0);
}

}  // namespace quill::chat
