#include "scenarios.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/json_escape.hpp"

namespace fake_ollama {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---- parameters -------------------------------------------------------------------------------

struct BadParam {
  std::string message;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Typed access to a scenario's parameters; unknown keys and bad values throw BadParam.
class Args {
 public:
  Args(std::string_view scenario, const Params& params,
       std::initializer_list<std::string_view> allowed)
      : params_(params) {
    for (const auto& [key, value] : params.items) {
      bool known = false;
      for (std::string_view a : allowed)
        known = known || key == a;
      if (!known)
        throw BadParam{"unknown parameter '" + key + "' for scenario '" + std::string(scenario) +
                       "'"};
    }
  }

  long integer(std::string_view key, long fallback, long min, long max) const {
    const std::string* value = params_.find(key);
    if (value == nullptr) return fallback;
    long n = 0;
    const auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (ec != std::errc() || ptr != value->data() + value->size() || n < min || n > max)
      throw BadParam{bad(key, *value) + " (an integer in " + std::to_string(min) + ".." +
                     std::to_string(max) + ")"};
    return n;
  }

  double number(std::string_view key, double fallback, double min, double max) const {
    const std::string* value = params_.find(key);
    if (value == nullptr) return fallback;
    char* end = nullptr;
    const double n = std::strtod(value->c_str(), &end);
    if (value->empty() || end != value->c_str() + value->size() || !std::isfinite(n) || n < min ||
        n > max)
      throw BadParam{bad(key, *value) + " (a number in " + std::to_string(min) + ".." +
                     std::to_string(max) + ")"};
    return n;
  }

  std::string text(std::string_view key, std::string fallback) const {
    const std::string* value = params_.find(key);
    return value != nullptr ? *value : fallback;
  }

 private:
  static std::string bad(std::string_view key, const std::string& value) {
    return "bad parameter " + std::string(key) + "=" + value;
  }
  const Params& params_;
};

// ---- timing + lines ---------------------------------------------------------------------------

constexpr long kMaxTokens = 1'000'000;  // scripts are built up front
constexpr double kMaxRate = 1'000'000;

// Emits the lines of one NDJSON stream, spacing them at `rate` lines per second (0 = no wait).
class Builder {
 public:
  Builder(const Context& context, double rate, double start_ms = 0)
      : model_(context.model), rate_(rate), start_ms_(start_ms) {}

  void headers() {
    Step s;
    s.kind = Step::Kind::Headers;
    s.at_ms = start_ms_;
    script_.push_back(std::move(s));
  }
  void token(const std::string& content) {
    line(content_line(model_, line_no_++, content), content);
  }
  void tokens(int count) {
    for (int i = 1; i <= count; ++i)
      token(text_token(i));
  }
  // Content tokens cut after each space ("a b" -> "a ", "b"), then the done line.
  void say(std::string_view words) {
    int count = 0;
    while (!words.empty()) {
      const std::size_t space = words.find(' ');
      const std::size_t len = space == std::string_view::npos ? words.size() : space + 1;
      token(std::string(words.substr(0, len)));
      words.remove_prefix(len);
      ++count;
    }
    done(count);
  }
  void tool_calls(std::string_view calls) { line(tool_calls_line(model_, line_no_++, calls), ""); }
  void done(int eval_count, std::string_view calls = {}) {
    line(done_line(model_, line_no_++, eval_count, calls), "");
  }
  void mark_stamped() { script_.back().stamp = true; }
  void line(std::string bytes, std::string content) {
    Step s;
    s.kind = Step::Kind::Chunk;
    s.at_ms = start_ms_ + (rate_ > 0 ? static_cast<double>(slots_) * 1000.0 / rate_ : 0.0);
    ++slots_;
    s.bytes = std::move(bytes);
    s.content = std::move(content);
    script_.push_back(std::move(s));
  }
  void finish(Step::Kind kind) {
    Step s;
    s.kind = kind;
    script_.push_back(std::move(s));
  }
  Script take() { return std::move(script_); }

