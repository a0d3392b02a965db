#include "server/endpoint_settings.hpp"

#include <algorithm>
#include <cctype>

#include "provider/host.hpp"

namespace quill::server {
namespace {

using provider::Kind;
using provider::ProviderSettings;
using rpc::json;

constexpr std::size_t kMaxEndpoints = 64;
constexpr std::size_t kMaxNameBytes = 64;

bool read_string(const json& obj, const char* key, std::string* out, std::string* error,
                 const std::string& path) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
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
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
      it->get<std::uint64_t>() > kMaxMillis) {
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

bool has_authorization(const ProviderSettings& settings) {
  return std::any_of(settings.headers.begin(), settings.headers.end(),
                     [](const auto& header) { return is_authorization(header.first); });
}

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= kMaxNameBytes &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.';
         });
}

bool valid_env_name(const std::string& name) {
  return !name.empty() && name.size() <= 256 &&
         std::isdigit(static_cast<unsigned char>(name[0])) == 0 &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

bool read_headers(const json& obj, ProviderSettings& out, std::string* error,
                  const std::string& path) {
  const auto headers = obj.find("headers");
  if (headers == obj.end() || headers->is_null()) return true;
  if (!headers->is_object()) {
    *error = path + "headers must be an object of strings";
    return false;
  }
  for (const auto& [name, value] : headers->items()) {
    if (!valid_header_name(name)) {
      *error = path + "headers: '" + name + "' is not a header name";
      return false;
    }
    if (!value.is_string() || !valid_header_value(value.get<std::string>())) {
      *error = path + "headers." + name + " must be a string without CR, LF or NUL";
      return false;
    }
    out.headers[name] = value.get<std::string>();
  }
  return true;
}

// The host an endpoint settles on (Ollama: configured, $OLLAMA_HOST or the default; OpenAI: the
// url, its scheme required), credentials turned into an Authorization header.
bool settle_host(ProviderSettings& out, std::string* error, const std::string& path) {
  std::optional<provider::Endpoint> endpoint;
  if (out.kind == Kind::Ollama) {
    endpoint = provider::resolve_endpoint(
        out.host, error, path == "provider." ? std::string("provider.host") : path + "url");
  } else {
    const std::string url = out.host.value_or("");
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      *error = path +
               "url must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1), not '" +
               provider::redact_host(url) + "'";
      return false;
    }
    endpoint = provider::parse_host(url, error);
    if (!endpoint) *error = path + "url: " + *error;
  }
  if (!endpoint) return false;
  out.host = endpoint->base_url;
  if (!endpoint->username) return true;
  if (has_authorization(out) || !out.api_key_env.empty()) {
    *error = path + "the url has credentials and there is another Authorization: use one";
    return false;
  }
  out.headers["Authorization"] = provider::basic_authorization(*endpoint);
  return true;
}

bool parse_one(const std::string& name, const json& spec, ProviderSettings& out,
               std::string* error) {
  const std::string path = "endpoints." + name + ".";
  if (!spec.is_object()) {
    *error = "endpoints." + name + " must be an object";
    return false;
  }
  out.name = name;
  std::string kind = "ollama";
  std::string url;
  if (!read_string(spec, "kind", &kind, error, path) ||
      !read_string(spec, "url", &url, error, path) ||
      !read_string(spec, "apiKeyEnv", &out.api_key_env, error, path) ||
      !read_headers(spec, out, error, path)) {
    return false;
  }
  if (kind == "ollama") {
    out.kind = Kind::Ollama;
  } else if (kind == "openai") {
    out.kind = Kind::OpenAI;
  } else {
    *error = path + "kind must be \"ollama\" or \"openai\", not '" + kind.substr(0, 40) + "'";
    return false;
  }
  if (!url.empty()) out.host = url;
  if (!out.api_key_env.empty()) {
    if (!valid_env_name(out.api_key_env)) {
      *error = path + "apiKeyEnv must be an environment variable's name (letters, digits, _)";
      return false;
    }
    if (has_authorization(out)) {
      *error = path + "apiKeyEnv and an Authorization header: use one";
      return false;
    }
  }
  return settle_host(out, error, path);
}

}  // namespace

std::optional<provider::Endpoints> parse_endpoints(const json& params, std::string* error) {
  provider::Endpoints out;
  out.by_name.clear();
  provider::Timeouts timeouts;
  if (const auto t = params.find("timeouts"); t != params.end()) {
    if (!t->is_object()) {
      *error = "timeouts must be an object";
      return std::nullopt;
    }
    if (!read_millis(*t, "connectMs", &timeouts.connect, error) ||
        !read_millis(*t, "firstByteMs", &timeouts.first_byte, error) ||
        !read_millis(*t, "idleMs", &timeouts.idle, error)) {
      return std::nullopt;
    }
  }
  const auto provider = params.find("provider");
  const auto endpoints = params.find("endpoints");
  const bool has_endpoints = endpoints != params.end() && !endpoints->is_null();
  if (has_endpoints) {
    if (!endpoints->is_object()) {
      *error = "endpoints must be an object of endpoint settings";
      return std::nullopt;
    }
    if (endpoints->size() > kMaxEndpoints) {
      *error = "endpoints: at most " + std::to_string(kMaxEndpoints) + " endpoints";
      return std::nullopt;
    }
    for (const auto& [name, spec] : endpoints->items()) {
      if (!valid_name(name)) {
        *error = "endpoints: '" + name.substr(0, kMaxNameBytes) +
                 "' is not an endpoint name (1-64 letters, digits, _ - .)";
        return std::nullopt;
      }
      ProviderSettings settings;
      if (!parse_one(name, spec, settings, error)) return std::nullopt;
      out.by_name[name] = std::move(settings);
    }
  }
  // The Ollama endpoint named "ollama" always exists (from `provider`, else the defaults), unless
  // `endpoints` defines one by that name: older editors know only it.
  if (!out.by_name.contains("ollama")) {
    ProviderSettings settings;
    if (provider != params.end()) {
      if (!provider->is_object()) {
        *error = "provider must be an object";
        return std::nullopt;
      }
      std::string host;
      if (!read_string(*provider, "host", &host, error, "provider.") ||
          !read_headers(*provider, settings, error, "provider.")) {
        return std::nullopt;
      }
      if (!host.empty()) settings.host = host;
    }
    if (!settle_host(settings, error, "provider.")) return std::nullopt;
    out.by_name["ollama"] = std::move(settings);
  }
  for (auto& [name, settings] : out.by_name)
    settings.timeouts = timeouts;
  out.default_name = "ollama";
  if (!read_string(params, "endpoint", &out.default_name, error, "")) return std::nullopt;
  if (!out.by_name.contains(out.default_name)) {
    *error = "endpoint: no endpoint named '" + out.default_name.substr(0, kMaxNameBytes) + "'";
    return std::nullopt;
  }
  return out;
}

std::string describe(const provider::Endpoints& endpoints) {
  std::string out;
  for (const auto& [name, settings] : endpoints.by_name) {
    if (!out.empty()) out += ", ";
    out += name + (name == endpoints.default_name ? "*" : "") + " (" +
           std::string(provider::kind_name(settings.kind)) + " " + settings.host.value_or("") + ")";
  }
  return out;
}

}  // namespace quill::server
