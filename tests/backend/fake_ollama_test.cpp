// Tests of the fake Ollama server itself (tests/support/fake_ollama), run as the real binary:
// each test spawns build/fake-ollama on an ephemeral loopback port and talks to it with blocking
// libcurl or a raw socket. The lead's integration tests rely on exactly these behaviours.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_ollama_process.hpp"

namespace {

using quill::test::url_encode;

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const int kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ::signal(SIGPIPE, SIG_IGN);
  return 0;
}();

std::string read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::ostringstream all;
  all << file.rdbuf();
  return all.str();
}

std::string fixture_path(const std::string& name) {
  return std::string(QUILL_FIXTURES_DIR) + "/ollama/" + name;
}

// ---- the fake as a child process ---------------------------------------------------------------

class FakeProcess {
 public:
  explicit FakeProcess(std::vector<std::string> extra = {}) {
    (void)kCurlReady;
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {QUILL_FAKE_OLLAMA_PATH, "--port", "0", "--quiet",
                                     "--exit-on-stdin-eof"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    in_fd_ = in_pipe[1];
    out_fd_ = out_pipe[0];
    first_line_ = read_line(10s);
    const std::string prefix = "listening on http://127.0.0.1:";
    if (first_line_.rfind(prefix, 0) == 0) port_ = std::stoi(first_line_.substr(prefix.size()));
  }
  ~FakeProcess() {
    close_stdin();
    if (!exited_) {
      if (!wait_exit(3s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;

  int port() const { return port_; }
  const std::string& first_line() const { return first_line_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void close_stdin() {
    if (in_fd_ >= 0) ::close(in_fd_);
    in_fd_ = -1;
  }
  void send_signal(int sig) { ::kill(pid_, sig); }
  // The exit status if the process exited within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

 private:
  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd pfd{out_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      char c = 0;
      const ssize_t n = ::read(out_fd_, &c, 1);
      if (n <= 0) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  bool exited_ = false;
  std::string first_line_;
};

// ---- blocking libcurl --------------------------------------------------------------------------

struct Request {
  Request(std::string m, std::string p, std::string b = {}, std::vector<std::string> h = {},
          int abort_after = 0)
      : method(std::move(m)),
        path(std::move(p)),
        body(std::move(b)),
        headers(std::move(h)),
        abort_after_lines(abort_after) {}
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::string> headers;
  int abort_after_lines = 0;  // the client closes once the body holds this many lines
  long timeout_ms = 10000;
};

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;
  std::string body;
  double first_byte_s = 0;
  double total_s = 0;

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < body.size()) {
      const std::size_t nl = body.find('\n', pos);
      if (nl == std::string::npos) {
        out.push_back(body.substr(pos));
        break;
      }
      out.push_back(body.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }
  bool has_header(const std::string& line) const {
    return headers.find(line + "\r\n") != std::string::npos;
  }
};

struct Sink {
  std::string* out;
  int abort_after_lines;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  sink->out->append(data, size * n);
  if (sink->abort_after_lines > 0) {
    long lines = 0;
    for (char c : *sink->out)
      lines += c == '\n';
    if (lines >= sink->abort_after_lines) return 0;  // abort: curl closes the connection
  }
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Runs `request` on `easy` (reused handles keep their connections).
Response perform(CURL* easy, const FakeProcess& fake, const Request& request) {
  Response response;
  curl_easy_reset(easy);
  const std::string url = fake.url(request.path);
  Sink sink{&response.body, request.abort_after_lines};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response.headers);
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers)
    headers = curl_slist_append(headers, h.c_str());
  if (request.method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  response.code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME, &response.first_byte_s);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &response.total_s);
  curl_slist_free_all(headers);
  return response;
}

Response fetch(const FakeProcess& fake, const Request& request) {
  CURL* easy = curl_easy_init();
  Response response = perform(easy, fake, request);
  curl_easy_cleanup(easy);
  return response;
}

Response get(const FakeProcess& fake, const std::string& path) {
  return fetch(fake, Request("GET", path));
}

std::string chat_body(const std::string& model, const std::string& prompt = "hi") {
  return json{{"model", model},
              {"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
              {"stream", true}}
      .dump();
}

Response chat(const FakeProcess& fake, const std::string& model, int abort_after_lines = 0) {
  return fetch(fake, Request("POST", "/api/chat", chat_body(model), {}, abort_after_lines));
}

json stats(const FakeProcess& fake) {
  const Response r = get(fake, "/_fake/stats");
  EXPECT_EQ(r.status, 200);
  return json::parse(r.body);
}

// Token i of the text scenarios, written independently of the fake's code.
std::string token(int i) {
  const char* suffixes[] = {"", "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x91\x8B", "\n"};
  return "t" + std::to_string(i) + suffixes[(i - 1) % 5] + " ";
}

std::string expected_text(int first, int last) {
  std::string out;
  for (int i = first; i <= last; ++i)
    out += token(i);
  return out;
}

// Checks that `lines` are `count` content lines carrying tokens 1..count; returns their text.
std::string check_token_lines(const std::vector<std::string>& lines, int count,
                              const std::string& model) {
  std::string text;
  EXPECT_GE(static_cast<int>(lines.size()), count);
  for (int i = 0; i < count && i < static_cast<int>(lines.size()); ++i) {
    const json line = json::parse(lines[static_cast<std::size_t>(i)]);
    EXPECT_EQ(line["model"], model);
    EXPECT_EQ(line["done"], false);
    EXPECT_EQ(line["message"]["role"], "assistant");
    EXPECT_EQ(line["message"]["content"], token(i + 1)) << "line " << i;
    const std::string created = line["created_at"];
    EXPECT_EQ(created.rfind("2026-", 0), 0u);
    EXPECT_EQ(created.back(), 'Z');
    text += line["message"]["content"].get<std::string>();
  }
  return text;
}

void check_done_line(const std::string& text, int eval_count) {
  const json done = json::parse(text);
  EXPECT_EQ(done["done"], true);
  EXPECT_EQ(done["done_reason"], "stop");
  EXPECT_EQ(done["message"]["content"], "");
  EXPECT_EQ(done["eval_count"], eval_count);
  for (const char* key : {"total_duration", "load_duration", "prompt_eval_count",
                          "prompt_eval_duration", "eval_duration"})
    EXPECT_TRUE(done[key].is_number_integer()) << key;
}

// ---- raw sockets -------------------------------------------------------------------------------

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Reads until `done(buffer)` holds, EOF or the timeout; returns done(buffer).
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!done(buffer) && !eof && Clock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        eof = true;
        break;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    return done(buffer);
  }
  // With `reset`, the close sends RST instead of FIN.
  void close(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd_);
    fd_ = -1;
  }

  std::string buffer;
  bool eof = false;

 private:
  int fd_ = -1;
};

struct RawResponse {
  int status = 0;
  std::string head;
  std::vector<std::string> chunks;  // chunked: every chunk as sent
  std::string body;
  bool terminated = false;  // chunked: the 0-size chunk arrived
  std::size_t consumed = 0;
};

// Parses one response at the start of `bytes`; nullopt while incomplete.
std::optional<RawResponse> parse_response(const std::string& bytes) {
  RawResponse r;
  const std::size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  r.head = bytes.substr(0, head_end + 4);
  r.status = std::stoi(r.head.substr(9, 3));
  std::size_t pos = head_end + 4;
  if (r.status / 100 == 1) {  // 100 Continue: a head without body
    r.consumed = pos;
    return r;
  }
  const std::size_t cl = r.head.find("Content-Length: ");
  if (cl != std::string::npos) {
    const std::size_t length = std::stoul(r.head.substr(cl + 16));
    if (bytes.size() < pos + length) return std::nullopt;
    r.body = bytes.substr(pos, length);
    r.consumed = pos + length;
    return r;
  }
  for (;;) {
    const std::size_t line_end = bytes.find("\r\n", pos);
    if (line_end == std::string::npos) return std::nullopt;
    const std::size_t size = std::stoul(bytes.substr(pos, line_end - pos), nullptr, 16);
    if (bytes.size() < line_end + 2 + size + 2) return std::nullopt;
    if (bytes.compare(line_end + 2 + size, 2, "\r\n") != 0)
      throw std::runtime_error("bad chunk framing");
    pos = line_end + 2 + size + 2;
    if (size == 0) {
      r.terminated = true;
      r.consumed = pos;
      return r;
    }
    r.chunks.push_back(bytes.substr(line_end + 2, size));
    r.body += r.chunks.back();
  }
}

std::string raw_post(const std::string& path, const std::string& body,
                     const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::optional<RawResponse> raw_exchange(RawClient& client, const std::string& request) {
  client.send(request);
  client.read_until([](const std::string& b) { return parse_response(b).has_value(); });
  std::optional<RawResponse> r = parse_response(client.buffer);
  if (r) client.buffer.erase(0, r->consumed);
  return r;
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80         ? 1
                          : (c >> 5) == 6  ? 2
                          : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4
                                           : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

// Polls stats until `pred` holds or `timeout` passes; returns the last stats.
json wait_stats(const FakeProcess& fake, const std::function<bool(const json&)>& pred,
                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  json s = stats(fake);
  while (!pred(s) && Clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    s = stats(fake);
  }
  return s;
}

// ---- tests -------------------------------------------------------------------------------------

TEST(FakeOllama, PrintsListeningLineAndServesVersion) {
  FakeProcess fake;
  ASSERT_GT(fake.port(), 0) << fake.first_line();
  EXPECT_EQ(fake.first_line(), "listening on http://127.0.0.1:" + std::to_string(fake.port()));
  const Response r = get(fake, "/api/version");
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"version":"0.12.6"})");
  EXPECT_TRUE(r.has_header("Content-Type: application/json; charset=utf-8")) << r.headers;
  EXPECT_TRUE(r.has_header("Content-Length: 20")) << r.headers;
}

TEST(FakeOllama, RootSaysOllamaIsRunning) {
  FakeProcess fake;
  const Response r = get(fake, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Ollama is running");
  const Response head = fetch(fake, Request("HEAD", "/api/version"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST(FakeOllama, TagsServesTheFixtureBytes) {
  FakeProcess fake;
  const Response r = get(fake, "/api/tags");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, read_text_file(fixture_path("api-tags.json")));
  EXPECT_TRUE(r.has_header("Content-Type: application/json; charset=utf-8"));
}

TEST(FakeOllama, TagsFallsBackToABuiltInList) {
  FakeProcess fake({"--fixtures", "/nonexistent/fixtures"});
  const Response r = get(fake, "/api/tags");
  ASSERT_EQ(r.status, 200);
  const json tags = json::parse(r.body);
  std::vector<std::string> names;
  for (const json& m : tags["models"])
    names.push_back(m["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"llama3.2:latest", "fake:latest"}));
}

TEST(FakeOllama, ShowKnownModels) {
  FakeProcess fake;
  Response r = fetch(fake, Request("POST", "/api/show", R"({"model":"llama3.2"})"));
  ASSERT_EQ(r.status, 200);
  json show = json::parse(r.body);
  EXPECT_EQ(show["capabilities"], json({"completion", "tools"}));
  EXPECT_EQ(show["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(show["model_info"]["llama.context_length"], 131072);
  EXPECT_TRUE(show["details"].is_object());

  // A model of api-tags.json answers with its own capabilities.
  r = fetch(fake, Request("POST", "/api/show", R"({"model":"qwen3:8b"})"));
  ASSERT_EQ(r.status, 200);
  show = json::parse(r.body);
  EXPECT_EQ(show["capabilities"], json({"completion", "tools", "thinking"}));
  EXPECT_EQ(show["model_info"]["qwen3.context_length"], 40960);

  // Any other name is "known" too (the fake has every model but `missing*`).
  r = fetch(fake, Request("POST", "/api/show", R"({"model":"text?tokens=3"})"));
  EXPECT_EQ(r.status, 200);
}

TEST(FakeOllama, ShowMissingModelIs404) {
  FakeProcess fake;
  const Response r = fetch(fake, Request("POST", "/api/show", R"({"model":"missing-model"})"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"model 'missing-model' not found"})");
}

TEST(FakeOllama, UnknownRoutesAre404Json) {
  FakeProcess fake;
  for (const Request& req : {Request("GET", "/api/nothing"), Request("GET", "/api/chat"),
                             Request("DELETE", "/api/tags")}) {
    const Response r = fetch(fake, req);
    EXPECT_EQ(r.status, 404) << req.method << " " << req.path;
    EXPECT_EQ(r.body, R"({"error":"not found"})");
  }
  EXPECT_EQ(stats(fake)["requests"], 0);
}

TEST(FakeOllama, TextStreamsExactlyNTokensThenDone) {
  FakeProcess fake;
  const Response r = chat(fake, "text?tokens=12");
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.has_header("Content-Type: application/x-ndjson")) << r.headers;
  EXPECT_TRUE(r.has_header("Transfer-Encoding: chunked")) << r.headers;
  EXPECT_EQ(r.headers.find("Content-Length"), std::string::npos);
  ASSERT_EQ(r.body.back(), '\n');
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 13u);
  const std::string text = check_token_lines(lines, 12, "text?tokens=12");
  EXPECT_EQ(text, expected_text(1, 12));
  check_done_line(lines.back(), 12);

  const json s = stats(fake);
  EXPECT_EQ(s["requests"], 1);
  EXPECT_EQ(s["completed"], 1);
  EXPECT_EQ(s["aborted"], 0);
  EXPECT_EQ(s["active"], 0);
  EXPECT_EQ(s["last_text"], expected_text(1, 12));
  EXPECT_EQ(s["last_request"], json::parse(chat_body("text?tokens=12")));
}

TEST(FakeOllama, TextSendsOneChunkPerLine) {
  FakeProcess fake;
  RawClient client(fake.port());
  const auto r = raw_exchange(client, raw_post("/api/chat", chat_body("text?tokens=6")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->terminated);
  ASSERT_EQ(r->chunks.size(), 7u);
  for (const std::string& chunk : r->chunks) {
    EXPECT_EQ(chunk.back(), '\n');
    EXPECT_EQ(chunk.find('\n'), chunk.size() - 1);
  }
  // Go escapes nothing but what JSON needs: the UTF-8 arrives raw.
  EXPECT_NE(r->body.find(R"("content":"t3日本 ")"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find(R"("content":"t5\n ")"), std::string::npos) << r->body;
}

TEST(FakeOllama, KeepAliveServesSeveralRequestsOnOneConnection) {
  FakeProcess fake;
  CURL* easy = curl_easy_init();
  const Request req("POST", "/api/chat", chat_body("text?tokens=3"));
  const Response a = perform(easy, fake, req);
  const Response b = perform(easy, fake, req);
  const Response s = perform(easy, fake, Request("GET", "/_fake/stats"));
  curl_easy_cleanup(easy);
  EXPECT_EQ(a.code, CURLE_OK);
  EXPECT_EQ(b.code, CURLE_OK);
  EXPECT_EQ(a.body, b.body);
  const json st = json::parse(s.body);
  EXPECT_EQ(st["connections"], 1);
  EXPECT_EQ(st["requests"], 2);
  EXPECT_EQ(st["completed"], 2);
}

TEST(FakeOllama, ConnectionCloseIsHonoured) {
  FakeProcess fake;
  RawClient client(fake.port());
  const auto r = raw_exchange(
      client, raw_post("/api/chat", chat_body("text?tokens=2"), "Connection: close\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->head.find("Connection: close\r\n"), std::string::npos);
  client.read_until([](const std::string&) { return false; }, 2s);
  EXPECT_TRUE(client.eof) << "the server must close after the response";
  EXPECT_TRUE(client.buffer.empty());
}

TEST(FakeOllama, RequestBytesMaySplitAnywhere) {
  FakeProcess fake;
  RawClient client(fake.port());
  const std::string request =
      raw_post("/api/show", R"({"model":"llama3.2"})", "Expect: 100-continue\r\n");
  for (std::size_t cut = 1; cut < request.size(); ++cut) {
    client.send(request.substr(0, cut));
    std::this_thread::sleep_for(1ms);
    const auto r = raw_exchange(client, request.substr(cut));
    ASSERT_TRUE(r.has_value()) << "cut at " << cut;
    std::optional<RawResponse> final_response = r;
    if (r->status == 100) final_response = raw_exchange(client, "");
    ASSERT_TRUE(final_response.has_value()) << "cut at " << cut;
    ASSERT_EQ(final_response->status, 200) << "cut at " << cut;
    ASSERT_EQ(json::parse(final_response->body)["model_info"]["general.architecture"], "llama");
  }
  // And one byte at a time.
  for (char c : request) {
    client.send(std::string(1, c));
    std::this_thread::sleep_for(200us);
  }
  auto r = raw_exchange(client, "");
  ASSERT_TRUE(r.has_value());
  if (r->status == 100) r = raw_exchange(client, "");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(stats(fake)["connections"], 2);  // the raw one and the stats request
}

TEST(FakeOllama, SplitDeliversIdenticalContentInTinyChunks) {
  FakeProcess fake;
  RawClient client(fake.port());
  const auto r = raw_exchange(client, raw_post("/api/chat", chat_body("split?tokens=15")));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->terminated);
  bool cut_inside_a_character = false;
  for (const std::string& chunk : r->chunks) {
    EXPECT_GE(chunk.size(), 1u);
    EXPECT_LE(chunk.size(), 3u);
    cut_inside_a_character = cut_inside_a_character || !valid_utf8(chunk);
  }
  EXPECT_TRUE(cut_inside_a_character);

  Response whole;
  whole.body = r->body;
  const std::vector<std::string> lines = whole.lines();
  ASSERT_EQ(lines.size(), 16u);
  EXPECT_EQ(check_token_lines(lines, 15, "split?tokens=15"), expected_text(1, 15));
  check_done_line(lines.back(), 15);
  EXPECT_EQ(stats(fake)["last_text"], expected_text(1, 15));

  // Through curl too: the same content as the one-chunk-per-line scenario.
  const Response split = chat(fake, "split?tokens=15");
  const Response text = chat(fake, "text?tokens=15");
  ASSERT_EQ(split.code, CURLE_OK);
  Response patched = split;
  std::string& b = patched.body;
  for (std::size_t at = b.find("split?tokens=15"); at != std::string::npos;
       at = b.find("split?tokens=15", at))
    b.replace(at, 15, "text?tokens=15");
  EXPECT_EQ(patched.body, text.body);
}

TEST(FakeOllama, ErrorLineEndsTheBodyCleanly) {
  FakeProcess fake;
  const Response r = chat(fake, "error?after=4");
  EXPECT_EQ(r.code, CURLE_OK);  // the chunked terminator arrived
  EXPECT_EQ(r.status, 200);
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 5u);
  check_token_lines(lines, 4, "error?after=4");
  EXPECT_EQ(lines[4],
            R"({"error":"an error was encountered while running the model: unexpected EOF"})");
  EXPECT_EQ(r.body.find("\"done\":true"), std::string::npos);
  const json s = stats(fake);
  EXPECT_EQ(s["completed"], 1);
  EXPECT_EQ(s["last_text"], expected_text(1, 4));
}

TEST(FakeOllama, DropClosesWithoutTerminator) {
  FakeProcess fake;
  const Response r = chat(fake, "drop?after=3");
  EXPECT_NE(r.code, CURLE_OK) << "curl must see the body cut short";
  EXPECT_EQ(r.status, 200);
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(check_token_lines(lines, 3, "drop?after=3"), expected_text(1, 3));

  RawClient client(fake.port());
  client.send(raw_post("/api/chat", chat_body("drop?after=2")));
  client.read_until([](const std::string&) { return false; }, 3s);
  EXPECT_TRUE(client.eof);
  EXPECT_EQ(client.buffer.find("\r\n0\r\n\r\n"), std::string::npos);

  const json s = stats(fake);
  EXPECT_EQ(s["requests"], 2);
  EXPECT_EQ(s["completed"], 0);
  EXPECT_EQ(s["aborted"], 0);
  EXPECT_EQ(s["dropped"], 2);
  EXPECT_EQ(s["active"], 0);
}

TEST(FakeOllama, GarbageLineThenDone) {
  FakeProcess fake;
  const Response r = chat(fake, "garbage?after=2");
  EXPECT_EQ(r.code, CURLE_OK);
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 4u);
  check_token_lines(lines, 2, "garbage?after=2");
  EXPECT_EQ(lines[2], "this is not json");
  check_done_line(lines[3], 2);
}

TEST(FakeOllama, StatusRepliesWithAnErrorObject) {
  FakeProcess fake;
  Response r = chat(fake, "status?code=503");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, read_text_file(fixture_path("error-503-server-busy.json")));
  EXPECT_TRUE(r.has_header("Content-Length: " + std::to_string(r.body.size()))) << r.headers;
  EXPECT_TRUE(r.has_header("Content-Type: application/json; charset=utf-8"));
  EXPECT_NE(r.body.back(), '\n');

  r = chat(fake, "status?code=500&message=runner%20died+hard");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"runner died hard"})");

  r = chat(fake, "status");  // defaults to 503
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(stats(fake)["completed"], 3);
}

TEST(FakeOllama, MissingModelChatIs404) {
  FakeProcess fake({"--scenario", "text?tokens=2"});
  const Response r = chat(fake, "missing-llama");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"model 'missing-llama' not found"})");
  EXPECT_EQ(stats(fake)["requests"], 1);
}

TEST(FakeOllama, BadScenarioParametersAre400) {
  FakeProcess fake;
  for (const char* model :
       {"text?tokens=abc", "text?tokns=3", "fixture?name=../x", "status?code=9"}) {
    const Response r = chat(fake, model);
    EXPECT_EQ(r.status, 400) << model;
    EXPECT_EQ(json::parse(r.body)["error"].get<std::string>().rfind("fake-ollama: ", 0), 0u)
        << r.body;
  }
  EXPECT_EQ(chat(fake, "").status, 400);
  EXPECT_EQ(fetch(fake, Request("POST", "/api/chat", "{nope")).status, 400);
}

TEST(FakeOllama, HangThenClientAbortCountsAsAborted) {
  FakeProcess fake;
  const Response r = chat(fake, "hang?after=3", /*abort_after_lines=*/3);
  EXPECT_EQ(r.code, CURLE_WRITE_ERROR);
  EXPECT_EQ(r.lines().size(), 3u);
  const auto aborted_at = Clock::now();
  const json s = wait_stats(
      fake, [](const json& j) { return j["aborted"] == 1; }, 1s);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - aborted_at);
  EXPECT_EQ(s["aborted"], 1);
  EXPECT_EQ(s["active"], 0);
  EXPECT_EQ(s["completed"], 0);
  EXPECT_EQ(s["last_text"], expected_text(1, 3));
  EXPECT_LT(took.count(), 100) << "the fake noticed the close after " << took.count() << " ms";
}

TEST(FakeOllama, HangThenClientResetCountsAsAborted) {
  FakeProcess fake;
  RawClient client(fake.port());
  client.send(raw_post("/api/chat", chat_body("hang?after=2")));
  ASSERT_TRUE(client.read_until([](const std::string& b) {
    const std::size_t first = b.find("\"done\":false");
    return first != b.npos && b.find("\"done\":false", first + 1) != b.npos;
  }));
  EXPECT_EQ(stats(fake)["active"], 1);
  client.close(/*reset=*/true);
  const json s = wait_stats(
      fake, [](const json& j) { return j["aborted"] == 1; }, 1s);
  EXPECT_EQ(s["aborted"], 1);
  EXPECT_EQ(s["active"], 0);
}

TEST(FakeOllama, SlowDelaysTheHeaders) {
  FakeProcess fake;
  const Response r = chat(fake, "slow?delay_ms=300&tokens=2");
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_GE(r.first_byte_s, 0.29);
  EXPECT_LT(r.first_byte_s, 3.0);
  EXPECT_EQ(r.lines().size(), 3u);
}

TEST(FakeOllama, RateSpacesTheTokens) {
  FakeProcess fake;
  const Response r = chat(fake, "text?tokens=11&rate=100");  // 11 lines 10 ms apart, then done
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_GE(r.total_s, 0.10);
  EXPECT_LT(r.total_s, 3.0);
  EXPECT_EQ(r.lines().size(), 12u);
}

TEST(FakeOllama, ExpectContinueWithALargeBody) {
  FakeProcess fake;
  const std::string prompt(200 * 1024, 'x');
  const std::string body = chat_body("text?tokens=2", prompt);
  const Response r = fetch(fake, Request("POST", "/api/chat", body, {"Expect: 100-continue"}));
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("HTTP/1.1 100 Continue"), std::string::npos) << r.headers;
  EXPECT_LT(r.total_s, 0.9) << "curl waited for its 1 s Expect timeout: no 100 Continue";
  const json s = stats(fake);
  EXPECT_EQ(s["last_request"]["messages"][0]["content"].get<std::string>().size(), prompt.size());
}

TEST(FakeOllama, ExpectContinueOverARawSocket) {
  FakeProcess fake;
  RawClient client(fake.port());
  const std::string body = chat_body("text?tokens=1", std::string(5000, 'y'));
  const std::string request = raw_post("/api/chat", body, "Expect: 100-continue\r\n");
  const std::size_t head_size = request.size() - body.size();
  client.send(request.substr(0, head_size));
  ASSERT_TRUE(client.read_until([](const std::string& b) { return b.size() >= 25; }, 2s));
  EXPECT_EQ(client.buffer, "HTTP/1.1 100 Continue\r\n\r\n");
  client.buffer.clear();
  const auto r = raw_exchange(client, body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->terminated);
}

TEST(FakeOllama, FixtureReplaysTheFileLineByLine) {
  FakeProcess fake;
  RawClient client(fake.port());
  const auto r =
      raw_exchange(client, raw_post("/api/chat", chat_body("fixture?name=chat-thinking")));
  ASSERT_TRUE(r.has_value());
  const std::string file = read_text_file(fixture_path("chat-thinking.ndjson"));
  EXPECT_EQ(r->body, file);
  const json expected = json::parse(read_text_file(fixture_path("chat-thinking.expected.json")));
  EXPECT_EQ(r->chunks.size(), expected["line_count"].get<std::size_t>());
  EXPECT_EQ(stats(fake)["last_text"], expected["content"]);

  const Response missing = chat(fake, "fixture?name=no-such-fixture");
  EXPECT_EQ(missing.status, 400);
}

TEST(FakeOllama, DefaultScenarioComesFromTheCommandLine) {
  FakeProcess fake({"--scenario", "text?tokens=4"});
  const Response r = chat(fake, "llama3.2");
  EXPECT_EQ(r.code, CURLE_OK);
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(check_token_lines(lines, 4, "llama3.2"), expected_text(1, 4));
  // A scenario named in the model wins over the default.
  EXPECT_EQ(chat(fake, "text?tokens=1").lines().size(), 2u);
}

TEST(FakeOllama, DemoIsAFriendlyAnswer) {
  FakeProcess fake;
  const Response r = chat(fake, "demo?rate=0");
  EXPECT_EQ(r.code, CURLE_OK);
  const std::vector<std::string> lines = r.lines();
  ASSERT_GE(lines.size(), 40u);
  ASSERT_LE(lines.size(), 90u);
  const json done = json::parse(lines.back());
  EXPECT_EQ(done["done"], true);
  EXPECT_EQ(done["eval_count"], static_cast<int>(lines.size()) - 1);
  const std::string text = stats(fake)["last_text"];
  EXPECT_NE(text.find("fake Ollama server"), std::string::npos) << text;
  EXPECT_NE(text.find("ollama serve"), std::string::npos) << text;
}

TEST(FakeOllama, LargeFastStreamArrivesInOrder) {
  FakeProcess fake;
  const int n = 30000;
  const Response r = chat(fake, "text?tokens=" + std::to_string(n));
  ASSERT_EQ(r.code, CURLE_OK);
  const std::vector<std::string> lines = r.lines();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(n + 1));
  std::string text;
  for (int i = 0; i < n; ++i)
    text +=
        json::parse(lines[static_cast<std::size_t>(i)])["message"]["content"].get<std::string>();
  EXPECT_EQ(text, expected_text(1, n));
  check_done_line(lines.back(), n);
}

