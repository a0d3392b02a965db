#include "fake_ollama.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "uv/handle.hpp"

#ifndef FAKE_OLLAMA_FIXTURES
#define FAKE_OLLAMA_FIXTURES ""
#endif

namespace fake_ollama {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using quill::uv::UvHandle;

constexpr std::size_t kHighWater = 64 * 1024;  // bytes queued in libuv before a stream waits
constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kVersion = "0.12.6";

// Used when api-tags.json cannot be read.
constexpr std::string_view kBuiltinTags =
    R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest",)"
    R"("modified_at":"2026-07-30T21:40:03.06512-07:00","size":2019393189,)"
    R"("digest":"9aaeaa92cc3bbfbeec5c24b1b1f2185f30fec15fca98ba904a19be47c30f7f50",)"
    R"("details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],)"
    R"("parameter_size":"3.2B","quantization_level":"Q4_K_M","context_length":131072},)"
    R"("capabilities":["completion","tools"]},)"
    R"({"name":"fake:latest","model":"fake:latest",)"
    R"("modified_at":"2026-08-20T14:03:11.52781-07:00","size":1048576,)"
    R"("digest":"0000000000000000000000000000000000000000000000000000000000fa4e00",)"
    R"("details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],)"
    R"("parameter_size":"1M","quantization_level":"F16","context_length":8192},)"
    R"("capabilities":["completion","tools"]}]})";

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream all;
  all << file.rdbuf();
  return all.str();
}

bool starts_with_missing(std::string_view model) {
  return model.substr(0, 7) == "missing";
}

// `notools*` models cannot call tools: /api/show leaves "tools" out of their capabilities.
bool starts_with_notools(std::string_view model) {
  return model.substr(0, 7) == "notools";
}

std::string not_found(std::string_view model) {
  return error_body("model '" + std::string(model) + "' not found");
}

Script reply_script(int status, std::string body) {
  Step s;
  s.kind = Step::Kind::Reply;
  s.status = status;
  s.bytes = std::move(body);
  return {std::move(s)};
}

}  // namespace

std::string default_fixtures_dir() {
  return FAKE_OLLAMA_FIXTURES;
}

ordered_json Stats::to_json() const {
  ordered_json out;
  out["requests"] = requests;
  out["completed"] = completed;
  out["aborted"] = aborted;
  out["dropped"] = dropped;
  out["active"] = active;
  out["connections"] = connections;
  out["last_request"] = last_request;
  out["last_headers"] = last_headers;
  out["last_text"] = last_text;
  return out;
}

// Plays one chat Script on one exchange: each step waits for its time, chunks also wait while
// more than kHighWater bytes are queued (resumed by writable()).
class FakeOllama::ChatStream final : public Responder {
 public:
  ChatStream(FakeOllama& owner, std::uint64_t serial, std::string label, Script script)
      : owner_(owner), serial_(serial), label_(std::move(label)), script_(std::move(script)) {}

