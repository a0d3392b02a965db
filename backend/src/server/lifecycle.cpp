#include "server/lifecycle.hpp"

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

bool read_millis(const json& obj, const char* key, std::chrono::milliseconds* out,
                 std::string* error) {
  const auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_number_unsigned()) {
    *error = std::string("timeouts.") + key + " must be a non-negative integer (milliseconds)";
    return false;
  }
  *out = std::chrono::milliseconds(it->get<std::uint64_t>());
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
  if (const auto provider = params.find("provider"); provider != params.end()) {
    if (!provider->is_object()) {
      *error = "provider must be an object";
      return std::nullopt;
    }
    std::string host;
    if (!read_string(*provider, "host", &host, error, "provider.")) return std::nullopt;
    if (!host.empty()) s.provider.host = host;
    if (const auto headers = provider->find("headers"); headers != provider->end()) {
      if (!headers->is_object()) {
        *error = "provider.headers must be an object of strings";
        return std::nullopt;
      }
      for (const auto& [name, value] : headers->items()) {
        if (!value.is_string()) {
          *error = "provider.headers." + name + " must be a string";
          return std::nullopt;
        }
        s.provider.headers[name] = value.get<std::string>();
      }
    }
  }
  if (const auto timeouts = params.find("timeouts"); timeouts != params.end()) {
    if (!timeouts->is_object()) {
      *error = "timeouts must be an object";
      return std::nullopt;
    }
    if (!read_millis(*timeouts, "connectMs", &s.provider.timeouts.connect, error) ||
        !read_millis(*timeouts, "firstByteMs", &s.provider.timeouts.first_byte, error) ||
        !read_millis(*timeouts, "idleMs", &s.provider.timeouts.idle, error)) {
      return std::nullopt;
    }
  }
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
    QLOG(Info) << "initialized by " << client << ", workspace " << settings_->workspace_root;
    responder.reply({{"serverInfo", {{"name", "quill-backend"}, {"version", QUILL_VERSION}}},
                     {"protocolVersion", 1},
                     {"capabilities",
                      {{"methods", peer_.handled_methods()},
                       {"cancel", true},
                       {"tools", tools::name_list()}}}});
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