TEST(FakeOllama, ResetZeroesTheCounters) {
  FakeProcess fake;
  chat(fake, "text?tokens=2");
  chat(fake, "status");
  EXPECT_EQ(stats(fake)["requests"], 2);
  const Response r = fetch(fake, Request("POST", "/_fake/reset"));
  EXPECT_EQ(r.status, 200);
  const json s = stats(fake);
  EXPECT_EQ(s["requests"], 0);
  EXPECT_EQ(s["completed"], 0);
  EXPECT_EQ(s["connections"], 1);  // the stats request's own
  EXPECT_TRUE(s["last_request"].is_null());
  EXPECT_EQ(s["last_text"], "");
}

TEST(FakeOllama, ExitsWhenStdinCloses) {
  FakeProcess fake;
  fake.close_stdin();
  EXPECT_EQ(fake.wait_exit(3s), 0);
}

TEST(FakeOllama, ExitsOnSigtermEvenWithStreamsInProgress) {
  FakeProcess fake;
  RawClient client(fake.port());
  client.send(raw_post("/api/chat", chat_body("hang?after=1")));
  ASSERT_TRUE(client.read_until([](const std::string& b) { return b.find("t1") != b.npos; }));
  fake.send_signal(SIGTERM);
  EXPECT_EQ(fake.wait_exit(3s), 0);
}