  void start(ResponseWriter& out) override {
    out_ = &out;
    timer_ = UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(owner_.loop_, t); });
    if (timer_.ok()) timer_.get()->data = this;
    start_ns_ = last_ns_ = uv_hrtime();
    pump();
  }
  void writable() override { pump(); }
  void finished(Outcome outcome) override {
    out_ = nullptr;
    if (timer_.ok()) uv_timer_stop(timer_.get());
    owner_.chat_finished(*this, outcome);
  }

  const std::string& label() const { return label_; }
  int status() const { return status_; }
  std::size_t chunks() const { return chunks_; }

 private:
  void pump() {
    while (out_ != nullptr && next_ < script_.size()) {
      const Step& step = script_[next_];
      const std::uint64_t now = uv_hrtime();
      const std::uint64_t due =
          std::max(start_ns_ + static_cast<std::uint64_t>(step.at_ms * 1e6),
                   last_ns_ + static_cast<std::uint64_t>(step.gap_ms) * 1'000'000);
      if (now < due) {
        arm(due - now);
        return;
      }
      if (step.kind == Step::Kind::Chunk && out_->queued_bytes() >= kHighWater) return;
      if (step.kind == Step::Kind::Repeat) {  // the write's completion (writable()) brings the next
        last_ns_ = now;
        ++chunks_;
        out_->write_chunk(step.bytes);
        return;
      }
      ++next_;
      last_ns_ = now;
      run(step);
    }
  }

  void arm(std::uint64_t wait_ns) {
    if (!timer_.ok()) return;
    const auto ms = static_cast<std::uint64_t>(std::ceil(static_cast<double>(wait_ns) / 1e6));
    uv_update_time(owner_.loop_);
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<ChatStream*>(t->data)) self->pump();
        },
        std::max<std::uint64_t>(ms, 1), 0);
  }

  void run(const Step& step) {
    switch (step.kind) {
      case Step::Kind::Reply: {
        status_ = step.status;
        // The content type is written as one header line: a Location line rides after it.
        std::string type = step.content_type.empty() ? std::string(kJson) : step.content_type;
        if (!step.location.empty()) type += "\r\nLocation: " + step.location;
        out_->respond(step.status, type, step.bytes);
        break;
      }
      case Step::Kind::Headers:
        status_ = step.status;
        out_->begin_chunked(step.status,
                            step.content_type.empty() ? "application/x-ndjson" : step.content_type);
        break;
      case Step::Kind::Chunk:
        ++chunks_;
        if (step.stamp) {
          write_stamped(step);
          break;
        }
        owner_.chat_sent(serial_, step.content);
        out_->write_chunk(step.bytes);
        break;
      case Step::Kind::End:
        out_->end_chunked();
        break;
      case Step::Kind::Drop:
        out_->drop();
        break;
      case Step::Kind::Hang:
        break;  // the exchange stays open until the client leaves
      case Step::Kind::Repeat:
        break;  // played by pump()
    }
  }

  // The send time goes into the token as it leaves, for latency benchmarks.
  void write_stamped(const Step& step) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char ns[32];
    std::snprintf(ns, sizeof ns, "%020lld",
                  static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
    std::string bytes = step.bytes;
    std::string content = step.content;
    for (std::string* s : {&bytes, &content}) {
      if (const auto at = s->find(kStampPlaceholder); at != std::string::npos) {
        s->replace(at, kStampPlaceholder.size(), ns);
      }
    }
    owner_.chat_sent(serial_, content);
    out_->write_chunk(bytes);
  }

  FakeOllama& owner_;
  std::uint64_t serial_;
  std::string label_;
  Script script_;
  std::size_t next_ = 0;
  ResponseWriter* out_ = nullptr;
  UvHandle<uv_timer_t> timer_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t last_ns_ = 0;
  int status_ = 0;
  std::size_t chunks_ = 0;
};

FakeOllama::FakeOllama(uv_loop_t* loop, Options options)
    : loop_(loop), options_(std::move(options)) {}

FakeOllama::~FakeOllama() {
  stop();
  server_.reset();
}

std::optional<std::string> FakeOllama::start() {
  const std::optional<Spec> spec = parse_spec(options_.scenario);
  if (!spec || !is_scenario(spec->name)) return "unknown scenario '" + options_.scenario + "'";
  std::string problem;
  build_script(*spec, Context{"fake", options_.fixtures_dir, nullptr}, &problem);
  if (!problem.empty()) return "--scenario " + options_.scenario + ": " + problem;
  default_spec_ = *spec;

  std::optional<std::string> tags = read_file(options_.fixtures_dir + "/api-tags.json");
  tags_json_ = tags ? json::parse(*tags, nullptr, false) : json();
  if (!tags || tags_json_.is_discarded()) {
    tags_ = std::string(kBuiltinTags);
    tags_json_ = json::parse(tags_);
  } else {
    tags_ = std::move(*tags);
  }

  server_ = std::make_unique<HttpServer>(
      loop_, [this](const HttpRequest& request) { return route(request); });
  server_->set_on_accept([this] { ++stats_.connections; });
  const int rc = server_->listen(options_.host, options_.port);
  if (rc != 0)
    return "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
           uv_strerror(rc);
  return std::nullopt;
}

