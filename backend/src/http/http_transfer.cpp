#include "http/http_transfer.hpp"

#include <algorithm>
#include <cctype>

#include "http/curl_multi.hpp"
#include "util/log.hpp"
#include "uv/guard.hpp"

namespace quill::http {

bool is_json_content_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back())))
    type.pop_back();
  type.erase(0, std::min(type.find_first_not_of(" \t"), type.size()));
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::string_view kJsonTypes[] = {
      "",
      "application/json",
      "application/x-ndjson",
      "application/ndjson",
      "text/plain",
      "application/x-jsonlines",
      "application/jsonlines",
      "application/jsonl",
      "text/event-stream",
  };
  if (std::find(std::begin(kJsonTypes), std::end(kJsonTypes), type) != std::end(kJsonTypes))
    return true;
  return type.starts_with("application/") && type.ends_with("+json");
}

HttpTransfer::HttpTransfer(CurlMulti& multi, HttpRequest request, OnData on_data, OnDone on_done)
    : multi_(multi),
      request_(std::move(request)),
      on_data_(std::move(on_data)),
      on_done_(std::move(on_done)) {}

HttpTransfer::~HttpTransfer() {
  if (running_) multi_.remove(*this);
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  if (header_list_ != nullptr) curl_slist_free_all(header_list_);
}

bool HttpTransfer::start() {
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return false;
  curl_easy_setopt(easy_, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpTransfer::on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request_.connect_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "quill-backend/" QUILL_VERSION);
  // A redirect is reported, never followed: it would carry the headers (Authorization) and the
  // prompt to wherever the server points.
  curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (request_.method == "POST") {
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request_.body.size()));
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, request_.body.data());  // request_ outlives it
    header_list_ = curl_slist_append(header_list_, "Content-Type: application/json");
  }
  // No "Expect: 100-continue" round trip before a large body.
  header_list_ = curl_slist_append(header_list_, "Expect:");
  for (const auto& [name, value] : request_.headers) {
    header_list_ = curl_slist_append(header_list_, (name + ": " + value).c_str());
  }
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);

  if (request_.first_byte_timeout.count() > 0 || request_.idle_timeout.count() > 0) {
    timer_ =
        uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(multi_.loop(), t); });
    timer_.get()->data = this;
  }
  if (!multi_.add(*this)) return false;
  running_ = true;
  arm_timer(request_.first_byte_timeout);
  return true;
}

void HttpTransfer::arm_timer(std::chrono::milliseconds after) {
  if (!timer_.ok()) return;
  if (after.count() <= 0) {
    uv_timer_stop(timer_.get());
    return;
  }
  armed_for_ = after;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<HttpTransfer*>(t->data);
        QLOG(Warn) << "no data from " << self->request_.url << " for " << self->armed_for_.count()
                   << " ms";
        uv::guarded("an HTTP timeout", [&] { self->end(HttpResult::Outcome::TimedOut, ""); });
      },
      static_cast<std::uint64_t>(after.count()), 0);
}

std::size_t HttpTransfer::on_write(char* data, std::size_t size, std::size_t count, void* userp) {
  auto* self = static_cast<HttpTransfer*>(userp);
  const std::size_t n = size * count;
  if (!self->got_bytes_) {
    self->got_bytes_ = true;
    if ((self->rejected_ = self->check_answer())) return 0;  // curl ends with CURLE_WRITE_ERROR
  }
  self->arm_timer(self->request_.idle_timeout);
  // Inside libcurl: an owner that throws stops the transfer, which then ends as not complete.
  bool go_on = false;
  uv::guarded("an HTTP body callback",
              [&] { go_on = self->on_data_(self->status_, std::string_view(data, n)); });
  if (!go_on) {
    self->stopped_by_data_ = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  return n;
}

std::optional<HttpResult::Outcome> HttpTransfer::check_answer() {
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status_);
  const char* type = nullptr;
  if (curl_easy_getinfo(easy_, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
    content_type_ = type;
  if (status_ >= 300 && status_ < 400) {
    const char* location = nullptr;
    if (curl_easy_getinfo(easy_, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
        location != nullptr)
      location_ = location;
    return HttpResult::Outcome::Redirected;
  }
  if (status_ >= 200 && status_ < 300 && !is_json_content_type(content_type_))
    return HttpResult::Outcome::NotJson;
  return std::nullopt;
}

namespace {

// A broken connection, said the way a person would; nullptr when curl's text is the best there is.
const char* dropped_in_words(CURLcode code, bool got_bytes) {
  switch (code) {
    case CURLE_PARTIAL_FILE:
      return got_bytes ? "the server closed the connection mid-answer"
                       : "the server closed the connection before answering";
    case CURLE_GOT_NOTHING:
      return "the server closed the connection without answering";
    case CURLE_RECV_ERROR:
      return got_bytes ? "the connection was reset mid-answer"
                       : "the connection was reset before an answer";
    case CURLE_SEND_ERROR:
      return "the connection broke while the request was being sent";
    case CURLE_OPERATION_TIMEDOUT:
      return "the connection timed out";
    default:
      return nullptr;
  }
}

}  // namespace

void HttpTransfer::finish(CURLcode code) {
  running_ = false;  // curl already removed the handle
  using Outcome = HttpResult::Outcome;
  if (rejected_) return end(*rejected_, "");
  if (stopped_by_data_) return end(Outcome::Stopped, "");
  if (code == CURLE_OK) {
    // An answer without a body byte is checked here.
    if (!got_bytes_) {
      if (auto rejected = check_answer()) return end(*rejected, "");
    }
    return end(Outcome::Complete, "");
  }
  std::string error = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
  const bool tls = code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CONNECT_ERROR ||
                   code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CACERT_BADFILE ||
                   code == CURLE_SSL_CIPHER || code == CURLE_SSL_ISSUER_ERROR;
  const bool no_connection = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                             code == CURLE_COULDNT_RESOLVE_PROXY ||
                             (code == CURLE_OPERATION_TIMEDOUT && !got_bytes_ && status_ == 0);
  if (!tls && !no_connection) {
    // curl's words ("transfer closed with outstanding read data remaining") go to the log; the
    // user reads what happened
    QLOG(Info) << "transfer dropped: " << error;
    const char* said = dropped_in_words(code, got_bytes_);
    error = said != nullptr ? said : "the connection broke: " + error;
  }
  end(tls             ? Outcome::TlsError
      : no_connection ? Outcome::ConnectError
                      : Outcome::Dropped,
      std::move(error));
}

void HttpTransfer::abort() {
  end(HttpResult::Outcome::Aborted, "");
}

void HttpTransfer::end(HttpResult::Outcome outcome, std::string error) {
  if (!on_done_) return;  // already ended
  if (running_) {
    running_ = false;
    multi_.remove(*this);  // an incomplete response's connection is closed, not reused
  }
  timer_.close();
  if (status_ == 0 && easy_ != nullptr) curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status_);
  HttpResult result;
  result.outcome = outcome;
  result.status = status_;
  result.error = std::move(error);
  result.got_bytes = got_bytes_;
  result.timeout = armed_for_;
  result.content_type = content_type_;
  result.location = location_;
  auto done = std::move(on_done_);
  on_done_ = nullptr;
  done(result);  // last statement: the owner may destroy us now
}

}  // namespace quill::http