TEST(FakeOllama, RejectsAnUnknownDefaultScenario) {
  FakeProcess fake({"--scenario", "nonsense"});
  EXPECT_EQ(fake.port(), 0);
  EXPECT_EQ(fake.wait_exit(3s), 1);
}

// ---- tools scenario ----------------------------------------------------------------------------

const json kReadFileTool = {{"type", "function"},
                            {"function",
                             {{"name", "read_file"},
                              {"description", "Read a file"},
                              {"parameters",
                               {{"type", "object"},
                                {"properties", {{"path", {{"type", "string"}}}}},
                                {"required", json::array({"path"})}}}}}};

// Every byte but [A-Za-z0-9] as %XX, for JSON in a model string.
json user_message(const std::string& text = "what is in README.md?") {
  return {{"role", "user"}, {"content", text}};
}

// One played tool round: the assistant's calls and the tool's answer.
std::vector<json> tool_round(const std::string& id) {
  return {
      {{"role", "assistant"},
       {"content", "Let me check."},
       {"tool_calls",
        json::array(
            {{{"id", id},
              {"function",
               {{"index", 0}, {"name", "read_file"}, {"arguments", {{"path", "README.md"}}}}}}})}},
      {{"role", "tool"}, {"tool_name", "read_file"}, {"tool_call_id", id}, {"content", "# quill"}}};
}

