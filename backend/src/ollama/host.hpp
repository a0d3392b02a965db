#pragma once
// Where Ollama is: OLLAMA_HOST syntax (`host`, `host:port`, `http://…`, `https://…`, optional
// path) turned into a base URL, the way Ollama's own client reads it.

#include <optional>
#include <string>
#include <string_view>

namespace quill::ollama {

inline constexpr std::string_view kDefaultHost = "http://127.0.0.1:11434";

// Base URL without a trailing slash, e.g. "http://127.0.0.1:11434". No port: 11434, except
// that an explicit http:// means 80 and https:// 443. 0.0.0.0 and :: (bind-all addresses)
// become 127.0.0.1 and [::1]. nullopt (and `error`) for what cannot be a host.
std::optional<std::string> parse_host(std::string_view spec, std::string* error);

// The configured host, else $OLLAMA_HOST, else the default; never fails (bad values fall back to
// the default with a log line).
std::string resolve_host(const std::optional<std::string>& configured);

}  // namespace quill::ollama