 private:
  std::string model_;
  double rate_;
  double start_ms_;
  long slots_ = 0;
  int line_no_ = 0;
  Script script_;
};

Script reply(int status, std::string body) {
  Step s;
  s.kind = Step::Kind::Reply;
  s.status = status;
  s.bytes = std::move(body);
  return {std::move(s)};
}

int tokens_arg(const Args& args, std::string_view key, long fallback) {
  return static_cast<int>(args.integer(key, fallback, 0, kMaxTokens));
}

// ---- scenarios --------------------------------------------------------------------------------

constexpr std::string_view kDemoText =
    "Hello! This answer comes from **quill's bundled fake Ollama server**, so no model is "
    "running yet.\n\n"
    "To chat with a real model:\n\n"
    "1. Install Ollama from https://ollama.com\n"
    "2. Run `ollama pull llama3.2`\n"
    "3. Start `ollama serve` and ask again.\n\n"
    "If Ollama runs elsewhere, set `OLLAMA_HOST`.";

// Splits text into LLM-like tokens: newlines and a space stick to the next word; "**" and the
// punctuation marks below are tokens of their own.
std::vector<std::string> demo_tokens() {
  const std::string_view text = kDemoText;
  const std::string_view punct = "!.,:`";
  auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '\'' || c == '_' || c == '/';
  };
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && text[i] == '\n')
      ++i;
    if (i < text.size() && text[i] == ' ') ++i;
    if (text.substr(i, 2) == "**") {
      i += 2;
    } else if (i < text.size() && punct.find(text[i]) != std::string_view::npos) {
      ++i;
    } else {
      while (i < text.size() && word_char(text[i]))
        ++i;
    }
    if (i == start) ++i;  // anything else: one byte
    out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

Script demo(const Args& args, const Context& context) {
  Builder b(context, args.number("rate", 40, 0, kMaxRate));
  b.headers();
  const std::vector<std::string> tokens = demo_tokens();
  for (const std::string& t : tokens)
    b.token(t);
  b.done(static_cast<int>(tokens.size()));
  b.finish(Step::Kind::End);
  return b.take();
}

Script text(const Args& args, const Context& context) {
  const int tokens = tokens_arg(args, "tokens", 20);
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  if (args.integer("stamp", 0, 0, 1) == 1) {
    for (int i = 1; i <= tokens; ++i) {
      b.token(std::to_string(i) + ":" + std::string(kStampPlaceholder) + " ");
      b.mark_stamped();
    }
  } else {
    b.tokens(tokens);
  }
  b.done(tokens);
  b.finish(Step::Kind::End);
  return b.take();
}

Script split(const Args& args, const Context& context) {
  return split_chunks(text(args, context));
}

Script error(const Args& args, const Context& context) {
  const int after = tokens_arg(args, "after", 5);
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.tokens(after);
  b.line(error_body(args.text("message",
                              "an error was encountered while running the model: unexpected EOF")) +
             "\n",
         "");
  b.finish(Step::Kind::End);
  return b.take();
}

Script drop(const Args& args, const Context& context) {
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.tokens(tokens_arg(args, "after", 5));
  b.finish(Step::Kind::Drop);
  return b.take();
}

// N tokens, then a proper end of body but no done line: the stream is incomplete all the same.
Script truncated(const Args& args, const Context& context) {
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.tokens(tokens_arg(args, "after", 5));
  b.finish(Step::Kind::End);
  return b.take();
}

Script garbage(const Args& args, const Context& context) {
  const int after = tokens_arg(args, "after", 5);
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.tokens(after);
  b.line("this is not json\n", "");
  b.done(after);
  b.finish(Step::Kind::End);
  return b.take();
}

Script hang(const Args& args, const Context& context) {
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.tokens(tokens_arg(args, "after", 3));
  b.finish(Step::Kind::Hang);
  return b.take();
}

Script slow(const Args& args, const Context& context) {
  const int tokens = tokens_arg(args, "tokens", 20);
  Builder b(context, args.number("rate", 0, 0, kMaxRate),
            static_cast<double>(args.integer("delay_ms", 1000, 0, 3'600'000)));
  b.headers();
  b.tokens(tokens);
  b.done(tokens);
  b.finish(Step::Kind::End);
  return b.take();
}

Script status(const Args& args, const Context& context) {
  const int code = static_cast<int>(args.integer("code", 503, 200, 599));
  std::string fallback;
  switch (code) {
    case 503:
      fallback = "server busy, please try again.  maximum pending requests exceeded";
      break;
    case 404:
      fallback = "model '" + context.model + "' not found";
      break;
    case 500:
      fallback =
          "model runner has unexpectedly stopped, this may be due to resource limitations or an "
          "internal error, check ollama server logs for details";
      break;
    default:
      fallback = "fake-ollama status " + std::to_string(code);
      break;
  }
  return reply(code, error_body(args.text("message", fallback)));
}

Script fixture(const Args& args, const Context& context) {
  const std::string name = args.text("name", "");
  if (name.empty() || name.front() == '.' ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    throw BadParam{"fixture needs name=<file stem>, e.g. fixture?name=chat-thinking"};
  const std::string path = context.fixtures_dir + "/" + name + ".ndjson";
  std::ifstream file(path, std::ios::binary);
  if (!file) throw BadParam{"cannot read fixture " + path};
  std::ostringstream all;
  all << file.rdbuf();
  const std::string bytes = all.str();

  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::size_t nl = bytes.find('\n', pos);
    const std::size_t end = nl == std::string::npos ? bytes.size() : nl + 1;
    std::string line = bytes.substr(pos, end - pos);
    pos = end;
    std::string content;
    const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_object() &&
        parsed["message"].contains("content") && parsed["message"]["content"].is_string())
      content = parsed["message"]["content"].get<std::string>();
    b.line(std::move(line), std::move(content));
  }
  b.finish(Step::Kind::End);
  Script script = b.take();
  if (args.integer("split", 0, 0, 1) == 1) script = split_chunks(std::move(script));
  return script;
}