std::string tools_body(const std::string& model, const std::vector<json>& messages,
                       std::optional<json> tools = json::array({kReadFileTool})) {
  json body = {{"model", model}, {"messages", messages}, {"stream", true}};
  if (tools) body["tools"] = *tools;
  return body.dump();
}

std::vector<json> tools_chat(const FakeProcess& fake, const std::string& model,
                             const std::vector<json>& messages,
                             std::optional<json> tools = json::array({kReadFileTool})) {
  const Response r =
      fetch(fake, Request("POST", "/api/chat", tools_body(model, messages, std::move(tools))));
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.back(), '\n');
  std::vector<json> out;
  for (const std::string& line : r.lines())
    out.push_back(json::parse(line));
  return out;
}

// The concatenated content of `lines`, checking that only the last is done.
std::string content_of(const std::vector<json>& lines) {
  std::string text;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["done"], i + 1 == lines.size()) << i;
    text += lines[i]["message"]["content"].get<std::string>();
  }
  return text;
}

// Checks a tool-call answer with separate call lines; returns the calls in order.
std::vector<json> check_tool_call_lines(const std::vector<json>& lines, std::size_t calls) {
  EXPECT_EQ(lines.size(), 3 + calls);
  if (lines.size() != 3 + calls) return {};
  EXPECT_EQ(lines[0]["message"]["content"], "Let me ");
  EXPECT_EQ(lines[1]["message"]["content"], "check.");
  std::vector<json> out;
  for (std::size_t i = 2; i < 2 + calls; ++i) {
    const json& message = lines[i]["message"];
    EXPECT_EQ(lines[i]["done"], false);
    EXPECT_EQ(message["role"], "assistant");
    EXPECT_EQ(message["content"], "");
    EXPECT_EQ(message["tool_calls"].size(), 1u) << message;
    out.push_back(message["tool_calls"][0]);
  }
  EXPECT_FALSE(lines.back()["message"].contains("tool_calls"));
  check_done_line(lines.back().dump(), 2 + static_cast<int>(calls));
  return out;
}

