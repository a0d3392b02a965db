// SSE framing, the OpenAI-compatible stream decoder and request body: the shared .sse fixtures
// whole and split at every byte, the framing's corners, tool-call fragments by index, and what
// a hostile server can send.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "http/sse_splitter.hpp"
#include "provider/openai/chat_body.hpp"
#include "provider/openai/stream_decoder.hpp"

namespace quill::openai {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(QUILL_FIXTURES_DIR) + "/ollama/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> events_of(const std::vector<std::string_view>& pieces) {
  http::SseSplitter splitter;
  std::vector<std::string> events;
  auto on = [&](std::string_view data) { events.emplace_back(data); };
  for (auto piece : pieces)
    EXPECT_TRUE(splitter.feed(piece, on));
  EXPECT_TRUE(splitter.finish(on));
  return events;
}

TEST(SseSplitterTest, FieldsCommentsLineEndingsAndTheLastEventAtEof) {
  const std::string body =
      ": keep-alive\n\n"
      "event: message\nid: 7\nretry: 100\ndata: one\n\n"
      "data: two\r\ndata:three\r\n\r\n"  // CRLF; no space after the colon; two lines joined
      "data\n\n"                         // a field without a colon: empty data
      "data: {\"a\":1}\n\n"
      "unknown: x\n\n"  // no data: no event
      "data: last";     // the body ends without the blank line
  const std::vector<std::string> want = {"one", "two\nthree", "", "{\"a\":1}", "last"};
  EXPECT_EQ(events_of({body}), want);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_EQ(
        events_of({std::string_view(body).substr(0, cut), std::string_view(body).substr(cut)}),
        want);
  }
}

TEST(SseSplitterTest, AnEventLongerThanTheLimitIsRefused) {
  http::SseSplitter splitter;
  const std::string line = "data: " + std::string(1024, 'x') + "\n";
  bool fits = true;
  std::size_t fed = 0;
  while (fits && fed <= http::SseSplitter::kMaxEvent + 2048) {
    fits = splitter.feed(line, [](std::string_view) {});
    fed += 1024;
  }
  EXPECT_FALSE(fits);  // many data lines of one event add up; the limit holds
}

TEST(SseSplitterTest, AnEventOfExactlyTheLimitPassesOneMoreByteIsRefused) {
  constexpr std::size_t kLimit = 10;
  for (const std::size_t length : {kLimit, kLimit + 1}) {
    SCOPED_TRACE(length);
    // two data lines: "12345" + '\n' + the rest, so the joining newline counts too
    const std::string rest(length - 6, 'y');
    const std::string body = "data: 12345\ndata: " + rest + "\n\n";
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      SCOPED_TRACE(cut);
      http::SseSplitter splitter(kLimit);
      std::vector<std::string> events;
      auto on = [&](std::string_view e) { events.emplace_back(e); };
      bool fits = splitter.feed(std::string_view(body).substr(0, cut), on);
      if (fits) fits = splitter.feed(std::string_view(body).substr(cut), on);
      if (length == kLimit) {
        EXPECT_TRUE(fits);
        EXPECT_EQ(events, std::vector<std::string>{"12345\n" + rest});
      } else {
        EXPECT_FALSE(fits);
        EXPECT_TRUE(events.empty());
      }
    }
  }
}

TEST(OpenAIStreamTest, AnEventOverTheLimitEndsTheStreamNamingTheLimit) {
  StreamDecoder decoder(/*max_event=*/32);
  const auto problem =
      decoder.feed("data: " + std::string(40, 'x') + "\n\n", [](provider::Chunk&) {});
  EXPECT_EQ(problem.value_or(""), "an event longer than 32 bytes");
}

struct Derived {
  std::string content;
  std::string thinking;
  std::vector<provider::ToolCall> calls;
  std::optional<std::string> done_reason;
  std::optional<std::string> error;
  std::optional<std::string> problem;
  bool has_stats = false;
  provider::ChatStats stats;
};

Derived derive(const std::vector<std::string_view>& pieces) {
  StreamDecoder decoder;
  Derived d;
  auto on = [&](provider::Chunk& c) {
    d.content += c.content;
    d.thinking += c.thinking;
    for (auto& call : c.tool_calls)
      d.calls.push_back(call);
    if (c.error) d.error = c.error;
    if (c.done) {
      EXPECT_FALSE(d.done_reason.has_value()) << "done twice";
      d.done_reason = c.done_reason;
      d.has_stats = c.has_stats;
      d.stats = c.stats;
    }
  };
  for (auto piece : pieces) {
    if (auto problem = decoder.feed(piece, on)) {
      d.problem = problem;
      return d;
    }
  }
  if (auto problem = decoder.finish(on)) d.problem = problem;
  return d;
}