// ---- tools ------------------------------------------------------------------------------------

constexpr std::string_view kDefaultCalls =
    R"([{"name":"read_file","arguments":{"path":"README.md"}}])";

// The `calls` parameter: an array of {"name": non-empty string, "arguments"?: object,
// "id"?: string}, key order kept (Ollama keeps the model's argument order).
ordered_json calls_arg(const Args& args) {
  const std::string text = args.text("calls", std::string(kDefaultCalls));
  const ordered_json calls = ordered_json::parse(text, nullptr, false);
  auto valid_call = [](const ordered_json& call) {
    if (!call.is_object()) return false;
    const auto name = call.find("name");
    if (name == call.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      return false;
    for (auto it = call.begin(); it != call.end(); ++it) {
      if (it.key() == "arguments" ? !it->is_object()
          : it.key() == "id"      ? !it->is_string()
                                  : it.key() != "name")
        return false;
    }
    return true;
  };
  bool ok = calls.is_array();
  for (std::size_t i = 0; ok && i < calls.size(); ++i)
    ok = valid_call(calls[i]);
  if (!ok)
    throw BadParam{"bad parameter calls=" + text +
                   R"( (a JSON array of {"name":"…","arguments":{…},"id":"…"}, id optional))"};
  return calls;
}

// The request offers tools: a non-empty `tools` array.
bool tools_offered(const json* request) {
  if (request == nullptr || !request->is_object()) return false;
  const auto tools = request->find("tools");
  return tools != request->end() && tools->is_array() && !tools->empty();
}

// Tool rounds already played: assistant messages of the request with a non-empty `tool_calls`.
long tool_rounds_done(const json* request) {
  if (request == nullptr || !request->is_object()) return 0;
  const auto messages = request->find("messages");
  if (messages == request->end() || !messages->is_array()) return 0;
  long rounds = 0;
  for (const json& message : *messages) {
    if (!message.is_object()) continue;
    const auto role = message.find("role");
    const auto calls = message.find("tool_calls");
    if (role != message.end() && *role == "assistant" && calls != message.end() &&
        calls->is_array() && !calls->empty())
      ++rounds;
  }
  return rounds;
}

Script tools(const Args& args, const Context& context) {
  const ordered_json calls = calls_arg(args);
  const std::string then = args.text("then", "Done.");
  const long rounds = args.integer("rounds", 1, 0, kMaxTokens);
  const bool forever = args.integer("forever", 0, 0, 1) == 1;
  const bool on_done = args.integer("ondone", 0, 0, 1) == 1;
  const bool same_index = args.integer("sameindex", 0, 0, 1) == 1;
  const bool no_id = args.integer("noid", 0, 0, 1) == 1;
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  const long done_rounds = tool_rounds_done(context.request);
  if (!tools_offered(context.request)) {
    b.say("(no tools were offered)");
  } else if (!forever && done_rounds >= rounds) {
    b.say(then);
  } else {
    b.token("Let me ");
    b.token("check.");
    ordered_json wire = ordered_json::array();
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const ordered_json& call = calls[i];
      ordered_json out = ordered_json::object();
      if (call.contains("id")) {
        out["id"] = call["id"];
      } else if (!no_id) {  // numbered across rounds, so every id of a conversation differs
        out["id"] =
            "call_" + std::to_string(static_cast<std::size_t>(done_rounds) * calls.size() + i + 1);
      }
      ordered_json function = ordered_json::object();
      function["index"] = same_index ? 0 : i;
      function["name"] = call["name"];
      function["arguments"] =
          call.contains("arguments") ? call["arguments"] : ordered_json::object();
      out["function"] = std::move(function);
      wire.push_back(std::move(out));
    }
    const int eval_count = 2 + static_cast<int>(wire.size());
    if (on_done) {
      b.done(eval_count, go_json(wire));
    } else {
      for (const ordered_json& call : wire)
        b.tool_calls(go_json(ordered_json::array({call})));
      b.done(eval_count);
    }
  }
  b.finish(Step::Kind::End);
  return b.take();
}