TEST(FakeOllama, ToolsFirstRoundSendsTheCallsWithObjectArguments) {
  FakeProcess fake;
  const std::vector<json> lines = tools_chat(fake, "tools", {user_message()});
  const std::vector<json> calls = check_tool_call_lines(lines, 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], json::parse(R"({"id":"call_1","function":{"index":0,"name":"read_file",)"
                                  R"("arguments":{"path":"README.md"}}})"));
  EXPECT_TRUE(calls[0]["function"]["arguments"].is_object());
  const json s = stats(fake);
  EXPECT_EQ(s["last_text"], "Let me check.");
  EXPECT_EQ(s["completed"], 1);

  // Own calls: one line each, index = position, given ids kept, key order kept, Go escaping.
  const std::string spec =
      R"([{"name":"list_files","arguments":{"pattern":"src/<*>.cpp"}},)"
      R"({"name":"read_file","id":"mine","arguments":{"path":"CMakeLists.txt","start_line":1,"end_line":40}}])";
  const Response r =
      fetch(fake, Request("POST", "/api/chat",
                          tools_body("tools?calls=" + url_encode(spec), {user_message()})));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("arguments":{"pattern":"src/\u003c*\u003e.cpp"})"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("arguments":{"path":"CMakeLists.txt","start_line":1,"end_line":40})"),
            std::string::npos)
      << r.body;
  std::vector<json> parsed;
  for (const std::string& line : r.lines())
    parsed.push_back(json::parse(line));
  const std::vector<json> two = check_tool_call_lines(parsed, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0]["id"], "call_1");
  EXPECT_EQ(two[0]["function"]["index"], 0);
  EXPECT_EQ(two[0]["function"]["name"], "list_files");
  EXPECT_EQ(two[0]["function"]["arguments"], json({{"pattern", "src/<*>.cpp"}}));
  EXPECT_EQ(two[1]["id"], "mine");
  EXPECT_EQ(two[1]["function"]["index"], 1);
  EXPECT_EQ(two[1]["function"]["arguments"]["start_line"], 1);
}

