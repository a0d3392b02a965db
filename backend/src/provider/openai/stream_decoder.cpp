#include "provider/openai/stream_decoder.hpp"

#include "util/json_depth.hpp"
#include "util/size_text.hpp"
#include "util/utf8.hpp"

namespace quill::openai {
namespace {

using provider::json;
using simdjson::ondemand::array;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

// What a fragment costs beyond its text: a hostile server may send endless empty fragments.
constexpr std::size_t kFragmentOverhead = 16;
// Calls of one round being assembled; far beyond what a turn runs (32), and bounded before the
// turn's byte limit sees the event.
constexpr std::size_t kMaxPendingCalls = 4096;

bool is_null(value& v) {
  bool null = false;
  return !v.is_null().get(null) && null;
}

// A string field: null leaves `out` alone and gives true; another type gives false.
bool read_string(value v, std::string& out, bool append) {
  if (is_null(v)) return true;
  std::string_view s;
  if (v.get_string().get(s)) return false;
  if (append) {
    out.append(s);
  } else {
    out.assign(s);
  }
  return true;
}

std::string not_a(std::string_view what, std::string_view type) {
  return std::string(what) + " is not " + std::string(type);
}

}  // namespace

std::optional<std::string> StreamDecoder::feed(std::string_view bytes, const OnChunk& on_chunk) {
  std::optional<std::string> problem;
  const bool fits = events_.feed(bytes, [&](std::string_view data) {
    if (!problem) problem = on_event(data, on_chunk);
  });
  if (!fits && !problem) problem = "an event longer than " + util::size_text(max_event_);
  return problem;
}

std::optional<std::string> StreamDecoder::finish(const OnChunk& on_chunk) {
  std::optional<std::string> problem;
  const bool fits = events_.finish([&](std::string_view data) {
    if (!problem) problem = on_event(data, on_chunk);
  });
  if (!fits && !problem) problem = "an event longer than " + util::size_text(max_event_);
  if (problem || done_ || !finished_) return problem;
  // The body ended after a finish_reason without [DONE] (some servers): the round is complete.
  chunk_.clear();
  complete();
  on_chunk(chunk_);
  return std::nullopt;
}

std::optional<std::string> StreamDecoder::on_event(std::string_view data, const OnChunk& on_chunk) {
  if (done_) return std::nullopt;  // nothing counts after [DONE]
  if (auto problem = decode(data)) return *problem + ": " + std::string(data.substr(0, 80));
  on_chunk(chunk_);
  return std::nullopt;
}

std::optional<std::string> StreamDecoder::decode(std::string_view data) {
  chunk_.clear();
  if (data == "[DONE]") {
    complete();
    return std::nullopt;
  }
  if (!util::json_depth_within(data, util::kMaxProviderJsonDepth)) {
    return "nested deeper than " + std::to_string(util::kMaxProviderJsonDepth) + " levels";
  }
  padded_.reserve(data.size() + simdjson::SIMDJSON_PADDING);
  util::assign_valid_utf8(padded_, data);  // bad bytes become U+FFFD (see the Ollama decoder)
  padded_.reserve(padded_.size() + simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view input(padded_.data(), padded_.size(), padded_.capacity());

  simdjson::ondemand::document doc;
  if (auto e = parser_.iterate(input).get(doc); e)
    return std::string("not JSON (") + simdjson::error_message(e) + ")";
  object top;
  if (auto e = doc.get_object().get(top); e) {
    return e == simdjson::INCORRECT_TYPE
               ? std::string("not a JSON object")
               : std::string("not JSON (") + simdjson::error_message(e) + ")";
  }
  for (auto field : top) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e)
      return std::string("not JSON (") + simdjson::error_message(e) + ")";
    value v;
    if (auto e = field.value().get(v); e)
      return std::string("not JSON (") + simdjson::error_message(e) + ")";
    if (key == "choices") {
      if (is_null(v)) continue;
      array choices;
      if (v.get_array().get(choices)) return not_a("choices", "an array");
      bool first = true;
      for (auto element : choices) {
        object choice;
        if (element.get_object().get(choice)) return not_a("a choice", "an object");
        if (!first) continue;  // one answer is asked for: n is never set
        first = false;
        if (auto problem = decode_choice(choice)) return problem;
      }
    } else if (key == "usage") {
      if (is_null(v)) continue;
      object usage;
      if (v.get_object().get(usage)) return not_a("usage", "an object");
      for (auto u : usage) {
        std::string_view name;
        if (u.unescaped_key().get(name)) return not_a("usage", "an object");
        std::uint64_t* target = name == "prompt_tokens"       ? &usage_.prompt_eval_count
                                : name == "completion_tokens" ? &usage_.eval_count
                                                              : nullptr;
        if (target == nullptr) continue;
        if (u.value().get_uint64().get(*target))
          return not_a("usage." + std::string(name), "a count");
        has_usage_ = true;
      }
    } else if (key == "error") {
      if (is_null(v)) continue;
      std::string text;
      if (!read_string(v, text, false)) {
        object error;
        std::string_view message;
        if (!v.get_object().get(error) &&
            !error.find_field_unordered("message").get_string().get(message)) {
          text.assign(message);
        }
      }
      chunk_.error = text.empty() ? "unknown error" : text;
    }
  }
  return std::nullopt;
}