int FakeOllama::port() const {
  return server_ ? server_->port() : 0;
}

std::string FakeOllama::base_url() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" +
         std::to_string(port());
}

void FakeOllama::stop() {
  if (server_) server_->close();
}

void FakeOllama::log(const std::string& line) const {
  if (options_.quiet) return;
  std::fprintf(stderr, "fake-ollama: %s\n", line.c_str());
  std::fflush(stderr);
}

std::unique_ptr<Responder> FakeOllama::reply(const HttpRequest& request, int status,
                                             std::string body, std::string content_type) {
  std::string label = request.method + " " + request.target + " -> " + std::to_string(status);
  return make_simple_responder(status, std::move(content_type), std::move(body),
                               [this, label](Outcome outcome) {
                                 log(label + " (" + std::string(outcome_name(outcome)) + ")");
                               });
}

std::unique_ptr<Responder> FakeOllama::route(const HttpRequest& request) {
  // Hostile answers for the JSON calls: under a host ending in /_answer/<JSON, percent-encoded>,
  // /api/tags, /api/show and /api/version answer that JSON; every other route is as usual.
  if (constexpr std::string_view kAnswer = "/_answer/"; request.path.starts_with(kAnswer)) {
    const std::size_t end = request.path.find('/', kAnswer.size());
    const std::string rest = end == std::string::npos ? "/" : request.path.substr(end);
    // The scenario syntax decodes the segment: "x?body=<segment>".
    const auto spec =
        parse_spec("x?body=" + request.path.substr(kAnswer.size(), end - kAnswer.size()));
    const std::string* body = spec ? spec->params.find("body") : nullptr;
    if (body != nullptr && (rest == "/api/tags" || rest == "/api/show" || rest == "/api/version"))
      return reply(request, 200, *body);
    HttpRequest inner = request;
    inner.path = rest;
    return route(inner);
  }
  const std::string& method = request.method;
  const std::string& path = request.path;
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/api/chat" && method == "POST") return chat(request, false);
  if (path == "/v1/chat/completions" && method == "POST") return chat(request, true);
  if (path == "/v1/models" && get) return reply(request, 200, openai_models());
  if (path == "/api/show" && method == "POST") return show(request);
  if (path == "/api/pull" && method == "POST") return pull(request);
  if (path == "/api/tags" && get) return reply(request, 200, tags_);
  if (path == "/api/version" && get)
    return reply(request, 200, R"({"version":")" + std::string(kVersion) + R"("})");
  if (path == "/api/ps" && get) return reply(request, 200, running_models());
  if (path == "/" && get)
    return reply(request, 200, "Ollama is running", "text/plain; charset=utf-8");
  if (path == "/_fake/stats" && get) return reply(request, 200, stats_.to_json().dump());
  if (path == "/_fake/reset" && method == "POST") {
    const std::uint64_t active = stats_.active;
    stats_ = Stats{};
    stats_.active = active;
    ++chat_serial_;  // streams still running no longer write last_text
    return reply(request, 200, stats_.to_json().dump());
  }
  return reply(request, 404, R"({"error":"not found"})");
}