void expect_like_fixture(const Derived& d, const json& expected) {
  EXPECT_FALSE(d.problem.has_value()) << *d.problem;
  EXPECT_EQ(d.content, expected["content"].get<std::string>());
  EXPECT_EQ(d.thinking, expected["reasoning"].get<std::string>());
  EXPECT_EQ(d.done_reason, expected["finish_reason"].get<std::string>());
  ASSERT_EQ(d.calls.size(), expected["tool_calls"].size());
  for (std::size_t i = 0; i < d.calls.size(); ++i) {
    const json& want = expected["tool_calls"][i];
    EXPECT_EQ(d.calls[i].name, want["name"]);
    EXPECT_EQ(d.calls[i].id, want["id"].get<std::string>());
    EXPECT_EQ(d.calls[i].arguments, want["arguments_json"]);  // parsed once, an object
    EXPECT_FALSE(d.calls[i].problem.has_value());
  }
}

const char* const kFixtures[] = {"openai-chat-tool-call-fragments", "openai-ollama-v1-tool-call"};

TEST(OpenAIStreamTest, FixturesDecodeWholeAndSplitAtEveryByte) {
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    const std::string body = fixture(std::string(name) + ".sse");
    const json expected = json::parse(fixture(std::string(name) + ".expected.json"));
    expect_like_fixture(derive({body}), expected);
    for (std::size_t cut = 1; cut < body.size(); ++cut) {
      const std::string_view b(body);
      const Derived d = derive({b.substr(0, cut), b.substr(cut)});
      expect_like_fixture(d, expected);
      if (HasFailure()) {
        ADD_FAILURE() << "first failing cut " << cut;
        return;
      }
    }
    // And byte by byte.
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < body.size(); ++i)
      bytes.push_back(std::string_view(body).substr(i, 1));
    expect_like_fixture(derive(bytes), expected);
  }
}

std::string event(const json& data) {
  return "data: " + data.dump() + "\n\n";
}

json delta(const json& d, const json& finish = nullptr) {
  return {{"choices", json::array({{{"index", 0}, {"delta", d}, {"finish_reason", finish}}})}};
}

TEST(OpenAIStreamTest, ReasoningIsThinkingUsageIsStatsAndNullsAreNothing) {
  const std::string body =
      event(delta({{"role", "assistant"}, {"content", nullptr}})) +
      event(delta({{"reasoning_content", "hmm "}})) + event(delta({{"reasoning", "ok"}})) +
      event(delta({{"content", "4"}})) + event(delta(json::object(), "length")) +
      event({{"choices", json::array()},
             {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 12}, {"total_tokens", 22}}},
             {"timings", {{"predicted_ms", 38.0}}}}) +
      "data: [DONE]\n\n" + event(delta({{"content", "after the end"}}));
  const Derived d = derive({body});
  EXPECT_FALSE(d.problem.has_value()) << *d.problem;
  EXPECT_EQ(d.thinking, "hmm ok");
  EXPECT_EQ(d.content, "4");  // never the thinking, never what came after [DONE]
  EXPECT_EQ(d.done_reason, "length");
  EXPECT_TRUE(d.has_stats);
  EXPECT_EQ(d.stats.prompt_eval_count, 10u);
  EXPECT_EQ(d.stats.eval_count, 12u);
}