// ---- answers that are not the API, and hostile bytes -----------------------------------------

// A line whose message carries only `thinking` (bytes copied raw, like content_line's).
std::string thinking_line(std::string_view model, int line, std::string_view thinking) {
  return "{\"model\":" + go_json_string(model) + ",\"created_at\":\"" + created_at(line) +
         R"(","message":{"role":"assistant","content":"","thinking":)" + go_json_string(thinking) +
         "},\"done\":false}\n";
}

// `unit` (default "endless ") repeated to `size` bytes, sent as one line's content (or thinking
// with field=thinking) again and again until the client leaves: a server that never stops.
Script endless(const Args& args, const Context& context) {
  const std::string field = args.text("field", "content");
  if (field != "content" && field != "thinking")
    throw BadParam{"bad parameter field=" + field + " (content or thinking)"};
  const std::string unit = args.text("unit", "endless ");
  if (unit.empty()) throw BadParam{"bad parameter unit= (not empty)"};
  const auto size = static_cast<std::size_t>(args.integer("size", 16384, 1, 16 * 1024 * 1024));
  std::string text;
  while (text.size() + unit.size() <= size || text.empty())
    text += unit;
  Step repeat;
  repeat.kind = Step::Kind::Repeat;
  repeat.bytes = field == "content" ? content_line(context.model, 1, text)
                                    : thinking_line(context.model, 1, text);
  Builder b(context, 0);
  b.headers();
  Script script = b.take();
  script.push_back(std::move(repeat));
  return script;
}

// Raw bytes that are not UTF-8 inside the strings of a well-formed stream: content "caf\xE9 " and
// "ok\xF0\x9F\x91 end" (a cut emoji), thinking "\xC3( think", a read_file call whose path is
// "a\xFF.txt", then the done line. last_text stays empty (it must remain JSON).
Script badutf8(const Args& args, const Context& context) {
  Builder b(context, args.number("rate", 0, 0, kMaxRate));
  b.headers();
  b.line(content_line(context.model, 1, "caf\xE9 "), "");
  b.line(content_line(context.model, 2, "ok\xF0\x9F\x91 end"), "");
  b.line(thinking_line(context.model, 3, "\xC3( think"), "");
  b.tool_calls(R"([{"id":"call_1","function":{"index":0,"name":"read_file","arguments":{"path":"a)"
               "\xFF"
               R"(.txt"}}}])");
  b.done(3);
  b.finish(Step::Kind::End);
  return b.take();
}

