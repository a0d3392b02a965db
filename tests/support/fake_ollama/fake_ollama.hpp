#pragma once
// The fake Ollama server: Ollama's routes (/, /api/version, /api/tags, /api/show, /api/chat)
// answered from scenarios, the OpenAI-compatible /v1/chat/completions and /v1/models as Ollama
// itself and llama-server answer them, plus /_fake/stats and /_fake/reset for tests.
// Single-threaded, on the caller's libuv loop. See scenarios.hpp for what /api/chat sends and how a
// request picks its scenario (`"model":"text?tokens=40&rate=20"`).

#include <uv.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "http_server.hpp"
#include "scenarios.hpp"
#include "sse.hpp"

namespace fake_ollama {

// The fixture directory compiled in (tests/fixtures/ollama); --fixtures overrides it.
std::string default_fixtures_dir();

struct Options {
  std::string host = "127.0.0.1";
  int port = 11434;               // 0 = ephemeral
  std::string scenario = "demo";  // for /api/chat requests whose model names no scenario
  std::string fixtures_dir = default_fixtures_dir();
  bool quiet = false;  // no per-request log lines on stderr
};

struct Stats {
  std::uint64_t requests = 0;     // POST /api/chat or /v1/chat/completions received (any outcome)
  std::uint64_t completed = 0;    // chat responses whose last byte (chunked terminator) was written
  std::uint64_t aborted = 0;      // chat responses the client closed/reset before the end
  std::uint64_t dropped = 0;      // chat responses the server cut itself (drop, shutdown)
  std::uint64_t active = 0;       // chat responses in progress (a gauge: reset keeps it)
  std::uint64_t connections = 0;  // TCP connections accepted
  nlohmann::json last_request;    // body of the last /api/chat: JSON, or the raw text
  nlohmann::json last_headers;    // its headers, names lower-cased
  std::string last_text;          // content the last chat response sent (so far)

  nlohmann::ordered_json to_json() const;
};

class FakeOllama {
 public:
  FakeOllama(uv_loop_t* loop, Options options);
  ~FakeOllama();
  FakeOllama(const FakeOllama&) = delete;
  FakeOllama& operator=(const FakeOllama&) = delete;

  // Checks the default scenario, loads api-tags.json, listens. An error text, or nullopt.
  std::optional<std::string> start();
  int port() const;
  std::string base_url() const;  // http://127.0.0.1:PORT
  const Stats& stats() const { return stats_; }
  // Stops listening and closes every connection (streams in progress count as dropped).
  void stop();

 private:
  class ChatStream;

  std::unique_ptr<Responder> route(const HttpRequest& request);
  // Ollama's /api/chat, or (openai) /v1/chat/completions: the same scenarios as SSE (sse.hpp).
  std::unique_ptr<Responder> chat(const HttpRequest& request, bool openai);
  std::string openai_models() const;  // /v1/models from api-tags.json
  // /api/pull: progress lines for two layers, then success (the model is then known, even a
  // `missing…` one); a model starting with `nosuch` gets Ollama's manifest error, `slowpull`
  // 200 ms between lines.
  std::unique_ptr<Responder> pull(const HttpRequest& request);
  std::string running_models() const;  // /api/ps: the last chatted model, loaded
  std::unique_ptr<Responder> show(const HttpRequest& request);
  std::unique_ptr<Responder> reply(const HttpRequest& request, int status, std::string body,
                                   std::string content_type = "application/json; charset=utf-8");
  void chat_sent(std::uint64_t serial, const std::string& content);
  void chat_finished(const ChatStream& stream, Outcome outcome);
  void log(const std::string& line) const;

  uv_loop_t* loop_;
  Options options_;
  Spec default_spec_;
  std::string tags_;
  nlohmann::json tags_json_;
  Stats stats_;
  std::set<std::string> pulled_;        // models /api/pull fetched
  std::uint64_t chat_serial_ = 0;       // the last chat stream's number: only it writes last_text
  std::unique_ptr<HttpServer> server_;  // last: its responders call back into the members above
};

}  // namespace fake_ollama
