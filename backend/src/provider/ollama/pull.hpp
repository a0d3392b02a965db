#pragma once
// POST /api/pull, streamed: Ollama's NDJSON progress lines ({status, digest?, total?,
// completed?}, an {"error": …} line on failure) become progress callbacks, paced: a line whose
// status differs from the last one reported is reported at once, the same status at most every
// `interval` (Ollama sends hundreds of lines a second while a layer downloads). There is no idle
// timeout: verifying a big layer's digest can take minutes without a byte.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http/curl_multi.hpp"
#include "http/http_transfer.hpp"
#include "http/line_splitter.hpp"
#include "provider/failure.hpp"

namespace quill::ollama {

class PullCall {
 public:
  // {status, digest?, total?, completed?}, types checked.
  using Progress = std::function<void(const nlohmann::json& progress)>;
  // nullopt: the pull succeeded.
  using Done = std::function<void(std::optional<provider::ProviderFailure> failure)>;

  PullCall(http::CurlMulti& multi, http::HttpRequest request, std::string host, std::string model,
           Progress progress, Done done,
           std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  bool start() { return transfer_.start(); }
  void abort() { transfer_.abort(); }

 private:
  bool on_data(long status, std::string_view bytes);
  void on_line(std::string_view line);
  void finish(const http::HttpResult& result);

  std::string host_;
  std::string model_;
  Progress progress_;
  Done done_;
  std::chrono::milliseconds interval_;
  http::LineSplitter lines_;
  std::string error_body_;
  std::optional<provider::ProviderFailure> failure_;
  bool succeeded_ = false;
  std::string last_status_;
  std::chrono::steady_clock::time_point last_sent_{};
  std::optional<nlohmann::json> held_;  // the latest line not reported yet
  http::HttpTransfer transfer_;
};

}  // namespace quill::ollama