std::optional<std::string> StreamDecoder::decode_choice(object choice) {
  for (auto field : choice) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return not_a("a choice", "an object");
    value v;
    if (field.value().get(v)) return not_a("a choice", "JSON");
    if (key == "finish_reason") {
      if (is_null(v)) continue;
      if (!read_string(v, finish_reason_, false)) return not_a("finish_reason", "a string");
      finished_ = true;
    } else if (key == "delta") {
      if (is_null(v)) continue;
      object delta;
      if (v.get_object().get(delta)) return not_a("delta", "an object");
      for (auto d : delta) {
        std::string_view name;
        if (d.unescaped_key().get(name)) return not_a("delta", "an object");
        value dv;
        if (d.value().get(dv)) return not_a("delta", "JSON");
        if (name == "content") {
          if (!read_string(dv, chunk_.content, true)) return not_a("delta.content", "a string");
        } else if (name == "reasoning_content" || name == "reasoning") {
          if (!read_string(dv, chunk_.thinking, true))
            return not_a("delta." + std::string(name), "a string");
        } else if (name == "tool_calls") {
          if (is_null(dv)) continue;
          array calls;
          if (dv.get_array().get(calls)) return not_a("delta.tool_calls", "an array");
          std::size_t i = 0;
          for (auto element : calls) {
            object call;
            if (element.get_object().get(call))
              return not_a("delta.tool_calls[" + std::to_string(i) + "]", "an object");
            if (auto problem = decode_call(call))
              return "delta.tool_calls[" + std::to_string(i) + "]." + *problem;
            ++i;
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> StreamDecoder::decode_call(object call) {
  std::optional<std::uint64_t> index;
  std::string id;
  std::string name;
  std::string arguments;
  for (auto field : call) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::string("not an object");
    value v;
    if (field.value().get(v)) return std::string("not JSON");
    if (key == "index") {
      std::uint64_t n = 0;
      if (v.get_uint64().get(n)) return not_a("index", "a count");
      index = n;
    } else if (key == "id") {
      if (!read_string(v, id, false)) return not_a("id", "a string");
    } else if (key == "function") {
      if (is_null(v)) continue;
      object function;
      if (v.get_object().get(function)) return not_a("function", "an object");
      for (auto f : function) {
        std::string_view fkey;
        if (f.unescaped_key().get(fkey)) return not_a("function", "an object");
        if (fkey == "name") {
          if (!read_string(f.value(), name, false)) return not_a("function.name", "a string");
        } else if (fkey == "arguments") {
          if (!read_string(f.value(), arguments, false))
            return not_a("function.arguments", "a string");
        }
      }
    }
  }
  chunk_.call_bytes += kFragmentOverhead + id.size() + name.size() + arguments.size();
  const std::uint64_t at = index.value_or(last_index_.value_or(0));
  last_index_ = at;
  auto known = by_index_.find(at);
  // A fragment with a new id at a known index is a new call (servers that number every call 0).
  if (known == by_index_.end() ||
      (!id.empty() && !calls_[known->second].id.empty() && id != calls_[known->second].id)) {
    if (calls_.size() >= kMaxPendingCalls)
      return "more than " + std::to_string(kMaxPendingCalls) + " tool calls in one round";
    calls_.push_back({at, std::move(id), std::move(name), std::move(arguments)});
    by_index_[at] = calls_.size() - 1;
    return std::nullopt;
  }
  PendingCall& pending = calls_[known->second];
  if (pending.id.empty()) pending.id = std::move(id);
  pending.name += name;  // a name in pieces is rare, but valid
  pending.arguments += arguments;
  return std::nullopt;
}

void StreamDecoder::complete() {
  done_ = true;
  chunk_.done = true;
  chunk_.done_reason = finish_reason_.empty() ? "stop" : finish_reason_;
  chunk_.has_stats = has_usage_;
  chunk_.stats = usage_;
  for (PendingCall& pending : calls_) {
    provider::ToolCall call;
    call.name = std::move(pending.name);
    if (!pending.id.empty()) call.id = std::move(pending.id);
    const auto first = pending.arguments.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
      call.arguments = json::object();  // no arguments at all
    } else {
      json parsed = util::json_depth_within(pending.arguments, util::kMaxProviderJsonDepth)
                        ? json::parse(pending.arguments, nullptr, false)
                        : json(json::value_t::discarded);
      if (parsed.is_discarded()) {
        std::string shown;
        util::assign_valid_utf8(shown, std::string_view(pending.arguments).substr(0, 200));
        shown.resize(util::utf8_prefix(shown, 200));
        // The protocol's arguments stay an object; the text is in the problem the model reads.
        call.problem = "the arguments are not valid JSON: " + shown;
      } else {
        call.arguments = std::move(parsed);
      }
    }
    if (call.name.empty() && !call.problem) call.problem = "the call has no function name";
    chunk_.tool_calls.push_back(std::move(call));
  }
  calls_.clear();
  by_index_.clear();
}

}  // namespace quill::openai
