#include "provider/host.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "util/log.hpp"

namespace quill::provider {
namespace {

constexpr std::string_view kUnresolvable = "http://invalid.invalid";  // RFC 6761: never resolves

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// Where the part after the scheme starts.
std::size_t authority_start(std::string_view spec) {
  const auto sep = spec.find("://");
  return sep == std::string_view::npos ? 0 : sep + 3;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool v6_char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

// An IPv6 literal, optionally with a %zone.
bool valid_v6(std::string_view host) {
  const auto zone = host.find('%');
  const std::string_view address = host.substr(0, zone);
  if (address.empty() || !std::all_of(address.begin(), address.end(), v6_char)) return false;
  if (zone == std::string_view::npos) return true;
  const std::string_view id = host.substr(zone + 1);
  return !id.empty() && std::all_of(id.begin(), id.end(), name_char);
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0})
      out += kAlphabet[(n >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

std::optional<Endpoint> parse_host(std::string_view spec, std::string* error) {
  spec = trim(spec);
  if (spec.empty()) {
    *error = "empty host";
    return std::nullopt;
  }
  if (std::any_of(spec.begin(), spec.end(), [](char c) {
        return std::iscntrl(static_cast<unsigned char>(c)) != 0 || c == ' ';
      })) {
    *error = "a host cannot contain spaces or control characters";
    return std::nullopt;
  }
  if (spec.find_first_of("?#") != std::string_view::npos) {
    *error = "a host cannot have a query or fragment ('?', '#')";
    return std::nullopt;
  }
  Endpoint endpoint;
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
  if (const auto at = spec.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = spec.substr(0, at);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    auto password = percent_decode(colon == std::string_view::npos ? std::string_view()
                                                                   : userinfo.substr(colon + 1));
    if (!user || !password) {
      *error = "bad %-escape in the credentials";
      return std::nullopt;
    }
    endpoint.username = std::move(*user);
    endpoint.password = std::move(*password);
    spec.remove_prefix(at + 1);
  }
  std::string path;
  if (const auto slash = spec.find('/'); slash != std::string_view::npos) {
    path = std::string(spec.substr(slash));
    spec = spec.substr(0, slash);
    while (!path.empty() && path.back() == '/')
      path.pop_back();
  }
  std::string host;
  bool v6 = false;
  if (!spec.empty() && spec.front() == '[') {  // [v6]:port
    const auto close = spec.find(']');
    if (close == std::string_view::npos) {
      *error = "unclosed '[' in host";
      return std::nullopt;
    }
    host = std::string(spec.substr(1, close - 1));
    v6 = true;
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
    v6 = true;
  } else if (const auto colon = spec.find(':'); colon != std::string_view::npos) {
    host = std::string(spec.substr(0, colon));
    port = std::string(spec.substr(colon + 1));
  } else {
    host = std::string(spec);
  }
  if (v6 ? !valid_v6(host) : !std::all_of(host.begin(), host.end(), name_char)) {
    *error = "'" + host + "' is not a host name or IP address";
    return std::nullopt;
  }
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535 || std::stoi(port) == 0) {
    *error = "bad port '" + port + "'";
    return std::nullopt;
  }
  endpoint.base_url = scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + port + path;
  return endpoint;
}

std::string redact_host(std::string_view spec) {
  const std::size_t start = authority_start(spec);
  const auto at = spec.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(spec);
  return std::string(spec.substr(0, start)) + "***" + std::string(spec.substr(at));
}

std::string basic_authorization(const Endpoint& endpoint) {
  return "Basic " + base64(endpoint.username.value_or("") + ":" + endpoint.password);
}

std::optional<Endpoint> resolve_endpoint(const std::optional<std::string>& configured,
                                         std::string* error, std::string_view label) {
  std::string problem;
  if (configured && !configured->empty()) {
    if (auto endpoint = parse_host(*configured, &problem)) return endpoint;
    *error = std::string(label) + " '" + redact_host(*configured) + "': " + problem;
    return std::nullopt;
  }
  if (const char* env = std::getenv("OLLAMA_HOST"); env != nullptr && *env != '\0') {
    if (auto endpoint = parse_host(env, &problem)) return endpoint;
    *error = "$OLLAMA_HOST '" + redact_host(env) + "': " + problem;
    return std::nullopt;
  }
  return Endpoint{std::string(kDefaultHost), std::nullopt, ""};
}

std::string resolve_host(const std::optional<std::string>& configured) {
  if (!configured) return std::string(kDefaultHost);
  std::string error;
  if (auto endpoint = parse_host(*configured, &error)) return endpoint->base_url;
  QLOG(Error) << "host '" << redact_host(*configured) << "': " << error;
  return std::string(kUnresolvable);
}

}  // namespace quill::provider
