#pragma once
// What went wrong talking to a provider, in the words the user sees (DESIGN.md's failure table).
// Ollama is named as such; an OpenAI-compatible endpoint is "the server".

#include <string>
#include <string_view>

#include "http/http_transfer.hpp"
#include "provider/settings.hpp"

namespace quill::provider {

struct ProviderFailure {
  // unreachable, model_not_found, http, tls, stream_interrupted, bad_stream, timeout, config
  std::string kind;
  std::string message;  // for the user
  std::string detail;   // the server's or the transport's own text; may be empty
};

ProviderFailure unreachable(Kind kind, std::string_view host, std::string detail);
ProviderFailure timed_out(Kind kind, std::chrono::milliseconds after);
ProviderFailure interrupted(std::string detail);
ProviderFailure bad_stream(Kind kind, std::string_view what);
// An HTTP error status before any stream. For Ollama 404 is a missing model; the rest carry the
// server's {"error": "..."} or {"error": {"message": "..."}} message (or the raw body). `url` is
// the request's (redacted) URL, named when a 404 may mean a wrong path.
ProviderFailure http_status(Kind kind, long status, std::string_view body, std::string_view model,
                            std::string_view url = "");

// A 3xx answer (never followed): `http`, naming the status and the (redacted) location.
ProviderFailure redirected(Kind kind, long status, std::string_view location);
// A 2xx answer that is not JSON (an HTML login page): `bad_stream`, naming the content type.
ProviderFailure not_json(Kind kind, std::string_view content_type);
// A configuration that cannot make a request (an unknown endpoint, an unset API key variable).
ProviderFailure config(std::string message);

// The failure for a transfer that did not complete (anything but Complete and Aborted).
ProviderFailure transfer_failure(Kind kind, const http::HttpResult& result, std::string_view host);

// Text the server chose (a body, a header, an error line), made fit for a message: valid UTF-8,
// at most `max` bytes (cut on a code point), no trailing blanks.
std::string server_text(std::string_view text, std::size_t max);

// The server's error text from a body ({"error": "..."}, {"error": {"message": "..."}}), or the
// body itself (trimmed, shortened, made valid UTF-8: it goes into a JSON-RPC message).
std::string error_text(std::string_view body);

}  // namespace quill::provider
