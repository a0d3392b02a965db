#pragma once
// Where an endpoint is: OLLAMA_HOST syntax (`host`, `host:port`, `http://…`, `https://…`, optional
// path, optional `user:password@`) turned into a base URL, the way Ollama's own client reads it
// (an OpenAI-compatible endpoint's url is read the same way, with its scheme required).
// Credentials never stay in the URL (it is logged and shown): they become HTTP basic auth.

#include <optional>
#include <string>
#include <string_view>

namespace quill::provider {

inline constexpr std::string_view kDefaultHost = "http://127.0.0.1:11434";

struct Endpoint {
  std::string base_url;                 // no credentials: safe to log and show
  std::optional<std::string> username;  // from `user[:password]@`, percent-decoded
  std::string password;
};

// Base URL without a trailing slash, e.g. "http://127.0.0.1:11434". No port: 11434, except
// that an explicit http:// means 80 and https:// 443. 0.0.0.0 and :: (bind-all addresses)
// become 127.0.0.1 and [::1]. Credentials run up to the last '@' (so a path cannot hold one).
// nullopt (and `error`, which never quotes the credentials) for what cannot be a host: another
// scheme, a bad port, an unclosed '[', spaces or control characters, a query or fragment.
std::optional<Endpoint> parse_host(std::string_view spec, std::string* error);

// `spec` with its credentials (everything before the last '@' after the scheme) shown as ***,
// for logs and messages. Works on any text, parseable or not.
std::string redact_host(std::string_view spec);

// The value of an Authorization header for the endpoint's credentials ("Basic …").
std::string basic_authorization(const Endpoint& endpoint);

// What initialize settles on: `configured` when set and not empty, else $OLLAMA_HOST, else the
// default. A value that does not parse is an error naming its source and the redacted value,
// never a fallback to the default (which would carry the configured headers to another server).
// `label` names the configured value in the error.
std::optional<Endpoint> resolve_endpoint(const std::optional<std::string>& configured,
                                         std::string* error,
                                         std::string_view label = "provider.host");

// The base URL requests go to. initialize stores the checked base URL in the settings, so this
// only normalises it; unset means the default. A value that does not parse (settings built
// without initialize) yields a name that cannot resolve, never another server.
std::string resolve_host(const std::optional<std::string>& configured);

}  // namespace quill::provider