TEST(FakeOllama, ToolsAnswersWithTheFinalTextOnceTheResultsCameBack) {
  FakeProcess fake;
  std::vector<json> messages = {user_message()};
  for (const json& m : tool_round("call_1"))
    messages.push_back(m);
  std::vector<json> lines = tools_chat(fake, "tools", messages);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(content_of(lines), "Done.");
  check_done_line(lines.back().dump(), 1);
  // The tool message reached the server as sent.
  const json s = stats(fake);
  EXPECT_EQ(s["last_request"]["messages"][2]["role"], "tool");
  EXPECT_EQ(s["last_request"]["messages"][2]["tool_call_id"], "call_1");
  EXPECT_EQ(s["last_request"]["messages"][2]["content"], "# quill");
  EXPECT_EQ(s["last_text"], "Done.");

  // `then` streams as a few tokens, cut after the spaces.
  lines = tools_chat(fake, "tools?then=" + url_encode("It says: quill."), messages);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["message"]["content"], "It ");
  EXPECT_EQ(lines[1]["message"]["content"], "says: ");
  EXPECT_EQ(lines[2]["message"]["content"], "quill.");
  check_done_line(lines.back().dump(), 3);
}

TEST(FakeOllama, ToolsRoundsCountsAssistantMessagesWithToolCalls) {
  FakeProcess fake;
  std::vector<json> messages = {user_message()};
  // Round 1: calls, ids numbered from 1.
  std::vector<json> calls = check_tool_call_lines(tools_chat(fake, "tools?rounds=2", messages), 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["id"], "call_1");
  // An assistant message with an empty tool_calls list is no round.
  messages.push_back({{"role", "assistant"}, {"content", "hmm"}, {"tool_calls", json::array()}});
  messages.push_back(user_message("go on"));
  for (const json& m : tool_round("call_1"))
    messages.push_back(m);
  // Round 2: calls again, with new ids.
  calls = check_tool_call_lines(tools_chat(fake, "tools?rounds=2", messages), 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["id"], "call_2");
  for (const json& m : tool_round("call_2"))
    messages.push_back(m);
  // Two rounds played: the final text.
  EXPECT_EQ(content_of(tools_chat(fake, "tools?rounds=2", messages)), "Done.");
  // rounds=0 answers at once.
  EXPECT_EQ(content_of(tools_chat(fake, "tools?rounds=0", {user_message()})), "Done.");
}

