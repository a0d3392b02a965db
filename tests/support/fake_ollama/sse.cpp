#include "sse.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

namespace fake_ollama {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

const char* error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 404) return "not_found_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

struct Call {
  std::size_t index;
  std::string id;
  std::string name;
  std::string arguments;  // JSON text
};

class Translator {
 public:
  Translator(const std::string& model, const SseOptions& options)
      : model_(model), options_(options) {}

  // The events one NDJSON line becomes.
  std::string line(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return "data: " + text + "\n\n";
    if (j.contains("error")) {
      const json& e = j["error"];
      const std::string message = e.is_string() ? e.get<std::string>() : e.dump();
      return event({{"error", {{"message", message}, {"type", "server_error"}}}});
    }
    std::string out;
    const json message = j.value("message", json::object());
    if (message.is_object()) {
      if (message.contains("thinking") && message["thinking"].is_string() &&
          !message["thinking"].get<std::string>().empty())
        out += delta({{"reasoning_content", message["thinking"]}});
      if (message.contains("content") && message["content"].is_string() &&
          !message["content"].get<std::string>().empty())
        out += delta({{"content", message["content"]}});
      if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
        std::vector<Call> calls;
        for (const json& c : message["tool_calls"]) {
          const json f = c.is_object() ? c.value("function", json::object()) : json::object();
          Call call{next_index_++, "", "", "{}"};
          call.id = c.is_object() && c.contains("id") && c["id"].is_string()
                        ? c["id"].get<std::string>()
                        : "call_" + std::to_string(call.index);
          call.name = f.is_object() && f.contains("name") && f["name"].is_string()
                          ? f["name"].get<std::string>()
                          : "";
          // An object goes out as its JSON text; a string is the text itself (hostile models
          // send text that does not parse).
          if (f.is_object() && f.contains("arguments"))
            call.arguments = f["arguments"].is_string() ? f["arguments"].get<std::string>()
                                                        : f["arguments"].dump();
          calls.push_back(std::move(call));
        }
        saw_calls_ = saw_calls_ || !calls.empty();
        // Interleaved: the round's calls (each on its own line in Ollama's form) wait for the
        // done line and go out together.
        if (options_.interleave) {
          held_.insert(held_.end(), calls.begin(), calls.end());
        } else {
          out += call_events(calls);
        }
      }
    }
    if (j.value("done", false)) {
      out += call_events(std::exchange(held_, {}));
      const std::string reason = saw_calls_ ? "tool_calls" : j.value("done_reason", "stop");
      ordered_json finish = base();
      finish["choices"] =
          json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", reason}}});
      out += event(finish);
      if (options_.usage) {
        const auto prompt = j.value("prompt_eval_count", 0);
        const auto completion = j.value("eval_count", 0);
        ordered_json usage = base();
        usage["choices"] = json::array();
        usage["usage"] = {{"prompt_tokens", prompt},
                          {"completion_tokens", completion},
                          {"total_tokens", prompt + completion}};
        out += event(usage);
      }
      out += "data: [DONE]\n\n";
    }
    return out;
  }

 private:
  ordered_json base() const {
    ordered_json b;
    b["id"] = "chatcmpl-fake";
    b["object"] = "chat.completion.chunk";
    b["created"] = 1787235112;
    b["model"] = model_;
    return b;
  }

  std::string event(const ordered_json& data) const { return "data: " + data.dump() + "\n\n"; }

  std::string delta(ordered_json delta) {
    if (first_) delta["role"] = "assistant";
    first_ = false;
    ordered_json e = base();
    e["choices"] = json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", nullptr}}});
    return event(e);
  }

  std::string call_delta(ordered_json fragment) {
    return delta({{"tool_calls", json::array({fragment})}});
  }

  // Each call: id, type and name with empty arguments, then the arguments in pieces; calls one
  // after another, or their pieces taken in turn.
  std::string call_events(const std::vector<Call>& calls) {
    std::vector<std::vector<std::string>> pieces;
    std::string out;
    for (const Call& c : calls) {
      std::vector<std::string> p;
      for (std::size_t at = 0; at < c.arguments.size(); at += options_.fragment)
        p.push_back(c.arguments.substr(at, options_.fragment));
      pieces.push_back(std::move(p));
    }
    auto first = [&](const Call& c) {
      return call_delta({{"index", c.index},
                         {"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", ""}}}});
    };
    auto piece = [&](const Call& c, const std::string& text) {
      return call_delta({{"index", c.index}, {"function", {{"arguments", text}}}});
    };
    if (!options_.interleave) {
      for (std::size_t i = 0; i < calls.size(); ++i) {
        out += first(calls[i]);
        for (const std::string& p : pieces[i])
          out += piece(calls[i], p);
      }
      return out;
    }
    for (const Call& c : calls)
      out += first(c);
    for (std::size_t round = 0;; ++round) {
      bool any = false;
      for (std::size_t i = 0; i < calls.size(); ++i) {
        if (round < pieces[i].size()) {
          out += piece(calls[i], pieces[i][round]);
          any = true;
        }
      }
      if (!any) break;
    }
    return out;
  }

  const std::string& model_;
  const SseOptions& options_;
  bool first_ = true;
  bool saw_calls_ = false;
  std::size_t next_index_ = 0;
  std::vector<Call> held_;
};

