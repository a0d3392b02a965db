#include "ollama/errors.hpp"

#include <nlohmann/json.hpp>

namespace quill::ollama {

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
  std::string text(body.substr(0, 300));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
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
    case Outcome::Complete:
    case Outcome::Stopped:
    case Outcome::Aborted:
      break;
  }
  return interrupted("");
}

}  // namespace quill::ollama
