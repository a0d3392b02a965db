#include "server/lifecycle.hpp"

#include <algorithm>
#include <cctype>

#include "server/endpoint_settings.hpp"
#include "tools/catalogue.hpp"
#include "util/log.hpp"

namespace quill::server {
namespace {

using rpc::json;

bool read_string(const json& obj, const char* key, std::string* out, std::string* error,
                 const std::string& path) {
  const auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_string()) {
    *error = path + key + " must be a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

}  // namespace

std::optional<SessionSettings> parse_initialize(const json& params, std::string* error) {
  if (!params.is_object()) {
    *error = "params must be an object";
    return std::nullopt;
  }
  SessionSettings s;
  const auto root = params.find("workspaceRoot");
  if (root == params.end() || !root->is_string() || !root->get<std::string>().starts_with('/')) {
    *error = "workspaceRoot must be an absolute path";
    return std::nullopt;
  }
  s.workspace_root = root->get<std::string>();

  if (const auto info = params.find("clientInfo"); info != params.end()) {
    if (!info->is_object()) {
      *error = "clientInfo must be an object";
      return std::nullopt;
    }
    if (!read_string(*info, "name", &s.client_name, error, "clientInfo.") ||
        !read_string(*info, "version", &s.client_version, error, "clientInfo.")) {
      return std::nullopt;
    }
  }
  auto endpoints = parse_endpoints(params, error);
  if (!endpoints) return std::nullopt;
  s.endpoints = std::move(*endpoints);
  return s;
}

Lifecycle::Lifecycle(rpc::Peer& peer, std::function<void(int code)> exit,
                     std::function<void()> wind_down)
    : peer_(peer), exit_(std::move(exit)), wind_down_(std::move(wind_down)) {
  peer_.set_gate([this](std::string_view method) -> std::optional<rpc::RpcError> {
    if (shutdown_) {
      return rpc::RpcError{rpc::code::kInvalidRequest, "server is shutting down", nullptr};
    }
    if (!settings_ && method != "initialize") {
      return rpc::RpcError{rpc::code::kServerNotInitialized,
                           "server not initialized: send initialize first", nullptr};
    }
    return std::nullopt;
  });

  peer_.on_request("initialize", [this](const json& params, rpc::Responder responder) {
    if (settings_) {
      responder.fail({rpc::code::kInvalidRequest, "initialize was already received", nullptr});
      return;
    }
    std::string error;
    auto settings = parse_initialize(params, &error);
    if (!settings) {
      responder.fail({rpc::code::kInvalidParams, "initialize: " + error, nullptr});
      return;
    }
    settings_ = std::move(settings);
    const std::string client = settings_->client_name.empty()
                                   ? std::string("an unnamed client")
                                   : settings_->client_name + " " + settings_->client_version;
    QLOG(Info) << "initialized by " << client << ", workspace " << settings_->workspace_root
               << ", endpoints " << describe(settings_->endpoints);
    responder.reply({{"serverInfo", {{"name", "quill-backend"}, {"version", QUILL_VERSION}}},
                     {"protocolVersion", 1},
                     {"capabilities",
                      {{"methods", peer_.handled_methods()},
                       {"cancel", true},
                       {"tools", tools::name_list()}}}});
  });

  peer_.on_request("settings/update", [this](const json& params, rpc::Responder responder) {
    std::string error;
    auto endpoints = params.is_object() ? parse_endpoints(params, &error) : std::nullopt;
    if (!endpoints) {
      responder.fail({rpc::code::kInvalidParams,
                      "settings/update: " + (error.empty() ? "params must be an object" : error),
                      nullptr});
      return;
    }
    settings_->endpoints = std::move(*endpoints);
    QLOG(Info) << "settings updated: endpoints " << describe(settings_->endpoints);
    json names = json::array();
    for (const auto& [name, ignored] : settings_->endpoints.by_name)
      names.push_back(name);
    responder.reply(
        {{"endpoints", std::move(names)}, {"endpoint", settings_->endpoints.default_name}});
  });

  peer_.on_request("shutdown", [this](const json&, rpc::Responder responder) {
    shutdown_ = true;
    QLOG(Info) << "shutdown requested";
    if (wind_down_) wind_down_();
    responder.reply(nullptr);
  });

  peer_.on_notification("exit", [this](const json&) {
    QLOG(Info) << "exit notification (shutdown " << (shutdown_ ? "received" : "missing") << ")";
    exit_(shutdown_ ? 0 : 1);
  });
}

}  // namespace quill::server