std::string openai_error_from(int status, const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::string message = body;
  if (j.is_object() && j.contains("error") && j["error"].is_string())
    message = j["error"].get<std::string>();
  return openai_error_body(status, message);
}

}  // namespace

std::string openai_error_body(int status, std::string_view message) {
  ordered_json e;
  e["error"] = {{"code", status}, {"message", message}, {"type", error_type(status)}};
  return e.dump();
}

SseOptions take_sse_options(Spec& spec, std::string* error) {
  SseOptions options;
  auto& items = spec.params.items;
  for (auto it = items.begin(); it != items.end();) {
    if (it->first == "fragment") {
      try {
        const long n = std::stol(it->second);
        if (n < 1 || n > 1 << 20) throw std::out_of_range("fragment");
        options.fragment = static_cast<std::size_t>(n);
      } catch (const std::exception&) {
        *error = "fragment must be an integer from 1 to 1048576";
      }
      it = items.erase(it);
    } else if (it->first == "interleave") {
      options.interleave = it->second == "1";
      it = items.erase(it);
    } else {
      if (it->first == "split" && it->second == "1") options.resplit = true;
      ++it;
    }
  }
  if (spec.name == "split") options.resplit = true;
  return options;
}

Script to_sse(const Script& ndjson, const std::string& model, const SseOptions& options) {
  Translator translator(model, options);
  Script out;
  std::string pending;          // a line still in pieces
  std::string pending_content;  // the text those pieces carry
  for (const Step& step : ndjson) {
    Step s = step;
    switch (step.kind) {
      case Step::Kind::Reply:
        if (step.status >= 400 && step.content_type.empty())
          s.bytes = openai_error_from(step.status, step.bytes);
        out.push_back(std::move(s));
        break;
      case Step::Kind::Headers:
        if (s.content_type.empty()) s.content_type = "text/event-stream";
        out.push_back(std::move(s));
        break;
      case Step::Kind::Chunk:
      case Step::Kind::Repeat: {
        pending += step.bytes;
        pending_content += step.content;
        std::string events;
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
          events += translator.line(pending.substr(0, nl));
          pending.erase(0, nl + 1);
        }
        // Timing and content stay with the step that completed the lines.
        s.bytes = std::move(events);
        if (!s.bytes.empty() || step.kind == Step::Kind::Repeat) {
          s.content = std::exchange(pending_content, "");
          out.push_back(std::move(s));
        }
        break;
      }
      default:
        if (!pending.empty()) {  // a line the script cut off: its bytes, as they were
          Step rest;
          rest.bytes = "data: " + std::exchange(pending, "");
          out.push_back(std::move(rest));
        }
        out.push_back(std::move(s));
        break;
    }
  }
  return options.resplit ? split_chunks(std::move(out)) : out;
}

}  // namespace fake_ollama
