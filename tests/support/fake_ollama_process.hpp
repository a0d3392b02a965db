#pragma once
// Runs tests/support/fake_ollama (the `fake-ollama` binary) on an ephemeral loopback port for a
// test, and reads its counters.

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace quill::test {

// A scenario parameter value (calls=<JSON>, then=<text>), percent-encoded for the model name.
std::string url_encode(const std::string& text);

class FakeOllamaProcess {
 public:
  explicit FakeOllamaProcess(std::vector<std::string> args = {});
  ~FakeOllamaProcess();
  FakeOllamaProcess(const FakeOllamaProcess&) = delete;
  FakeOllamaProcess& operator=(const FakeOllamaProcess&) = delete;

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  // GET /_fake/stats: {requests, completed, aborted, active, connections, last_request, last_text}.
  nlohmann::json stats() const;
  // Polls stats until `pred` holds or `timeout_ms` passes; returns the last stats.
  template <typename Pred>
  nlohmann::json wait_stats(Pred pred, int timeout_ms = 3000) const;

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// A blocking HTTP GET for tests (libcurl easy); returns the body.
std::string http_get(const std::string& url);

template <typename Pred>
nlohmann::json FakeOllamaProcess::wait_stats(Pred pred, int timeout_ms) const {
  nlohmann::json s;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    s = stats();
    if (pred(s)) break;
    struct timespec ts {
      0, 10 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  return s;
}

}  // namespace quill::test
