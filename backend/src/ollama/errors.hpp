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

// A 3xx answer (never followed): `http`, naming the status and the (redacted) location.
ProviderFailure redirected(long status, std::string_view location);
// A 2xx answer that is not JSON (an HTML login page): `bad_stream`, naming the content type.
ProviderFailure not_json(std::string_view content_type);

// The failure for a transfer that did not complete (anything but Complete and Aborted).
ProviderFailure transfer_failure(const http::HttpResult& result, std::string_view host);

// Ollama's {"error": "..."} text from a body, or the body itself (trimmed, shortened, made
// valid UTF-8: it goes into a JSON-RPC message).
std::string error_text(std::string_view body);

}  // namespace quill::ollama
