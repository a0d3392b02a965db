// Hostile input fed straight to the pieces that read it: tool calls from the server, tool
// arguments from the model, the editor's answers, and Ollama's tags/show/version answers. Each
// of these used to throw a nlohmann exception (which, inside a libuv callback, ends the process);
// now each is a named problem, a skipped entry or a failed tool call.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/chat_service.hpp"
#include "fake_ollama_process.hpp"
#include "http/curl_multi.hpp"
#include "http/http_transfer.hpp"
#include "provider/chat_request.hpp"
#include "provider/ollama/chat_body.hpp"
#include "provider/ollama/models.hpp"
#include "provider/ollama/stream_decoder.hpp"
#include "tools/catalogue.hpp"
#include "util/json_access.hpp"
#include "uv/guard.hpp"

namespace quill {
namespace {

using nlohmann::json;

// ---- JsonReader ---------------------------------------------------------------------------------

TEST(JsonReader, AbsentAndNullAreNotGivenOtherTypesAreNamedProblems) {
  const json value = {{"s", "x"}, {"n", nullptr}, {"i", 5}, {"b", true}, {"a", {"p", "q"}}};
  util::JsonReader r(value, "top");
  EXPECT_EQ(r.string("s"), "x");
  EXPECT_EQ(r.string("n"), std::nullopt);
  EXPECT_EQ(r.string("absent"), std::nullopt);
  EXPECT_EQ(r.integer("i"), 5);
  EXPECT_EQ(r.boolean("b"), true);
  EXPECT_EQ(r.strings("a"), (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.string("i"), std::nullopt);
  EXPECT_EQ(r.problem(), "top.i is not a string");
  EXPECT_EQ(r.string("s"), std::nullopt) << "nothing is read after a problem";
  EXPECT_EQ(r.problem(), "top.i is not a string") << "the first problem stays";
}

TEST(JsonReader, NumbersAreCheckedForKindAndRange) {
  const json value =
      json::parse(R"({"neg":-3,"big":18446744073709551615,"float":5.0,"str":"5","zero":0})");
  EXPECT_EQ(util::JsonReader(value).integer("neg"), -3);
  EXPECT_EQ(util::JsonReader(value).count("zero"), 0u);
  for (const char* key : {"big", "float", "str"}) {
    util::JsonReader r(value);
    EXPECT_EQ(r.integer(key), std::nullopt) << key;
    EXPECT_FALSE(r.ok()) << key;
  }
  util::JsonReader r(value);
  EXPECT_EQ(r.count("neg"), std::nullopt);
  EXPECT_EQ(r.problem(), "neg is not a non-negative integer");
}

TEST(JsonReader, ANonObjectAndMissingRequiredMembersAreProblems) {
  const json array = json::array();
  util::JsonReader top(array);
  EXPECT_EQ(top.string("x"), std::nullopt);
  EXPECT_EQ(top.problem(), "the answer is not an object");
  const json empty = json::object();
  util::JsonReader r(empty, "function");
  EXPECT_EQ(r.required_string("name"), std::nullopt);
  EXPECT_EQ(r.problem(), "function.name is missing");
  const json strings = {{"list", {"a", 5}}};
  util::JsonReader s(strings);
  EXPECT_EQ(s.strings("list"), std::nullopt);
  EXPECT_EQ(s.problem(), "list is not an array of strings");
}

TEST(Guard, AnExceptionIsCaughtAndReported) {
  EXPECT_TRUE(uv::guarded("a test", [] {}));
  EXPECT_FALSE(uv::guarded("a test", [] { throw std::runtime_error("boom"); }));
  EXPECT_FALSE(uv::guarded("a test", [] { throw 5; }));
}

// An owner's callback that throws inside libcurl (the body) or libuv (the end) fails its own
// transfer; the loop and the other transfers go on. Before, the exception unwound through curl
// and uv_run.
TEST(Guard, ATransferWhoseOwnerThrowsFailsAndTheOthersFinish) {
  test::FakeOllamaProcess fake;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    http::CurlMulti multi(&loop);
    http::HttpRequest request;
    request.url = fake.url() + "/api/tags";
    std::optional<http::HttpResult> thrown_in_body, thrown_in_end, normal;
    std::string body;
    http::HttpTransfer bad_body(
        multi, request, [](long, std::string_view) -> bool { throw std::runtime_error("body"); },
        [&](const http::HttpResult& r) { thrown_in_body = r; });
    http::HttpTransfer bad_end(
        multi, request, [](long, std::string_view) { return true; },
        [&](const http::HttpResult& r) {
          thrown_in_end = r;
          throw std::runtime_error("end");
        });
    http::HttpTransfer good(
        multi, request,
        [&](long, std::string_view bytes) {
          body.append(bytes);
          return true;
        },
        [&](const http::HttpResult& r) { normal = r; });
    ASSERT_TRUE(bad_body.start());
    ASSERT_TRUE(bad_end.start());
    ASSERT_TRUE(good.start());
    while ((!thrown_in_body || !thrown_in_end || !normal) && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
    ASSERT_TRUE(thrown_in_body && thrown_in_end && normal);
    EXPECT_NE(thrown_in_body->outcome, http::HttpResult::Outcome::Complete);
    EXPECT_EQ(normal->outcome, http::HttpResult::Outcome::Complete);
    EXPECT_NE(body.find("\"models\""), std::string::npos);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the handles' close callbacks
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// ---- tool calls from the server -----------------------------------------------------------------

struct BadCall {
  const char* raw;
  const char* problem;
};

const BadCall kBadCalls[] = {
    {R"({"function":{"name":5,"arguments":{}}})", "function.name is not a string"},
    {R"({"function":"read_file"})", "function is not an object"},
    {R"({"function":null})", "function is missing"},
    {R"({"id":"c1"})", "function is missing"},
    {R"({"function":{"arguments":{}}})", "function.name is missing"},
    {R"({"id":5,"function":{"name":"read_file"}})", "id is not a string"},
    {R"({"function":{"name":["read_file"]}})", "function.name is not a string"},
    {R"([1,2])", "the call is not a JSON object"},
    {R"({"function":)", "the call is not a JSON object"},
};

TEST(ParseToolCall, CallsOfTheWrongShapeAreNamedProblems) {
  for (const BadCall& bad : kBadCalls) {
    std::string problem;
    EXPECT_EQ(ollama::parse_tool_call(bad.raw, &problem), std::nullopt) << bad.raw;
    EXPECT_EQ(problem, bad.problem) << bad.raw;
  }
}

TEST(ParseToolCall, ArgumentsOfAnyShapeAreKeptForTheToolToCheck) {
  std::string problem;
  auto call = ollama::parse_tool_call(
      R"({"id":null,"function":{"index":0,"name":"read_file","arguments":"{\"path\":1}"}})",
      &problem);
  ASSERT_TRUE(call) << problem;
  EXPECT_EQ(call->name, "read_file");
  EXPECT_EQ(call->arguments, "{\"path\":1}");
  EXPECT_EQ(call->id, std::nullopt);
  call = ollama::parse_tool_call(R"({"id":"c","function":{"name":"x"}})", &problem);
  ASSERT_TRUE(call) << problem;
  EXPECT_EQ(call->arguments, json::object());
  EXPECT_EQ(call->as_call(), (json{{"name", "x"}, {"arguments", json::object()}, {"id", "c"}}));
  // The mapping refuses what the model sent, in words the model reads.
  const tools::Mapped mapped = tools::map_call("c1", "read_file", json("{\"path\":1}"));
  EXPECT_FALSE(mapped.request);
  EXPECT_NE(mapped.problem.find("expected a JSON object"), std::string::npos);
}

TEST(ChunkDecoder, ALineWithABadToolCallIsABadChunkNamingTheField) {
  ollama::ChunkDecoder decoder;
  provider::Chunk chunk;
  for (const BadCall& bad : kBadCalls) {
    if (json::parse(bad.raw, nullptr, false).is_object() == false) continue;  // not a call object
    const std::string line =
        std::string(R"({"message":{"role":"assistant","content":"","tool_calls":[)") +
        R"({"function":{"name":"list_files","arguments":{}}},)" + bad.raw + "]},\"done\":false}";
    const auto problem = decoder.decode(line, chunk);
    ASSERT_TRUE(problem) << line;
    EXPECT_EQ(*problem, std::string("message.tool_calls[1].") + bad.problem);
  }
  // A good line still decodes after the bad ones.
  EXPECT_FALSE(decoder.decode(
      R"({"message":{"content":"","tool_calls":[{"function":{"name":"a","arguments":{}}}]}})",
      chunk));
  ASSERT_EQ(chunk.tool_calls.size(), 1u);
}

TEST(AssistantMessage, KeepsEveryCallInOrderWithArgumentsThatWereNotJsonAsText) {
  provider::ToolCall ok{
      .name = "read_file", .arguments = {{"path", "a"}}, .id = "ok", .problem = std::nullopt};
  provider::ToolCall bad{.name = "read_file",
                         .arguments = "{\"path\": ",
                         .id = std::nullopt,
                         .problem = "the arguments are not valid JSON: {\"path\": "};
  const json m = provider::assistant_message("text", "", {ok, bad});
  ASSERT_EQ(m["toolCalls"].size(), 2u);
  EXPECT_EQ(m["toolCalls"][0]["id"], "ok");
  EXPECT_EQ(m["toolCalls"][1]["arguments"], "{\"path\": ");
  EXPECT_FALSE(m["toolCalls"][1].contains("id"));
  std::string error;
  EXPECT_TRUE(provider::validate_messages(json::array({m}), &error)) << error;
}

// ---- tool arguments from the model --------------------------------------------------------------

TEST(MapCall, LineNumbersOutOfEveryRangeAreRefusedNotThrown) {
  for (const json& line :
       {json("99999999999999999999999"), json(1e300), json(-1e300), json(18446744073709551615ULL),
        json("12x"), json("-3"), json(2.5), json(true), json::array()}) {
    tools::Mapped mapped;
    ASSERT_NO_THROW(mapped =
                        tools::map_call("c", "read_file", {{"path", "a"}, {"start_line", line}}))
        << line;
    EXPECT_FALSE(mapped.request) << line;
    EXPECT_NE(mapped.problem.find("start_line must be"), std::string::npos) << line;
  }
  for (const auto& [given, want] :
       std::vector<std::pair<json, long long>>{{json("12"), 12}, {json(12.0), 12}, {json(7), 7}}) {
    const tools::Mapped mapped =
        tools::map_call("c", "read_file", {{"path", "a"}, {"start_line", given}});
    ASSERT_TRUE(mapped.request) << given << ": " << mapped.problem;
    EXPECT_EQ(mapped.request->params["startLine"], want);
  }
}

// ---- the editor's answers -----------------------------------------------------------------------

rpc::Response answer(json result) {
  rpc::Response r;
  r.ok = true;
  r.result = std::move(result);
  return r;
}

TEST(OutcomeOf, AnAnswerOfTheWrongShapeFailsTheCallSayingSo) {
  struct Case {
    const char* tool;
    json result;
    const char* problem;
  };
  const Case cases[] = {
      {"read_file", {{"content", 5}}, "content is not a string"},
      {"read_file", {{"content", "x"}, {"truncated", "yes"}}, "truncated is not a boolean"},
      {"read_file", json::array(), "the answer is not an object"},
      {"read_file", "text", "the answer is not an object"},
      {"list_files", {{"files", "x"}}, "files is not an array of strings"},
      {"list_files", {{"files", {"a", 5}}}, "files is not an array of strings"},
      {"edit_file", {{"applied", "yes"}}, "applied is not a boolean"},
      {"edit_file", {{"applied", true}, {"message", 5}}, "message is not a string"},
      {"create_file", {{"created", 1}}, "created is not a boolean"},
      {"create_file", {{"created", false}, {"message", {{"a", 1}}}}, "message is not a string"},
  };
  for (const Case& c : cases) {
    tools::Outcome outcome;
    ASSERT_NO_THROW(outcome = tools::outcome_of(c.tool, answer(c.result))) << c.result;
    EXPECT_EQ(outcome.status, "failed") << c.result;
    EXPECT_EQ(outcome.content, std::string("the editor's answer was malformed: ") + c.problem)
        << c.result;
  }
}

TEST(OutcomeOf, WellFormedAnswersStillWork) {
  EXPECT_EQ(tools::outcome_of("read_file", answer({{"content", "a"}, {"truncated", true}})).content,
            "a\n[truncated]");
  EXPECT_EQ(tools::outcome_of("read_file", answer({{"content", nullptr}})).content, "");
  EXPECT_EQ(tools::outcome_of("list_files", answer({{"files", json::array()}})).content,
            "(no files)");
  const tools::Outcome no = tools::outcome_of("edit_file", answer({{"applied", false}}));
  EXPECT_EQ(no.status, "rejected");
  EXPECT_EQ(no.content, "the user rejected this change");
  EXPECT_EQ(
      tools::outcome_of("create_file", answer({{"created", true}, {"message", "made a"}})).content,
      "made a");
}

// ---- Ollama's JSON answers ----------------------------------------------------------------------

TEST(ShapeTags, EntriesWithFieldsOfTheWrongTypeAreLeftOut) {
  const json tags = json::parse(R"({"models":[
    {"name":5,"size":1,"modified_at":"t"},
    {"name":"nullmod","size":null,"modified_at":null},
    {"name":"strsize","size":"big","modified_at":"t"},
    {"name":"negsize","size":-1},
    {"name":"badcaps","capabilities":"tools"},
    {"name":"numcaps","capabilities":[5]},
    {"name":"badctx","details":{"context_length":"8k"}},
    {"name":"baddetails","details":[1]},
    "not an object",
    {"name":"good","size":7,"modified_at":"2026-01-01T00:00:00Z","capabilities":["tools"],
     "details":{"context_length":8192}}
  ]})");
  std::string problem;
  const auto shaped = ollama::shape_tags(tags, &problem);
  ASSERT_TRUE(shaped) << problem;
  const json& models = (*shaped)["models"];
  ASSERT_EQ(models.size(), 2u) << models;
  EXPECT_EQ(models[0], (json{{"name", "nullmod"}, {"size", 0}, {"modifiedAt", ""}}));
  EXPECT_EQ(models[1], (json{{"name", "good"},
                             {"size", 7},
                             {"modifiedAt", "2026-01-01T00:00:00Z"},
                             {"capabilities", {"tools"}},
                             {"contextLength", 8192}}));
}

TEST(ShapeTags, AModelsFieldThatIsNoListIsAProblem) {
  for (const char* text : {R"({"models":"x"})", R"({"models":{"a":1}})", R"({"models":5})"}) {
    std::string problem;
    EXPECT_FALSE(ollama::shape_tags(json::parse(text), &problem)) << text;
    EXPECT_EQ(problem, "models is not an array") << text;
  }
  std::string problem;
  EXPECT_EQ(ollama::shape_tags(json::parse(R"({"models":null})"), &problem),
            (json{{"models", json::array()}}));
}

TEST(ShapeShow, FieldsOfTheWrongTypeAreProblems) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"capabilities":"tools"})", "capabilities is not an array of strings"},
      {R"({"capabilities":[5]})", "capabilities is not an array of strings"},
      {R"({"model_info":[]})", "model_info is not an object"},
      {R"({"model_info":{"general.architecture":5}})",
       "model_info.general.architecture is not a string"},
      {R"({"model_info":{"general.architecture":"llama","llama.context_length":"8k"}})",
       "model_info.llama.context_length is not an integer"},
  };
  for (const auto& [text, want] : cases) {
    std::string problem;
    EXPECT_FALSE(ollama::shape_show("m", json::parse(text), &problem)) << text;
    EXPECT_EQ(problem, want) << text;
  }
  std::string problem;
  EXPECT_EQ(ollama::shape_show("m", json::parse(R"({"capabilities":["tools"],"model_info":{
                               "general.architecture":"llama","llama.context_length":4096}})"),
                               &problem),
            (json{{"model", "m"}, {"capabilities", {"tools"}}, {"contextLength", 4096}}));
  EXPECT_EQ(ollama::shape_show("m", json::object(), &problem),
            (json{{"model", "m"}, {"capabilities", json::array()}}));
}

