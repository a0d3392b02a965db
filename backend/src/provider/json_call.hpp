#pragma once
// A request whose answer is one JSON document (Ollama's /api/tags, /api/show, /api/version; an
// OpenAI-compatible server's /models):
// the body is collected, then parsed; failures come back in the user's words.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http/curl_multi.hpp"
#include "http/http_transfer.hpp"
#include "provider/failure.hpp"

namespace quill::provider {

class JsonCall {
 public:
  static constexpr std::size_t kMaxBody = 16 * 1024 * 1024;
  // Exactly one of the two is set.
  using Done = std::function<void(std::optional<nlohmann::json> answer,
                                  std::optional<ProviderFailure> failure)>;

  // `model` names the model a 404 is about ("" when a 404 means something else).
  JsonCall(http::CurlMulti& multi, Kind kind, http::HttpRequest request, std::string host,
           std::string model, Done done);
  bool start() { return transfer_.start(); }
  void abort() { transfer_.abort(); }

 private:
  void finish(const http::HttpResult& result);

  Kind kind_;
  std::string host_;
  std::string url_;
  std::string model_;
  Done done_;
  std::string body_;
  bool too_big_ = false;
  http::HttpTransfer transfer_;
};

}  // namespace quill::provider