TEST(OpenAIStreamTest, InterleavedCallsAreAssembledByIndexInArrivalOrder) {
  auto frag = [](int index, const json& extra) {
    json call = {{"index", index}};
    call.update(extra);
    return event(delta({{"tool_calls", json::array({call})}}));
  };
  const std::string body =
      frag(1, {{"id", "b"},
               {"type", "function"},
               {"function", {{"name", "list_files"}, {"arguments", ""}}}}) +
      frag(0, {{"id", "a"}, {"type", "function"}, {"function", {{"name", "read_file"}}}}) +
      frag(0, {{"function", {{"arguments", "{\"pa"}}}}) +
      frag(1, {{"function", {{"arguments", "{}"}}}}) +
      frag(0, {{"function", {{"arguments", "th\":\"é.txt\"}"}}}}) +
      // A new id at a known index is another call (servers that number every call 0).
      frag(0, {{"id", "c"},
               {"function", {{"name", "read_file"}, {"arguments", "{\"path\":\"x\"}"}}}}) +
      event(delta(json::object(), "tool_calls")) + "data: [DONE]\n\n";
  const Derived d = derive({body});
  ASSERT_FALSE(d.problem.has_value()) << *d.problem;
  ASSERT_EQ(d.calls.size(), 3u);
  EXPECT_EQ(d.calls[0].id, "b");
  EXPECT_EQ(d.calls[0].arguments, json::object());
  EXPECT_EQ(d.calls[1].id, "a");
  EXPECT_EQ(d.calls[1].arguments, (json{{"path", "é.txt"}}));
  EXPECT_EQ(d.calls[2].id, "c");
  EXPECT_EQ(d.calls[2].arguments, (json{{"path", "x"}}));
  EXPECT_EQ(d.done_reason, "tool_calls");
}

TEST(OpenAIStreamTest, ArgumentsThatAreNotJsonMakeACallWithAProblemNotAFailure) {
  const std::string body =
      event(delta({{"tool_calls",
                    json::array({{{"index", 0},
                                  {"id", "x"},
                                  {"function",
                                   {{"name", "read_file"}, {"arguments", "{\"path\": "}}}}})}})) +
      event(delta(json::object(), "tool_calls")) + "data: [DONE]\n\n";
  const Derived d = derive({body});
  ASSERT_FALSE(d.problem.has_value());
  ASSERT_EQ(d.calls.size(), 1u);
  ASSERT_TRUE(d.calls[0].problem.has_value());
  EXPECT_NE(d.calls[0].problem->find("not valid JSON"), std::string::npos);
  EXPECT_EQ(d.calls[0].arguments, json::object());  // the protocol's Call has an object
  EXPECT_NE(d.calls[0].problem->find("{\"path\": "), std::string::npos);
}

TEST(OpenAIStreamTest, ErrorsEndsAndBadShapes) {
  // An error event, in OpenAI's shape and as a bare string.
  Derived d =
      derive({event(delta({{"content", "par"}})) +
              event({{"error", {{"message", "model crashed"}, {"type", "server_error"}}}})});
  EXPECT_EQ(d.content, "par");
  EXPECT_EQ(d.error, "model crashed");
  EXPECT_EQ(derive({event({{"error", "busy"}})}).error, "busy");
  EXPECT_FALSE(derive({event({{"error", nullptr}, {"choices", json::array()}})}).error.has_value());
  // A body that ends after finish_reason without [DONE] is complete; without either, it is not.
  d = derive({event(delta({{"content", "a"}}, "stop"))});
  EXPECT_EQ(d.done_reason, "stop");
  EXPECT_FALSE(derive({event(delta({{"content", "a"}}))}).done_reason.has_value());
  // The last event without its blank line still counts.
  EXPECT_EQ(derive({"data: " + delta({{"content", "z"}}, "stop").dump()}).content, "z");
  // Wrong types are named.
  struct Bad {
    json data;
    const char* problem;
  } bad[] = {
      {delta({{"content", 5}}), "delta.content is not a string"},
      {delta({{"reasoning_content", json::array()}}), "delta.reasoning_content is not a string"},
      {{{"choices", "x"}}, "choices is not an array"},
      {{{"choices", json::array({5})}}, "a choice is not an object"},
      {delta({{"tool_calls", json::object()}}), "delta.tool_calls is not an array"},
      {delta({{"tool_calls", json::array({{{"index", -1}}})}}),
       "tool_calls[0].index is not a count"},
      {delta({{"tool_calls", json::array({{{"index", 0}, {"function", {{"name", 3}}}}})}}),
       "function.name is not a string"},
      {delta({{"tool_calls",
               json::array({{{"index", 0}, {"function", {{"arguments", json::object()}}}}})}}),
       "function.arguments is not a string"},
      {delta(json::object(), 7), "finish_reason is not a string"},
      {{{"usage", {{"prompt_tokens", "ten"}}}}, "usage.prompt_tokens is not a count"},
  };
  for (const Bad& b : bad) {
    const Derived got = derive({event(b.data)});
    ASSERT_TRUE(got.problem.has_value()) << b.data;
    EXPECT_NE(got.problem->find(b.problem), std::string::npos) << *got.problem;
  }
  const auto broken = derive({"data: {not json\n\n"}).problem;
  ASSERT_TRUE(broken.has_value());
  EXPECT_NE(broken->find("not JSON"), std::string::npos) << *broken;
  EXPECT_NE(derive({"data: [1]\n\n"}).problem->find("not a JSON object"), std::string::npos);
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  EXPECT_NE(derive({"data: " + deep + "\n\n"}).problem->find("nested deeper"), std::string::npos);
}

