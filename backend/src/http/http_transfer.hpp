#pragma once
// One HTTP request with a streamed response body, run by a CurlMulti. Owns its easy handle and
// its first-byte/idle timer. Callbacks run on the loop thread; on_done runs exactly once, after
// which the transfer may be destroyed by its owner.

#include <curl/curl.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "uv/handle.hpp"

namespace quill::http {

class CurlMulti;

struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::string body;  // POST body (JSON)
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds first_byte_timeout{0};  // 0: none
  std::chrono::milliseconds idle_timeout{0};        // 0: none
};

struct HttpResult {
  enum class Outcome {
    Complete,      // the whole response arrived
    ConnectError,  // no connection (refused, DNS, connect timeout)
    TlsError,    // the TLS handshake failed (a certificate not trusted, expired, for another name)
    Dropped,     // the connection broke before the response was complete
    TimedOut,    // our first-byte or idle timer fired
    Stopped,     // on_data asked to stop
    Aborted,     // abort() was called
    Redirected,  // a 3xx answer: never followed (see `location`)
    NotJson,     // a 2xx answer whose Content-Type is not JSON (see `content_type`)
  };
  Outcome outcome = Outcome::Complete;
  long status = 0;                       // HTTP status, 0 if none arrived
  std::string error;                     // curl's text for failures (Dropped: in words)
  bool got_bytes = false;                // any body byte arrived
  std::chrono::milliseconds timeout{0};  // for TimedOut: the limit that was exceeded
  std::string content_type;              // the response's, as sent ("" if none)
  std::string location;                  // for Redirected: where it pointed ("" if nowhere)
};

// Whether a Content-Type names JSON, NDJSON or an event stream (or is absent): what the APIs
// answer with. text/plain passes too (proxies relabel streams; a body that is not JSON still fails
// to parse).
bool is_json_content_type(std::string_view content_type);

class HttpTransfer {
 public:
  // Body bytes as they arrive, with the status known. Return false to stop the transfer.
  using OnData = std::function<bool(long status, std::string_view bytes)>;
  using OnDone = std::function<void(const HttpResult& result)>;

  HttpTransfer(CurlMulti& multi, HttpRequest request, OnData on_data, OnDone on_done);
  ~HttpTransfer();
  HttpTransfer(const HttpTransfer&) = delete;
  HttpTransfer& operator=(const HttpTransfer&) = delete;

  bool start();
  // Stops the transfer and closes its connection; on_done runs (Aborted) before this returns.
  void abort();
  bool running() const { return running_; }

 private:
  friend class CurlMulti;
  static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* userp);
  void finish(CURLcode code);  // from CurlMulti when curl is done with it
  void end(HttpResult::Outcome outcome, std::string error);
  void arm_timer(std::chrono::milliseconds after);
  // Reads the status and headers once they arrived; an answer that is not the API (a redirect,
  // a 2xx page that is not JSON) gives the outcome that ends the transfer.
  std::optional<HttpResult::Outcome> check_answer();

  CurlMulti& multi_;
  HttpRequest request_;
  OnData on_data_;
  OnDone on_done_;
  CURL* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  uv::UvHandle<uv_timer_t> timer_;
  std::chrono::milliseconds armed_for_{0};
  bool running_ = false;
  bool stopped_by_data_ = false;
  std::optional<HttpResult::Outcome> rejected_;  // the answer is not the API
  bool got_bytes_ = false;
  long status_ = 0;
  std::string content_type_;
  std::string location_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

}  // namespace quill::http