TEST(FakeOllama, ToolsForeverNeverStopsCalling) {
  FakeProcess fake;
  std::vector<json> messages = {user_message()};
  for (int round = 1; round <= 5; ++round) {
    const std::vector<json> calls =
        check_tool_call_lines(tools_chat(fake, "tools?forever=1", messages), 1);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0]["id"], "call_" + std::to_string(round));
    for (const json& m : tool_round(calls[0]["id"]))
      messages.push_back(m);
  }
}

TEST(FakeOllama, ToolsOnDonePutsTheCallsOnTheDoneLine) {
  FakeProcess fake;
  const std::string spec =
      R"([{"name":"list_files","arguments":{}},{"name":"read_file","arguments":{"path":"a"}}])";
  const std::vector<json> lines =
      tools_chat(fake, "tools?ondone=1&calls=" + url_encode(spec), {user_message()});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(content_of(lines), "Let me check.");
  EXPECT_FALSE(lines[0]["message"].contains("tool_calls"));
  EXPECT_FALSE(lines[1]["message"].contains("tool_calls"));
  check_done_line(lines[2].dump(), 4);
  EXPECT_EQ(
      lines[2]["message"]["tool_calls"],
      json::parse(R"([{"id":"call_1","function":{"index":0,"name":"list_files","arguments":{}}},)"
                  R"({"id":"call_2","function":{"index":1,"name":"read_file",)"
                  R"("arguments":{"path":"a"}}}])"));
}