std::unique_ptr<Responder> FakeOllama::show(const HttpRequest& request) {
  const json body = json::parse(request.body, nullptr, false);
  std::string model;
  if (body.is_object()) {
    for (const char* key : {"model", "name"})
      if (model.empty() && body.contains(key) && body[key].is_string())
        model = body[key].get<std::string>();
  }
  if (model.empty()) return reply(request, 400, error_body("model is required"));
  if (starts_with_missing(model) && !pulled_.contains(model))
    return reply(request, 404, not_found(model));

  json details = {{"parent_model", ""},       {"format", "gguf"},
                  {"family", "llama"},        {"families", {"llama"}},
                  {"parameter_size", "3.2B"}, {"quantization_level", "Q4_K_M"}};
  json capabilities = {"completion", "tools"};
  std::int64_t context_length = 131072;
  // A model listed in api-tags.json answers with its own details and capabilities.
  if (tags_json_.is_object() && tags_json_.contains("models") && tags_json_["models"].is_array()) {
    for (const json& entry : tags_json_["models"]) {
      const std::string name = entry.value("name", "");
      if (name != model && name != model + ":latest") continue;
      if (entry.contains("details") && entry["details"].is_object()) {
        details = entry["details"];
        if (details.contains("context_length") && details["context_length"].is_number_integer())
          context_length = details["context_length"].get<std::int64_t>();
        details.erase("context_length");
        details.erase("embedding_length");
      }
      if (entry.contains("capabilities")) capabilities = entry["capabilities"];
      break;
    }
  }
  if (starts_with_notools(model)) capabilities = json::array({"completion"});
  const std::string family = details.value("family", "llama");
  ordered_json out;
  out["capabilities"] = capabilities;
  out["model_info"] = {{"general.architecture", family},
                       {family + ".context_length", context_length}};
  out["details"] = details;
  out["modified_at"] = "2026-07-30T21:40:03.06512-07:00";
  return reply(request, 200, out.dump());
}

std::string FakeOllama::openai_models() const {
  ordered_json data = json::array();
  if (tags_json_.is_object() && tags_json_.contains("models") && tags_json_["models"].is_array()) {
    for (const json& entry : tags_json_["models"]) {
      ordered_json model;
      model["id"] = entry.value("name", "");
      model["object"] = "model";
      model["created"] = 1787235112;
      model["owned_by"] = "library";
      data.push_back(std::move(model));
    }
  }
  ordered_json out;
  out["object"] = "list";
  out["data"] = std::move(data);
  return out.dump();
}

std::string FakeOllama::running_models() const {
  // The last chatted model is loaded, with the context Ollama gave its runner: 4096 tokens, or
  // the request's options.num_ctx.
  ordered_json models = json::array();
  const json& last = stats_.last_request;
  if (last.is_object() && last.contains("model") && last["model"].is_string()) {
    std::int64_t context = 4096;
    if (last.contains("options") && last["options"].is_object() &&
        last["options"].contains("num_ctx") && last["options"]["num_ctx"].is_number_integer())
      context = last["options"]["num_ctx"].get<std::int64_t>();
    ordered_json m;
    m["name"] = last["model"];
    m["model"] = last["model"];
    m["size"] = 3338801804;
    m["digest"] = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72";
    m["expires_at"] = "2026-08-20T14:08:11.52781Z";
    m["size_vram"] = 3338801804;
    m["context_length"] = context;
    models.push_back(std::move(m));
  }
  ordered_json out;
  out["models"] = std::move(models);
  return out.dump();
}

std::unique_ptr<Responder> FakeOllama::pull(const HttpRequest& request) {
  const json body = json::parse(request.body, nullptr, false);
  std::string model;
  if (body.is_object()) {
    for (const char* key : {"model", "name"})
      if (model.empty() && body.contains(key) && body[key].is_string())
        model = body[key].get<std::string>();
  }
  if (model.empty()) return reply(request, 400, error_body("model is required"));
  const unsigned gap = model.starts_with("slowpull") ? 200 : 5;
  Script script;
  Step headers;
  headers.kind = Step::Kind::Headers;
  script.push_back(headers);
  auto line = [&](const ordered_json& j) {
    Step s;
    s.bytes = j.dump() + "\n";
    s.gap_ms = gap;
    script.push_back(std::move(s));
  };
  line({{"status", "pulling manifest"}});
  if (model.starts_with("nosuch")) {
    line({{"error", "pull model manifest: file does not exist"}});
  } else {
    // Two layers of 8 MB and 1 MB, each in four steps, as Ollama reports them.
    const std::pair<const char*, std::int64_t> layers[] = {
        {"sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa", 8000000},
        {"sha256:4fa551d4f938f68b8c1e6afa9d28befb70e3f33f75d0753248d530364aeea40f", 1000000}};
    for (const auto& [digest, total] : layers) {
      for (int step = 0; step <= 4; ++step) {
        ordered_json j;
        j["status"] = std::string("pulling ") + std::string(digest).substr(7, 12);
        j["digest"] = digest;
        j["total"] = total;
        if (step > 0) j["completed"] = total * step / 4;
        line(j);
      }
    }
    line({{"status", "verifying sha256 digest"}});
    line({{"status", "writing manifest"}});
    line({{"status", "success"}});
    pulled_.insert(model);  // from now on the fake has it
  }
  Step end;
  end.kind = Step::Kind::End;
  script.push_back(end);
  ++stats_.requests;
  ++stats_.active;
  stats_.last_request = body;
  const std::uint64_t serial = ++chat_serial_;
  return std::make_unique<ChatStream>(*this, serial, request.method + " " + request.target,
                                      std::move(script));
}