// HTTP 200 with an HTML page, as a captive portal or a web server in front of the wrong path sends.
Script html(const Args&, const Context&) {
  Script script = reply(200, "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>");
  script.front().content_type = "text/html; charset=utf-8";
  return script;
}

// A redirect (default 302) to `location`, with an empty body.
Script redirect(const Args& args, const Context&) {
  Script script = reply(static_cast<int>(args.integer("code", 302, 300, 399)), "");
  script.front().location = args.text("location", "https://login.example.com/sso?next=/api/chat");
  return script;
}

// A hostile model: `calls` goes verbatim into message.tool_calls (not checked, not re-encoded).
Script rawcalls(const Args& args, const Context& context) {
  Builder b(context, 0);
  b.headers();
  b.token("Let me ");
  b.tool_calls(args.text("calls", "[]"));
  b.done(2);
  b.finish(Step::Kind::End);
  return b.take();
}

struct ScenarioDef {
  std::string_view name;
  std::initializer_list<std::string_view> keys;
  Script (*build)(const Args&, const Context&);
};

const ScenarioDef kScenarios[] = {
    {"demo", {"rate"}, &demo},
    {"text", {"tokens", "rate", "stamp"}, &text},
    {"split", {"tokens", "rate"}, &split},
    {"error", {"after", "rate", "message"}, &error},
    {"drop", {"after", "rate"}, &drop},
    {"truncated", {"after", "rate"}, &truncated},
    {"garbage", {"after", "rate"}, &garbage},
    {"hang", {"after", "rate"}, &hang},
    {"slow", {"delay_ms", "tokens", "rate"}, &slow},
    {"status", {"code", "message"}, &status},
    {"fixture", {"name", "rate", "split"}, &fixture},
    {"tools",
     {"calls", "then", "rounds", "forever", "ondone", "sameindex", "noid", "rate"},
     &tools},
    {"endless", {"field", "unit", "size"}, &endless},
    {"badutf8", {"rate"}, &badutf8},
    {"html", {}, &html},
    {"redirect", {"code", "location"}, &redirect},
    {"rawcalls", {"calls"}, &rawcalls},
};

const ScenarioDef* find_scenario(std::string_view name) {
  for (const ScenarioDef& def : kScenarios)
    if (def.name == name) return &def;
  return nullptr;
}

}  // namespace

const std::string* Params::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

std::optional<Spec> parse_spec(std::string_view text) {
  Spec spec;
  const std::size_t q = text.find('?');
  spec.name = std::string(text.substr(0, q));
  if (q == std::string_view::npos) return spec;
  std::string_view rest = text.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    spec.params.items.emplace_back(std::move(*key), std::move(*value));
  }
  return spec;
}

bool is_scenario(std::string_view name) {
  return find_scenario(name) != nullptr;
}

std::vector<std::string_view> scenario_names() {
  std::vector<std::string_view> names;
  for (const ScenarioDef& def : kScenarios)
    names.push_back(def.name);
  return names;
}

Script build_script(const Spec& spec, const Context& context, std::string* error) {
  const ScenarioDef* def = find_scenario(spec.name);
  if (def == nullptr) {
    *error = "unknown scenario '" + spec.name + "'";
    return {};
  }
  try {
    const Args args(def->name, spec.params, def->keys);
    return def->build(args, context);
  } catch (const BadParam& bad) {
    *error = bad.message;
    return {};
  }
}

std::string go_json_string(std::string_view text) {
  std::string out = "\"";
  quill::util::append_json_escaped<quill::util::JsonStyle::Go>(out, text);
  out += '"';
  return out;
}

std::string error_body(std::string_view message) {
  return "{\"error\":" + go_json_string(message) + "}";
}

