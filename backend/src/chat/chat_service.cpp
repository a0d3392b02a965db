#include "chat/chat_service.hpp"

#include "ollama/host.hpp"
#include "util/json_access.hpp"
#include "util/log.hpp"

namespace quill::chat {
namespace {

using rpc::json;

// One /api/tags entry (at `where`) as a Model; nullopt, and `problem`, when it has a field of the
// wrong type.
std::optional<json> shape_model(const json& entry, const std::string& where, std::string* problem) {
  util::JsonReader m(entry, where);
  const auto name = m.required_string("name");
  const auto size = m.count("size");
  const auto modified_at = m.string("modified_at");
  const auto capabilities = m.strings("capabilities");
  std::optional<std::int64_t> context_length;
  if (const json* details = m.object("details")) {
    util::JsonReader d(*details, m.path("details"));
    context_length = d.integer("context_length");
    m.fail(d.problem());
  }
  if (!m.ok()) {
    *problem = m.problem();
    return std::nullopt;
  }
  json out = {
      {"name", *name}, {"size", size.value_or(0)}, {"modifiedAt", modified_at.value_or("")}};
  if (capabilities) out["capabilities"] = *capabilities;
  if (context_length) out["contextLength"] = *context_length;
  return out;
}

}  // namespace

std::optional<json> shape_tags(const json& tags, std::string* problem) {
  util::JsonReader answer(tags);
  const json* entries = answer.array("models");
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  json models = json::array();
  if (entries == nullptr) return json{{"models", std::move(models)}};
  for (std::size_t i = 0; i < entries->size(); ++i) {
    // One odd entry must not hide the others: it is left out, and logged.
    std::string bad;
    if (auto model = shape_model((*entries)[i], "models[" + std::to_string(i) + "]", &bad)) {
      models.push_back(std::move(*model));
    } else {
      QLOG(Warn) << "/api/tags: an entry left out: " << bad;
    }
  }
  return json{{"models", std::move(models)}};
}

std::optional<json> shape_show(const std::string& model, const json& show, std::string* problem) {
  util::JsonReader answer(show);
  const auto capabilities = answer.strings("capabilities");
  std::optional<std::int64_t> context_length;
  if (const json* info = answer.object("model_info")) {
    util::JsonReader fields(*info, "model_info");
    if (const auto arch = fields.string("general.architecture"); arch && !arch->empty())
      context_length = fields.integer(*arch + ".context_length");
    answer.fail(fields.problem());
  }
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  json out = {{"model", model},
              {"capabilities", capabilities.value_or(std::vector<std::string>{})}};
  if (context_length) out["contextLength"] = *context_length;
  return out;
}

std::optional<json> shape_version(const std::string& host, const json& version,
                                  std::string* problem) {
  util::JsonReader answer(version);
  const auto text = answer.string("version");
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  return json{{"version", text.value_or("")}, {"host", host}};
}

ChatService::ChatService(uv_loop_t* loop, rpc::Peer& peer, TokenCoalescer& tokens,
                         SettingsSource settings)
    : peer_(peer), tokens_(tokens), settings_(std::move(settings)), multi_(loop) {
  reaper_ = uv::UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  reaper_.get()->data = this;

  peer.on_request("chat/send", [this](const json& params, rpc::Responder r) { send(params, r); });
  peer.on_request("models/list", [this](const json&, rpc::Responder r) { list_models(r); });
  peer.on_request("models/show",
                  [this](const json& params, rpc::Responder r) { show_model(params, r); });
  peer.on_request("provider/version",
                  [this](const json&, rpc::Responder r) { provider_version(r); });
}

ChatService::~ChatService() {
  // Destroying transfers removes them from the multi handle before it is cleaned up.
  turns_.clear();
  calls_.clear();
  retired_turns_.clear();
  retired_calls_.clear();
}

void ChatService::cancel_all() {
  std::vector<std::string> ids;
  for (const auto& [id, turn] : turns_)
    ids.push_back(id);
  for (const auto& id : ids) {
    if (auto it = turns_.find(id); it != turns_.end()) it->second->cancel();
  }
  std::vector<std::uint64_t> call_ids;
  for (const auto& [id, call] : calls_)
    call_ids.push_back(id);
  for (auto id : call_ids) {
    if (auto it = calls_.find(id); it != calls_.end()) it->second->abort();
  }
}

http::HttpRequest ChatService::request_for(const std::string& method,
                                           const std::string& path) const {
  const ollama::ProviderSettings& s = settings_();
  http::HttpRequest request;
  request.method = method;
  request.url = ollama::resolve_host(s.host) + path;
  request.headers = s.headers;
  request.connect_timeout = s.timeouts.connect;
  request.first_byte_timeout = s.timeouts.first_byte;
  request.idle_timeout = s.timeouts.idle;
  return request;
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
  const ollama::ProviderSettings& settings = settings_();
  auto turn = std::make_unique<ChatTurn>(
      multi_, peer_, tokens_, ollama::resolve_host(settings.host), settings,
      std::move(*turn_params), responder, [this](ChatTurn& t) { retire_turn(t.chat_id()); });
  ChatTurn* raw = turn.get();
  turns_.emplace(chat_id, std::move(turn));
  responder.cancel_token().on_cancel([this, chat_id] {
    if (auto it = turns_.find(chat_id); it != turns_.end()) it->second->cancel();
  });
  raw->start();
}

void ChatService::call_json(http::HttpRequest request, std::string model, rpc::Responder responder,
                            Shape shape) {
  const std::uint64_t id = next_call_++;
  const std::string host = ollama::resolve_host(settings_().host);
  auto call = std::make_unique<ollama::JsonCall>(
      multi_, std::move(request), host, std::move(model),
      [this, id, responder, shape = std::move(shape)](
          std::optional<json> answer, std::optional<ollama::ProviderFailure> failure) {
        // From the transfer's end, inside a libuv callback: nothing may escape, and the request
        // is answered whatever happens.
        try {
          std::string problem;
          std::optional<json> result = answer ? shape(*answer, &problem) : std::nullopt;
          if (result) {
            responder.reply(std::move(*result));
          } else {
            if (answer) failure = ollama::bad_stream(problem);
            responder.fail({rpc::code::kProviderError,
                            failure->message,
                            {{"kind", failure->kind},
                             {"message", failure->detail},
                             {"partial", ""},
                             {"messages", json::array()}}});
          }
        } catch (const std::exception& e) {
          QLOG(Error) << responder.method() << ": " << e.what();
          responder.fail({rpc::code::kInternalError,
                          "internal error in " + responder.method() + ": " + e.what(), nullptr});
        }
        if (auto it = calls_.find(id); it != calls_.end()) {
          retired_calls_.push_back(std::move(it->second));
          calls_.erase(it);
          schedule_reap();
        }
      });
  ollama::JsonCall* raw = call.get();
  calls_.emplace(id, std::move(call));
  responder.cancel_token().on_cancel([this, id, responder] {
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second->abort();
    retired_calls_.push_back(std::move(it->second));
    calls_.erase(it);
    schedule_reap();
    responder.fail({rpc::code::kRequestCancelled, "cancelled", nullptr});
  });
  if (!raw->start()) {
    responder.fail({rpc::code::kInternalError, "could not start an HTTP transfer", nullptr});
    calls_.erase(id);
  }
}

void ChatService::list_models(rpc::Responder responder) {
  call_json(request_for("GET", "/api/tags"), "", std::move(responder), shape_tags);
}

void ChatService::show_model(const json& params, rpc::Responder responder) {
  const auto model = params.is_object() ? params.find("model") : params.end();
  if (!params.is_object() || model == params.end() || !model->is_string() ||
      model->get<std::string>().empty()) {
    responder.fail(
        {rpc::code::kInvalidParams, "models/show: model must be a non-empty string", nullptr});
    return;
  }
  const std::string name = model->get<std::string>();
  http::HttpRequest request = request_for("POST", "/api/show");
  request.body = json{{"model", name}}.dump(-1, ' ', false, json::error_handler_t::replace);
  call_json(
      std::move(request), name, std::move(responder),
      [name](const json& show, std::string* problem) { return shape_show(name, show, problem); });
}

void ChatService::provider_version(rpc::Responder responder) {
  const std::string host = ollama::resolve_host(settings_().host);
  call_json(request_for("GET", "/api/version"), "", std::move(responder),
            [host](const json& version, std::string* problem) {
              return shape_version(host, version, problem);
            });
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
      },
      0, 0);
}

}  // namespace quill::chat
