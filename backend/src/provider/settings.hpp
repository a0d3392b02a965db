#pragma once
// How to reach one endpoint, as the editor configured it (`initialize`, `settings/update`). A
// turn takes a copy when it starts, so new settings apply from the next turn.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace quill::provider {

// The wire format an endpoint speaks.
enum class Kind {
  Ollama,  // /api/chat, NDJSON
  OpenAI,  // /chat/completions, SSE (llama-server, vLLM, LM Studio, gateways)
};

std::string_view kind_name(Kind kind);  // "ollama", "openai"

struct Timeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds first_byte{300000};  // model loading can take minutes
  std::chrono::milliseconds idle{60000};
};

struct ProviderSettings {
  std::string name = "ollama";  // the endpoint's name in the editor's configuration
  Kind kind = Kind::Ollama;
  // The base URL: set to the checked one (for Ollama: configured, else $OLLAMA_HOST, else the
  // default), without credentials, which become an Authorization header.
  std::optional<std::string> host;
  std::map<std::string, std::string> headers;
  // An environment variable holding an API key, sent as "Authorization: Bearer …"; read when a
  // request is made, so the key never crosses the editor's pipe or the log.
  std::string api_key_env;
  Timeouts timeouts;
};

// Every configured endpoint and the one a request without a name goes to.
struct Endpoints {
  std::map<std::string, ProviderSettings> by_name;
  std::string default_name = "ollama";

  // `name` or, when empty, the default; nullptr when there is no such endpoint.
  const ProviderSettings* find(const std::string& name) const {
    const auto it = by_name.find(name.empty() ? default_name : name);
    return it == by_name.end() ? nullptr : &it->second;
  }
};

}  // namespace quill::provider
