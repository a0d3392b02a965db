#include "provider/failure.hpp"

#include <nlohmann/json.hpp>

#include "provider/host.hpp"
#include "util/utf8.hpp"

namespace quill::provider {

std::string server_text(std::string_view text, std::size_t max) {
  std::string out;
  util::assign_valid_utf8(out, text.substr(0, max));
  out.resize(util::utf8_prefix(out, max));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' '))
    out.pop_back();
  return out;
}

namespace {

std::string server(Kind kind) {
  return kind == Kind::Ollama ? "Ollama" : "the server";
}

std::string capitalised(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 32);
  return text;
}

}  // namespace

std::string_view kind_name(Kind kind) {
  return kind == Kind::Ollama ? "ollama" : "openai";
}

ProviderFailure unreachable(Kind kind, std::string_view host, std::string detail) {
  const std::string hint =
      kind == Kind::Ollama ? " — is `ollama serve` running?" : " — is the server running?";
  return {"unreachable",
          capitalised(server(kind)) + " is not reachable at " + std::string(host) + hint,
          std::move(detail)};
}

ProviderFailure timed_out(Kind kind, std::chrono::milliseconds after) {
  const auto ms = after.count();
  const std::string amount =
      ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  return {"timeout", "timed out after " + amount + " without data from " + server(kind), ""};
}

ProviderFailure interrupted(std::string detail) {
  detail = server_text(detail, 1000);  // the server's words: a message, not a payload
  return {"stream_interrupted", detail.empty() ? "stream interrupted" : detail, detail};
}

ProviderFailure bad_stream(Kind kind, std::string_view what) {
  return {"bad_stream", "bad stream from " + server(kind) + ": " + std::string(what),
          std::string(what)};
}

ProviderFailure config(std::string message) {
  return {"config", std::move(message), ""};
}

std::string error_text(std::string_view body) {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    const auto it = parsed.find("error");
    if (it != parsed.end() && it->is_string()) return server_text(it->get<std::string>(), 1000);
    // OpenAI's shape (and proxies in front of Ollama): {"error": {"message": "...", ...}}.
    if (it != parsed.end() && it->is_object()) {
      const auto message = it->find("message");
      if (message != it->end() && message->is_string())
        return server_text(message->get<std::string>(), 1000);
    }
  }
  return server_text(body, 300);
}

ProviderFailure redirected(Kind kind, long status, std::string_view location) {
  const std::string where =
      location.empty() ? "nowhere (no Location)" : server_text(redact_host(location), 300);
  return {"http",
          capitalised(server(kind)) + " answered HTTP " + std::to_string(status) +
              ", a redirect to " + where +
              " (not followed: set the host to the address that answers)",
          "redirect to " + where};
}

ProviderFailure not_json(Kind kind, std::string_view content_type) {
  return bad_stream(kind,
                    "the answer is " + server_text(content_type, 100) + ", not JSON: " +
                        (kind == Kind::Ollama ? "is the host Ollama's API?"
                                              : "is the url the API's (often ending in /v1)?"));
}

ProviderFailure http_status(Kind kind, long status, std::string_view body, std::string_view model,
                            std::string_view url) {
  std::string detail = error_text(body);
  if (status == 404 && !model.empty() && kind == Kind::Ollama) {
    return {"model_not_found",
            "model '" + std::string(model) + "' not found — run `ollama pull " +
                std::string(model) + "`",
            std::move(detail)};
  }
  if (status == 404 && kind == Kind::OpenAI && detail.find("model") != std::string::npos &&
      !model.empty()) {
    return {"model_not_found", "model '" + std::string(model) + "' not found: " + detail,
            std::move(detail)};
  }
  std::string message = capitalised(server(kind)) + " answered HTTP " + std::to_string(status);
  if (!detail.empty()) message += ": " + detail;
  if (status == 404 && kind == Kind::OpenAI && !url.empty())
    message += " (at " + server_text(redact_host(url), 300) + ": does the url end in /v1?)";
  return {"http", std::move(message), std::move(detail)};
}

ProviderFailure transfer_failure(Kind kind, const http::HttpResult& result, std::string_view host) {
  using Outcome = http::HttpResult::Outcome;
  switch (result.outcome) {
    case Outcome::ConnectError:
      return unreachable(kind, host, result.error);
    case Outcome::TlsError:
      return {"tls",
              "TLS with " + std::string(host) + " failed: " + server_text(result.error, 300) +
                  " (is the certificate trusted and for this name?)",
              result.error};
    case Outcome::TimedOut:
      return timed_out(kind, result.timeout);
    case Outcome::Dropped:
      return interrupted(result.error);
    case Outcome::Redirected:
      return redirected(kind, result.status, result.location);
    case Outcome::NotJson:
      return not_json(kind, result.content_type);
    case Outcome::Complete:
    case Outcome::Stopped:
    case Outcome::Aborted:
      break;
  }
  return interrupted("");
}

}  // namespace quill::provider
