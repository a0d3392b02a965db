#include "ollama/host.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "util/log.hpp"

namespace quill::ollama {

std::optional<std::string> parse_host(std::string_view spec, std::string* error) {
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front())))
    spec.remove_prefix(1);
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.back())))
    spec.remove_suffix(1);
  if (spec.empty()) {
    *error = "empty host";
    return std::nullopt;
  }
  std::string scheme = "http";
  std::string port = "11434";
  if (const auto sep = spec.find("://"); sep != std::string_view::npos) {
    scheme = std::string(spec.substr(0, sep));
    for (char& c : scheme)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "http" && scheme != "https") {
      *error = "unsupported scheme '" + scheme + "' (use http or https)";
      return std::nullopt;
    }
    port = scheme == "https" ? "443" : "80";
    spec.remove_prefix(sep + 3);
  }
  std::string path;
  if (const auto slash = spec.find('/'); slash != std::string_view::npos) {
    path = std::string(spec.substr(slash));
    spec = spec.substr(0, slash);
    while (!path.empty() && path.back() == '/')
      path.pop_back();
  }
  std::string host;
  if (!spec.empty() && spec.front() == '[') {  // [v6]:port
    const auto close = spec.find(']');
    if (close == std::string_view::npos) {
      *error = "unclosed '[' in host";
      return std::nullopt;
    }
    host = std::string(spec.substr(1, close - 1));
    spec.remove_prefix(close + 1);
    if (!spec.empty()) {
      if (spec.front() != ':') {
        *error = "unexpected text after ']'";
        return std::nullopt;
      }
      port = std::string(spec.substr(1));
    }
  } else if (std::count(spec.begin(), spec.end(), ':') > 1) {
    host = std::string(spec);  // a bare IPv6 address
  } else if (const auto colon = spec.find(':'); colon != std::string_view::npos) {
    host = std::string(spec.substr(0, colon));
    port = std::string(spec.substr(colon + 1));
  } else {
    host = std::string(spec);
  }
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    *error = "bad port '" + port + "'";
    return std::nullopt;
  }
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + port + path;
}

std::string resolve_host(const std::optional<std::string>& configured) {
  std::string error;
  if (configured && !configured->empty()) {
    if (auto url = parse_host(*configured, &error)) return *url;
    QLOG(Warn) << "host '" << *configured << "': " << error << "; using " << kDefaultHost;
    return std::string(kDefaultHost);
  }
  if (const char* env = std::getenv("OLLAMA_HOST"); env != nullptr && *env != '\0') {
    if (auto url = parse_host(env, &error)) return *url;
    QLOG(Warn) << "OLLAMA_HOST '" << env << "': " << error << "; using " << kDefaultHost;
  }
  return std::string(kDefaultHost);
}

}  // namespace quill::ollama