TEST(ShapeVersion, AVersionThatIsNoStringIsAProblem) {
  std::string problem;
  EXPECT_FALSE(ollama::shape_version("h", json::parse(R"({"version":12})"), &problem));
  EXPECT_EQ(problem, "version is not a string");
  EXPECT_EQ(ollama::shape_version("h", json::parse(R"({"version":"0.12.6"})"), &problem),
            (json{{"version", "0.12.6"}, {"host", "h"}}));
}

}  // namespace
}  // namespace quill

namespace quill {
namespace {

TEST(ShapePs, RunningModelsWithTheirContextAndOddEntriesLeftOut) {
  std::string problem;
  const auto shaped = ollama::shape_ps(json::parse(R"({"models":[
        {"name":"qwen3:8b","model":"qwen3:8b","size_vram":5,"expires_at":"2026-08-20T14:08:11Z",
         "context_length":8192},
        {"name":5},
        {"name":"old:1b"},
        {"name":"neg:1b","context_length":-3},
        {"name":"bad:1b","context_length":"4096"}]})"),
                                       &problem);
  ASSERT_TRUE(shaped.has_value()) << problem;
  const json& models = (*shaped)["models"];
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0], (json{{"name", "qwen3:8b"},
                             {"contextLength", 8192},
                             {"sizeVram", 5},
                             {"expiresAt", "2026-08-20T14:08:11Z"}}));
  EXPECT_EQ(models[1], (json{{"name", "old:1b"}}));  // older servers: no context_length
  EXPECT_EQ(models[2], (json{{"name", "neg:1b"}}));  // a nonsense length is not a length
  EXPECT_FALSE(ollama::shape_ps(json::parse(R"({"models":{}})"), &problem).has_value());
  EXPECT_NE(problem.find("models"), std::string::npos);
}

}  // namespace
}  // namespace quill
