#include "ollama/errors.hpp"

#include <nlohmann/json.hpp>

#include "ollama/host.hpp"
#include "util/utf8.hpp"

namespace quill::ollama {
namespace {

// Text the server chose (a body, a header), made fit for a message: valid UTF-8, at most `max`
// bytes, no trailing blanks.
std::string server_text(std::string_view text, std::size_t max) {
  std::string out;
  util::assign_valid_utf8(out, text.substr(0, max));
  out.resize(util::utf8_prefix(out, max));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' '))
    out.pop_back();
  return out;
}

}  // namespace

ProviderFailure unreachable(std::string_view host, std::string detail) {
  return {"unreachable",
          "Ollama is not reachable at " + std::string(host) + " — is `ollama serve` running?",
          std::move(detail)};
}

ProviderFailure timed_out(std::chrono::milliseconds after) {
  const auto ms = after.count();
  const std::string amount =
      ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  return {"timeout", "timed out after " + amount + " without data from Ollama", ""};
}

ProviderFailure interrupted(std::string detail) {
  return {"stream_interrupted", detail.empty() ? "stream interrupted" : detail, detail};
}

ProviderFailure bad_stream(std::string_view what) {
  return {"bad_stream", "bad stream from Ollama: " + std::string(what), std::string(what)};
}

std::string error_text(std::string_view body) {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    const auto it = parsed.find("error");
    if (it != parsed.end() && it->is_string()) return it->get<std::string>();
  }
  return server_text(body, 300);
}

ProviderFailure redirected(long status, std::string_view location) {
  const std::string where =
      location.empty() ? "nowhere (no Location)" : server_text(redact_host(location), 300);
  return {"http",
          "Ollama answered HTTP " + std::to_string(status) + ", a redirect to " + where +
              " (not followed: set the host to the address that answers)",
          "redirect to " + where};
}

ProviderFailure not_json(std::string_view content_type) {
  return bad_stream("the answer is " + server_text(content_type, 100) +
                    ", not JSON: is the host Ollama's API?");
}

ProviderFailure http_status(long status, std::string_view body, std::string_view model) {
  std::string detail = error_text(body);
  if (status == 404 && !model.empty()) {
    return {"model_not_found",
            "model '" + std::string(model) + "' not found — run `ollama pull " +
                std::string(model) + "`",
            std::move(detail)};
  }
  std::string message = "Ollama answered HTTP " + std::to_string(status);
  if (!detail.empty()) message += ": " + detail;
  return {"http", std::move(message), std::move(detail)};
}

ProviderFailure transfer_failure(const http::HttpResult& result, std::string_view host) {
  using Outcome = http::HttpResult::Outcome;
  switch (result.outcome) {
    case Outcome::ConnectError:
      return unreachable(host, result.error);
    case Outcome::TimedOut:
      return timed_out(result.timeout);
    case Outcome::Dropped:
      return interrupted(result.error.empty() ? "" : "stream interrupted: " + result.error);
    case Outcome::Redirected:
      return redirected(result.status, result.location);
    case Outcome::NotJson:
      return not_json(result.content_type);
    case Outcome::Complete:
    case Outcome::Stopped:
    case Outcome::Aborted:
      break;
  }
  return interrupted("");
}

}  // namespace quill::ollama
