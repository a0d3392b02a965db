#pragma once
// What went wrong talking to Ollama, in the words the user sees (DESIGN.md's failure table).

#include <string>
#include <string_view>

#include "http/http_transfer.hpp"

namespace quill::ollama {

struct ProviderFailure {
  std::string kind;  // unreachable, model_not_found, http, stream_interrupted, bad_stream, timeout
  std::string message;  // for the user
  std::string detail;   // Ollama's or the transport's own text; may be empty
};

ProviderFailure unreachable(std::string_view host, std::string detail);
ProviderFailure timed_out(std::chrono::milliseconds after);
ProviderFailure interrupted(std::string detail);
ProviderFailure bad_stream(std::string_view what);
// An HTTP error status before any stream: 404 is a missing model, the rest carry Ollama's
// {"error": "..."} message (or the raw body).
ProviderFailure http_status(long status, std::string_view body, std::string_view model);

// The failure for a transfer that did not complete (anything but Complete and Aborted).
ProviderFailure transfer_failure(const http::HttpResult& result, std::string_view host);

// Ollama's {"error": "..."} text from a body, or the body itself (trimmed, shortened).
std::string error_text(std::string_view body);

}  // namespace quill::ollama
