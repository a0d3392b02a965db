#include "provider/provider.hpp"

#include <cstdlib>

#include "provider/host.hpp"
#include "provider/ollama/chat_body.hpp"
#include "provider/ollama/models.hpp"
#include "provider/ollama/stream_decoder.hpp"
#include "provider/openai/chat_body.hpp"
#include "provider/openai/models.hpp"
#include "provider/openai/stream_decoder.hpp"

namespace quill::provider {
namespace {

class OllamaProvider final : public Provider {
 public:
  Kind kind() const override { return Kind::Ollama; }
  std::string chat_path() const override { return "/api/chat"; }
  std::string chat_body(const ChatRequest& request) const override {
    return ollama::build_chat_body(request);
  }
  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<ollama::StreamDecoder>();
  }
  std::string models_path() const override { return "/api/tags"; }
  std::optional<json> shape_models(const json& answer, std::string* problem) const override {
    return ollama::shape_tags(answer, problem);
  }
};

class OpenAIProvider final : public Provider {
 public:
  Kind kind() const override { return Kind::OpenAI; }
  std::string chat_path() const override { return "/chat/completions"; }
  std::string chat_body(const ChatRequest& request) const override {
    return openai::build_chat_body(request);
  }
  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<openai::StreamDecoder>();
  }
  std::string models_path() const override { return "/models"; }
  std::optional<json> shape_models(const json& answer, std::string* problem) const override {
    return openai::shape_models(answer, problem);
  }
};

}  // namespace

const Provider& provider_for(Kind kind) {
  static const OllamaProvider ollama;
  static const OpenAIProvider openai;
  if (kind == Kind::OpenAI) return openai;
  return ollama;
}

std::optional<http::HttpRequest> request_for(const ProviderSettings& settings,
                                             const std::string& method, const std::string& path,
                                             ProviderFailure* failure) {
  http::HttpRequest request;
  request.method = method;
  request.url = resolve_host(settings.host) + path;
  request.headers = settings.headers;
  request.connect_timeout = settings.timeouts.connect;
  request.first_byte_timeout = settings.timeouts.first_byte;
  request.idle_timeout = settings.timeouts.idle;
  if (!settings.api_key_env.empty()) {
    const char* key = std::getenv(settings.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      *failure = config("endpoint '" + settings.name + "': $" + settings.api_key_env +
                        " (its api_key_env) is not set in the editor's environment");
      return std::nullopt;
    }
    if (std::string_view(key).find_first_of("\r\n") != std::string_view::npos) {
      *failure = config("endpoint '" + settings.name + "': $" + settings.api_key_env +
                        " holds a line break, which would forge headers");
      return std::nullopt;
    }
    request.headers["Authorization"] = std::string("Bearer ") + key;
  }
  return request;
}

}  // namespace quill::provider
