#pragma once
// The provider seam: what differs between wire formats, behind one interface. A turn asks its
// endpoint's Provider for the chat request and a stream decoder and consumes neutral chunks
// (provider/chunk.hpp); models/list asks it for the models path and shapes the answer.

#include <memory>
#include <optional>
#include <string>

#include "http/http_transfer.hpp"
#include "provider/chat_request.hpp"
#include "provider/chunk.hpp"
#include "provider/failure.hpp"
#include "provider/settings.hpp"

namespace quill::provider {

class Provider {
 public:
  virtual ~Provider() = default;
  virtual Kind kind() const = 0;
  virtual std::string chat_path() const = 0;
  virtual std::string chat_body(const ChatRequest& request) const = 0;
  virtual std::unique_ptr<StreamDecoder> stream_decoder() const = 0;
  virtual std::string models_path() const = 0;
  // The models answer as models/list's result; nullopt and `problem` when it has a bad shape.
  virtual std::optional<json> shape_models(const json& answer, std::string* problem) const = 0;
};

const Provider& provider_for(Kind kind);

// A request to `path` of the endpoint: its base URL, headers, API key and timeouts. nullopt, and
// `failure`, when the API key's variable is not set.
std::optional<http::HttpRequest> request_for(const ProviderSettings& settings,
                                             const std::string& method, const std::string& path,
                                             ProviderFailure* failure);

}  // namespace quill::provider