TEST(OpenAIStreamTest, EndlessEmptyFragmentsCostBytesSoTheTurnLimitStopsThem) {
  StreamDecoder decoder;
  std::size_t bytes = 0;
  const std::string fragment = event(
      delta({{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", ""}}}}})}}));
  for (int i = 0; i < 1000; ++i)
    ASSERT_FALSE(decoder.feed(fragment, [&](provider::Chunk& c) { bytes += c.call_bytes; }));
  EXPECT_GE(bytes, 1000u * 16);  // what ChatTurn adds up against maxAnswerBytes
}

TEST(OpenAIStreamTest, AFloodOfNewCallsInOneEventIsRefusedBeforeItGrows) {
  json calls = json::array();
  for (int i = 0; i < 5000; ++i)
    calls.push_back({{"index", i}});
  const Derived d = derive({event(delta({{"tool_calls", calls}}))});
  ASSERT_TRUE(d.problem.has_value());
  EXPECT_NE(d.problem->find("more than 4096 tool calls in one round"), std::string::npos);
}

TEST(OpenAIStreamTest, InvalidUtf8BecomesReplacementCharacters) {
  const Derived d = derive({"data: {\"choices\":[{\"delta\":{\"content\":\"caf\xE9\"}}]}\n\n"});
  EXPECT_FALSE(d.problem.has_value());
  EXPECT_EQ(d.content, "caf\xEF\xBF\xBD");
}

TEST(OpenAIChatBodyTest, MessagesToolsOptionsAndIds) {
  provider::ChatRequest r;
  r.model = "qwen";
  r.system = "be brief";
  r.options = {{"temperature", 0.2}, {"max_tokens", 12},
               {"seed", 42},         {"logit_bias", {{"151645", -100}}},
               {"stream", false},    {"messages", "x"}};
  r.tools = json::array({{{"type", "function"}, {"function", {{"name", "read_file"}}}}});
  r.messages = json::array({
      {{"role", "user"}, {"content", "read a"}},
      {{"role", "assistant"},
       {"content", ""},
       {"thinking", "hm"},
       {"toolCalls", json::array({{{"name", "read_file"}, {"arguments", {{"path", "a"}}}},
                                  {{"name", "list_files"}, {"arguments", "{bad"}, {"id", "k"}}})}},
      {{"role", "tool"}, {"content", "A"}, {"toolName", "read_file"}},
      {{"role", "tool"}, {"content", "B"}, {"toolName", "list_files"}, {"toolCallId", "k"}},
  });
  const json body = json::parse(build_chat_body(r));
  EXPECT_EQ(body["model"], "qwen");
  EXPECT_EQ(body["stream"], true);  // an option cannot turn streaming off
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["temperature"], 0.2);
  EXPECT_EQ(body["max_tokens"], 12);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["logit_bias"]["151645"], -100);
  EXPECT_EQ(body["tools"], r.tools);
  const json& m = body["messages"];
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0], (json{{"role", "system"}, {"content", "be brief"}}));
  EXPECT_EQ(m[1], (json{{"role", "user"}, {"content", "read a"}}));
  EXPECT_TRUE(m[2]["content"].is_null());   // calls without text
  EXPECT_FALSE(m[2].contains("thinking"));  // reasoning is not sent back
  const std::string made_up = m[2]["tool_calls"][0]["id"];
  EXPECT_FALSE(made_up.empty());
  EXPECT_EQ(m[2]["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], "{\"path\":\"a\"}");  // a string
  EXPECT_EQ(m[2]["tool_calls"][1]["function"]["arguments"], "{}");  // not JSON: not sent back
  EXPECT_EQ(m[3], (json{{"role", "tool"}, {"tool_call_id", made_up}, {"content", "A"}}));
  EXPECT_EQ(m[4]["tool_call_id"], "k");
}

}  // namespace
}  // namespace quill::openai
