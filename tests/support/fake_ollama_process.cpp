#include "fake_ollama_process.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "spawn.hpp"

namespace quill::test {

std::string url_encode(const std::string& text) {
  char* out = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  std::string encoded(out);
  curl_free(out);
  return encoded;
}

FakeOllamaProcess::FakeOllamaProcess(std::vector<std::string> args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv = {QUILL_FAKE_OLLAMA_PATH, "--port", "0", "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(std::move(argv), -1, out[1], -1);
  ::close(out[1]);
  // First line: "listening on http://127.0.0.1:PORT".
  std::string line;
  char c = 0;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.size() < 200 && ::poll(&pfd, 1, 5000) > 0 && ::read(out[0], &c, 1) == 1 &&
         c != '\n') {
    line += c;
  }
  ::close(out[0]);
  const auto at = line.find("http://");
  if (at == std::string::npos)
    throw std::runtime_error("fake-ollama did not start: '" + line + "'");
  url_ = line.substr(at);
}

FakeOllamaProcess::~FakeOllamaProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

namespace {
std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
}  // namespace

std::string http_get(const std::string& url) {
  CURL* easy = curl_easy_init();
  std::string body;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
  const CURLcode rc = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  if (rc != CURLE_OK) throw std::runtime_error("GET " + url + ": " + curl_easy_strerror(rc));
  return body;
}

nlohmann::json FakeOllamaProcess::stats() const {
  return nlohmann::json::parse(http_get(url_ + "/_fake/stats"));
}

}  // namespace quill::test
