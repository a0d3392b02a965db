#pragma once
// How to reach the provider, as the editor configured it in `initialize`.

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace quill::ollama {

struct Timeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds first_byte{300000};  // model loading can take minutes
  std::chrono::milliseconds idle{60000};
};

struct ProviderSettings {
  // The base URL: initialize sets it to the checked one (configured, else $OLLAMA_HOST, else the
  // default), without credentials, which become an Authorization header.
  std::optional<std::string> host;
  std::map<std::string, std::string> headers;
  Timeouts timeouts;
};

}  // namespace quill::ollama
