#include "provider/ollama/stream_decoder.hpp"

#include "provider/ollama/chat_body.hpp"
#include "util/json_depth.hpp"
#include "util/size_text.hpp"
#include "util/utf8.hpp"

namespace quill::ollama {
namespace {

using simdjson::ondemand::value;

std::string describe(simdjson::error_code code) {
  return simdjson::error_message(code);
}

// Reads a string field into `out`; a JSON null leaves it empty.
simdjson::error_code read_string(value v, std::string& out) {
  bool is_null = false;
  if (auto e = v.is_null().get(is_null); e) return e;
  if (is_null) {
    out.clear();
    return simdjson::SUCCESS;
  }
  std::string_view s;
  if (auto e = v.get_string().get(s); e) return e;
  out.assign(s);
  return simdjson::SUCCESS;
}

std::optional<std::string> decode_message(value message_value, provider::Chunk& out) {
  simdjson::ondemand::object message;
  if (auto e = message_value.get_object().get(message); e) return "\"message\" is not an object";
  for (auto field : message) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return describe(e);
    if (key == "content") {
      if (read_string(field.value(), out.content)) return "\"message.content\" is not a string";
    } else if (key == "thinking") {
      if (read_string(field.value(), out.thinking)) return "\"message.thinking\" is not a string";
    } else if (key == "tool_calls") {
      value v = field.value();
      bool is_null = false;
      if (!v.is_null().get(is_null) && is_null) continue;
      simdjson::ondemand::array calls;
      if (v.get_array().get(calls)) return "\"message.tool_calls\" is not an array";
      std::size_t index = 0;
      for (auto call : calls) {
        simdjson::ondemand::object call_object;
        std::string_view raw;
        if (call.get_object().get(call_object) || call_object.raw_json().get(raw)) {
          return "a tool call is not an object";
        }
        // A call of the wrong shape (a name 5, "function": null) ends the turn here, named.
        std::string problem;
        auto parsed = parse_tool_call(raw, &problem);
        if (!parsed) return "message.tool_calls[" + std::to_string(index) + "]." + problem;
        out.tool_calls.push_back(std::move(*parsed));
        out.call_bytes += raw.size();
        ++index;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ChunkDecoder::decode(std::string_view line, provider::Chunk& out) {
  out.clear();
  // The nesting limit (util/json_depth.hpp), checked before anything parses the line.
  if (!util::json_depth_within(line, util::kMaxProviderJsonDepth)) {
    return "nested deeper than " + std::to_string(util::kMaxProviderJsonDepth) + " levels";
  }
  padded_.reserve(line.size() + simdjson::SIMDJSON_PADDING);
  // simdjson rejects a document with invalid UTF-8: the provider's bad bytes become U+FFFD first
  // (the replacement can be longer than what it replaces, hence the second reserve).
  util::assign_valid_utf8(padded_, line);
  padded_.reserve(padded_.size() + simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view input(padded_.data(), padded_.size(), padded_.capacity());

  simdjson::ondemand::document doc;
  if (auto e = parser_.iterate(input).get(doc); e) return "not JSON (" + describe(e) + ")";
  simdjson::ondemand::object object;
  if (auto e = doc.get_object().get(object); e) return "not a JSON object";

  struct Counter {
    std::string_view key;
    std::uint64_t* target;
  };
  const Counter counters[] = {
      {"total_duration", &out.stats.total_duration},
      {"load_duration", &out.stats.load_duration},
      {"prompt_eval_count", &out.stats.prompt_eval_count},
      {"prompt_eval_duration", &out.stats.prompt_eval_duration},
      {"eval_count", &out.stats.eval_count},
      {"eval_duration", &out.stats.eval_duration},
  };

  for (auto field : object) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return "not JSON (" + describe(e) + ")";
    if (key == "message") {
      if (auto problem = decode_message(field.value(), out)) return problem;
    } else if (key == "done") {
      if (field.value().get_bool().get(out.done)) return "\"done\" is not a boolean";
    } else if (key == "done_reason") {
      if (read_string(field.value(), out.done_reason)) return "\"done_reason\" is not a string";
    } else if (key == "error") {
      std::string text;
      value v = field.value();
      if (read_string(v, text)) {
        // Proxies in front of Ollama may send {"error": {"message": …}}.
        std::string_view message;
        simdjson::ondemand::object error_object;
        if (!v.get_object().get(error_object) &&
            !error_object.find_field_unordered("message").get_string().get(message)) {
          text.assign(message);
        } else {
          text = "unknown error";
        }
      }
      out.error = text;
    } else {
      for (const Counter& c : counters) {
        if (key == c.key) {
          if (field.value().get_uint64().get(*c.target))
            return "\"" + std::string(key) + "\" is not a count";
          out.has_stats = true;
          break;
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> StreamDecoder::feed(std::string_view bytes, const OnChunk& on_chunk) {
  std::optional<std::string> problem;
  const bool fits = lines_.feed(bytes, [&](std::string_view line) {
    if (problem || line.empty()) return;
    problem = decoder_.decode(line, chunk_);
    if (problem) {
      *problem += ": " + std::string(line.substr(0, 80));
      return;
    }
    on_chunk(chunk_);
  });
  if (!fits && !problem) problem = "a line longer than " + util::size_text(max_line_);
  return problem;
}

std::optional<std::string> StreamDecoder::finish(const OnChunk&) {
  return std::nullopt;  // a line without its '\n' is a cut stream (cut_mid_message)
}

}  // namespace quill::ollama