std::string created_at(int line) {
  // 2026-08-20T14:03:11.52781Z, then ~17 ms per line; Go trims trailing zeros of the fraction.
  constexpr std::int64_t kBaseSeconds = 1787234591;
  constexpr std::int64_t kBaseNanos = 527810000;
  const std::int64_t total = kBaseNanos + static_cast<std::int64_t>(line) * 16937311;
  const std::time_t seconds = static_cast<std::time_t>(kBaseSeconds + total / 1'000'000'000);
  std::int64_t nanos = total % 1'000'000'000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[32];
  const std::size_t n = std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(date, n);
  if (nanos != 0) {
    char fraction[16];
    std::snprintf(fraction, sizeof fraction, ".%09lld", static_cast<long long>(nanos));
    std::string f(fraction);
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::string content_line(std::string_view model, int line, std::string_view content) {
  return "{\"model\":" + go_json_string(model) + ",\"created_at\":\"" + created_at(line) +
         "\",\"message\":{\"role\":\"assistant\",\"content\":" + go_json_string(content) +
         "},\"done\":false}\n";
}

std::string tool_calls_line(std::string_view model, int line, std::string_view tool_calls) {
  return "{\"model\":" + go_json_string(model) + ",\"created_at\":\"" + created_at(line) +
         "\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":" +
         std::string(tool_calls) + "},\"done\":false}\n";
}

std::string done_line(std::string_view model, int line, int eval_count,
                      std::string_view tool_calls) {
  constexpr std::int64_t kLoad = 912733458;
  constexpr std::int64_t kPromptEval = 118002000;
  const std::int64_t eval = static_cast<std::int64_t>(eval_count) * 16405123 + 1;
  const std::int64_t total = kLoad + kPromptEval + eval + 2345678;
  return "{\"model\":" + go_json_string(model) + ",\"created_at\":\"" + created_at(line) +
         "\",\"message\":{\"role\":\"assistant\",\"content\":\"\"" +
         (tool_calls.empty() ? std::string() : ",\"tool_calls\":" + std::string(tool_calls)) +
         "},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":" + std::to_string(total) +
         ",\"load_duration\":" + std::to_string(kLoad) +
         ",\"prompt_eval_count\":26,\"prompt_eval_duration\":" + std::to_string(kPromptEval) +
         ",\"eval_count\":" + std::to_string(eval_count) +
         ",\"eval_duration\":" + std::to_string(eval) + "}\n";
}

std::string go_json(const ordered_json& value) {
  std::string out;
  if (value.is_object()) {
    out += '{';
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it != value.begin()) out += ',';
      out += go_json_string(it.key()) + ":" + go_json(it.value());
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i != 0) out += ',';
      out += go_json(value[i]);
    }
    out += ']';
  } else if (value.is_string()) {
    out = go_json_string(value.get_ref<const std::string&>());
  } else {
    out = value.dump();  // null, booleans, numbers
  }
  return out;
}

std::string text_token(int i) {
  static constexpr std::string_view kSuffixes[] = {"", "é", "日本", "👋", "\n"};
  return "t" + std::to_string(i) + std::string(kSuffixes[(i - 1) % 5]) + " ";
}

Script split_chunks(Script script) {
  static constexpr std::size_t kCycle[] = {1, 2, 3, 2, 1, 3};
  Script out;
  std::size_t piece = 0;
  for (Step& step : script) {
    if (step.kind != Step::Kind::Chunk || step.bytes.size() <= 1) {
      out.push_back(std::move(step));
      continue;
    }
    std::size_t pos = 0;
    bool first = true;
    while (pos < step.bytes.size()) {
      const std::size_t len = std::min(kCycle[piece % std::size(kCycle)], step.bytes.size() - pos);
      Step s;
      s.kind = Step::Kind::Chunk;
      s.bytes = step.bytes.substr(pos, len);
      if (first) {
        s.at_ms = step.at_ms;
        s.gap_ms = step.gap_ms;
      } else if (piece % 3 == 0) {
        s.gap_ms = 1;  // let the client really receive the pieces separately
      }
      pos += len;
      if (pos == step.bytes.size()) s.content = step.content;
      out.push_back(std::move(s));
      first = false;
      ++piece;
    }
  }
  return out;
}

}  // namespace fake_ollama