TEST(FakeOllama, ToolsSameIndexGivesEveryCallIndexZero) {
  FakeProcess fake;
  const std::string spec = R"([{"name":"a","arguments":{}},{"name":"b","arguments":{}},)"
                           R"({"name":"c","arguments":{}}])";
  const std::vector<json> calls = check_tool_call_lines(
      tools_chat(fake, "tools?sameindex=1&calls=" + url_encode(spec), {user_message()}), 3);
  ASSERT_EQ(calls.size(), 3u);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i]["function"]["index"], 0);
    EXPECT_EQ(calls[i]["id"], "call_" + std::to_string(i + 1));
  }
  EXPECT_EQ(calls[2]["function"]["name"], "c");
}

TEST(FakeOllama, ToolsNoIdLeavesTheIdOut) {
  FakeProcess fake;
  std::vector<json> calls =
      check_tool_call_lines(tools_chat(fake, "tools?noid=1", {user_message()}), 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].contains("id")) << calls[0];
  EXPECT_EQ(calls[0]["function"]["name"], "read_file");
  // An id given in `calls` stays.
  const std::string spec = R"([{"name":"a","arguments":{}},{"name":"b","id":"x7","arguments":{}}])";
  calls = check_tool_call_lines(
      tools_chat(fake, "tools?noid=1&calls=" + url_encode(spec), {user_message()}), 2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_FALSE(calls[0].contains("id"));
  EXPECT_EQ(calls[1]["id"], "x7");
}

TEST(FakeOllama, ToolsWithoutToolsInTheRequestSaysSo) {
  FakeProcess fake;
  for (const char* model : {"tools", "tools?forever=1", "tools?ondone=1&rounds=3"}) {
    for (const std::optional<json>& offered :
         {std::optional<json>(), std::optional<json>(json::array())}) {
      const std::vector<json> lines = tools_chat(fake, model, {user_message()}, offered);
      ASSERT_GE(lines.size(), 2u) << model;
      EXPECT_EQ(content_of(lines), "(no tools were offered)") << model;
      for (const json& line : lines)
        EXPECT_FALSE(line["message"].contains("tool_calls")) << model;
      check_done_line(lines.back().dump(), static_cast<int>(lines.size()) - 1);
    }
  }
  EXPECT_EQ(stats(fake)["last_text"], "(no tools were offered)");
}

TEST(FakeOllama, ToolsRejectsBadCalls) {
  FakeProcess fake;
  for (const std::string& spec :
       {std::string("nope"), std::string(R"({"name":"a"})"), std::string("[1]"),
        std::string(R"([{"arguments":{}}])"), std::string(R"([{"name":"a","arguments":"{}"}])"),
        std::string(R"([{"name":"a","id":7}])"), std::string(R"([{"name":"a","argz":{}}])")}) {
    const Response r = fetch(
        fake, Request("POST", "/api/chat", tools_body("tools?calls=" + url_encode(spec), {})));
    EXPECT_EQ(r.status, 400) << spec;
    EXPECT_EQ(json::parse(r.body)["error"].get<std::string>().rfind(
                  "fake-ollama: bad parameter calls=", 0),
              0u)
        << r.body;
  }
  EXPECT_EQ(fetch(fake, Request("POST", "/api/chat", tools_body("tools?forever=2", {}))).status,
            400);
}

TEST(FakeOllama, ShowNoToolsModelsLackTheToolsCapability) {
  FakeProcess fake;
  for (const char* model : {"notools-x", "notools", "notools:latest"}) {
    const Response r = fetch(fake, Request("POST", "/api/show", json{{"model", model}}.dump()));
    ASSERT_EQ(r.status, 200) << model;
    const json show = json::parse(r.body);
    EXPECT_EQ(show["capabilities"], json::array({"completion"})) << model;
    EXPECT_TRUE(show["details"].is_object());
    EXPECT_EQ(show["model_info"]["llama.context_length"], 131072);
  }
  const Response r = fetch(fake, Request("POST", "/api/show", R"({"model":"tools?rounds=2"})"));
  EXPECT_EQ(json::parse(r.body)["capabilities"], json({"completion", "tools"}));
  EXPECT_EQ(get(fake, "/api/tags").body, read_text_file(fixture_path("api-tags.json")));
}

}  // namespace
