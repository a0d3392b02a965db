#include "server/lifecycle.hpp"

#include <algorithm>
#include <cctype>

#include "ollama/host.hpp"
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

// A day: far beyond any real limit, and far from overflowing what curl and libuv take.
constexpr std::uint64_t kMaxMillis = 24ULL * 3600 * 1000;

bool read_millis(const json& obj, const char* key, std::chrono::milliseconds* out,
                 std::string* error) {
  const auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > kMaxMillis) {
    *error =
        std::string("timeouts.") + key + " must be an integer from 0 to 86400000 (milliseconds)";
    return false;
  }
  *out = std::chrono::milliseconds(it->get<std::uint64_t>());
  return true;
}

// RFC 9110 token characters: anything else in a name (':', CR, LF, space) would forge headers.
bool valid_header_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool valid_header_value(const std::string& value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

bool is_authorization(const std::string& name) {
  return name.size() == 13 &&
         std::equal(name.begin(), name.end(), "authorization",
                    [](unsigned char a, char b) { return std::tolower(a) == b; });
}

// The host initialize settles on (configured, $OLLAMA_HOST or the default), credentials turned
// into an Authorization header.
bool settle_host(ollama::ProviderSettings& provider, std::string* error) {
  auto endpoint = ollama::resolve_endpoint(provider.host, error);
  if (!endpoint) return false;
  provider.host = endpoint->base_url;
  if (!endpoint->username) return true;
  if (std::any_of(provider.headers.begin(), provider.headers.end(),
                  [](const auto& header) { return is_authorization(header.first); })) {
    *error = "provider.host has credentials and provider.headers an Authorization header: use one";
    return false;
  }
  provider.headers["Authorization"] = ollama::basic_authorization(*endpoint);
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
        if (!valid_header_name(name)) {
          *error = "provider.headers: '" + name + "' is not a header name";
          return std::nullopt;
        }
        if (!value.is_string() || !valid_header_value(value.get<std::string>())) {
          *error = "provider.headers." + name + " must be a string without CR, LF or NUL";
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
  if (!settle_host(s.provider, error)) return std::nullopt;
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
               << ", Ollama at " << *settings_->provider.host;
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