std::unique_ptr<Responder> FakeOllama::chat(const HttpRequest& request, bool openai) {
  ++stats_.requests;
  ++stats_.active;
  const std::uint64_t serial = ++chat_serial_;
  stats_.last_text.clear();

  const json body = json::parse(request.body, nullptr, false);
  stats_.last_request = body.is_discarded() ? json(request.body) : body;
  stats_.last_headers = json::object();
  for (const auto& [name, value] : request.headers)
    stats_.last_headers[name] = value;

  std::string model;
  std::string scenario = "-";
  SseOptions sse;
  Script script;
  if (request.body.empty()) {
    script = reply_script(400, error_body("missing request body"));
  } else if (body.is_discarded()) {
    script = reply_script(400, error_body("invalid character in request body: not JSON"));
  } else if (!body.is_object() || !body.contains("model") || !body["model"].is_string() ||
             body["model"].get<std::string>().empty()) {
    script = reply_script(400, error_body("model is required"));
  } else {
    model = body["model"].get<std::string>();
    const bool offers_tools =
        body.contains("tools") && body["tools"].is_array() && !body["tools"].empty();
    if (starts_with_missing(model) && !pulled_.contains(model)) {
      script = reply_script(404, not_found(model));
    } else if (openai && starts_with_notools(model) && offers_tools) {
      // What servers without tool support answer (a model without a tool template).
      script = reply_script(400, error_body(model + " does not support tools"));
    } else {
      const std::string_view name = std::string_view(model).substr(0, model.find('?'));
      std::optional<Spec> spec = is_scenario(name) ? parse_spec(model) : default_spec_;
      std::string problem;
      if (spec) {
        scenario = spec->name;
        if (openai) sse = take_sse_options(*spec, &problem);
        if (problem.empty())
          script = build_script(*spec, Context{model, options_.fixtures_dir, &body}, &problem);
      } else {
        problem = "malformed scenario parameters in '" + model + "'";
      }
      if (!problem.empty()) script = reply_script(400, error_body("fake-ollama: " + problem));
    }
  }
  if (openai) {
    const auto options = body.is_object() ? body.find("stream_options") : body.end();
    sse.usage = body.is_object() && options != body.end() && options->is_object() &&
                options->value("include_usage", false);
    script = to_sse(script, model, sse);
  }
  std::string label = request.method + " " + request.target + " model=" + go_json_string(model) +
                      " scenario=" + scenario;
  return std::make_unique<ChatStream>(*this, serial, std::move(label), std::move(script));
}

void FakeOllama::chat_sent(std::uint64_t serial, const std::string& content) {
  if (serial == chat_serial_) stats_.last_text += content;
}

void FakeOllama::chat_finished(const ChatStream& stream, Outcome outcome) {
  if (stats_.active > 0) --stats_.active;
  switch (outcome) {
    case Outcome::Completed:
      ++stats_.completed;
      break;
    case Outcome::ClientGone:
      ++stats_.aborted;
      break;
    case Outcome::ServerClosed:
      ++stats_.dropped;
      break;
  }
  log(stream.label() + " -> " + std::to_string(stream.status()) + " (" +
      std::string(outcome_name(outcome)) + ", " + std::to_string(stream.chunks()) + " chunks)");
}

}  // namespace fake_ollama
