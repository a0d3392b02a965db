#include "rpc/message.hpp"

#include <gtest/gtest.h>

#include "util/json_depth.hpp"

namespace quill::rpc {
namespace {

TEST(MessageTest, ClassifiesRequestNotificationAndResponses) {
  auto m = parse_message(R"({"jsonrpc":"2.0","id":7,"method":"x","params":{"a":1}})");
  ASSERT_TRUE(std::holds_alternative<Request>(m));
  EXPECT_EQ(std::get<Request>(m).id, 7);
  EXPECT_EQ(std::get<Request>(m).params["a"], 1);

  m = parse_message(R"({"jsonrpc":"2.0","method":"x"})");
  ASSERT_TRUE(std::holds_alternative<Notification>(m));
  EXPECT_EQ(std::get<Notification>(m).params, json::object()) << "absent params mean {}";
  m = parse_message(R"({"jsonrpc":"2.0","id":1,"method":"x","params":null})");
  ASSERT_TRUE(std::holds_alternative<Request>(m));
  EXPECT_EQ(std::get<Request>(m).params, json::object()) << "null params mean {}";

  m = parse_message(R"({"jsonrpc":"2.0","id":"s","result":[1]})");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  EXPECT_TRUE(std::get<Response>(m).ok);

  m = parse_message(
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no","data":{"k":1}}})");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  const auto& r = std::get<Response>(m);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.code, -32601);
  EXPECT_EQ(r.error.message, "no");
  EXPECT_EQ(r.error.data["k"], 1);
}

Invalid invalid_of(std::string_view body) {
  auto m = parse_message(body);
  EXPECT_TRUE(std::holds_alternative<Invalid>(m)) << body;
  return std::holds_alternative<Invalid>(m) ? std::get<Invalid>(m) : Invalid{};
}

TEST(MessageTest, MalformedJsonIsAParseErrorWithNullId) {
  const Invalid bad = invalid_of(R"({"jsonrpc":"2.0","id":1,"method":)");
  EXPECT_EQ(bad.error.code, code::kParseError);
  EXPECT_TRUE(bad.id.is_null());
}

TEST(MessageTest, InvalidRequestsAreRejectedWithTheirIdWhenKnown) {
  EXPECT_EQ(invalid_of(R"([1,2])").error.code, code::kInvalidRequest);
  EXPECT_EQ(invalid_of(R"("hello")").error.code, code::kInvalidRequest);
  Invalid v = invalid_of(R"({"id":4,"method":"x"})");  // no jsonrpc
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  EXPECT_EQ(v.id, 4);
  v = invalid_of(R"({"jsonrpc":"2.0","id":5,"method":12})");
  EXPECT_EQ(v.id, 5);
  v = invalid_of(R"({"jsonrpc":"2.0","id":6,"method":"x","params":"str"})");
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  v = invalid_of(R"({"jsonrpc":"2.0","id":null,"method":"x"})");
  EXPECT_TRUE(v.id.is_null());
  v = invalid_of(R"({"jsonrpc":"2.0","id":1.5,"method":"x"})");
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  EXPECT_EQ(invalid_of(R"({"jsonrpc":"2.0"})").error.code, code::kInvalidRequest);
}

TEST(MessageTest, NeitherMethodNorResultIsAnInvalidRequestWithItsId) {
  const Invalid v = invalid_of(R"({"jsonrpc":"2.0","id":4})");
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  EXPECT_EQ(v.id, 4);
}

TEST(MessageTest, MethodWithResultOrErrorIsAnInvalidRequestNotARequest) {
  Invalid v = invalid_of(R"({"jsonrpc":"2.0","id":5,"method":"x","result":1})");
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  EXPECT_EQ(v.id, 5);
  v = invalid_of(R"({"jsonrpc":"2.0","id":"e","method":"x","error":{"code":1,"message":"m"}})");
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
  EXPECT_EQ(v.id, "e");
  v = invalid_of(R"({"jsonrpc":"2.0","method":"x","result":null})");  // a notification too
  EXPECT_EQ(v.error.code, code::kInvalidRequest);
}

TEST(MessageTest, AResponseWithResultAndErrorFailsTheRequestItAnswers) {
  const auto m = parse_message(R"({"jsonrpc":"2.0","id":6,"result":1,"error":{"code":1}})");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  const auto& r = std::get<Response>(m);
  EXPECT_EQ(r.id, 6);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.code, code::kInvalidRequest);
}

TEST(MessageTest, ResponseIdsFollowTheRules) {
  // null only with an error: the answer to a message that could not be read
  auto m = parse_message(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  EXPECT_TRUE(std::get<Response>(m).id.is_null());
  for (const char* body :
       {R"({"jsonrpc":"2.0","id":null,"result":1})", R"({"jsonrpc":"2.0","id":true,"result":1})",
        R"({"jsonrpc":"2.0","id":1.5,"result":1})", R"({"jsonrpc":"2.0","id":[1],"error":{}})",
        R"({"jsonrpc":"2.0","result":1})"}) {
    const Invalid v = invalid_of(body);
    EXPECT_EQ(v.error.code, code::kInvalidRequest) << body;
    EXPECT_TRUE(v.id.is_null()) << body;
  }
}

// `depth` arrays nested as `params` of a request with id 7: the message nests depth + 1 deep.
std::string nested_request(std::size_t depth) {
  return R"({"jsonrpc":"2.0","id":7,"method":"x","params":)" + std::string(depth, '[') +
         std::string(depth, ']') + "}";
}

TEST(MessageTest, DepthIsLimitedBeforeADomIsBuilt) {
  const std::size_t limit = util::kMaxJsonDepth;
  EXPECT_EQ(limit, 256u);
  EXPECT_TRUE(std::holds_alternative<Request>(parse_message(nested_request(limit - 1))));
  for (std::size_t depth : {limit, std::size_t{100000}}) {
    const Invalid v = invalid_of(nested_request(depth));
    EXPECT_EQ(v.error.code, code::kInvalidRequest) << depth;
    EXPECT_EQ(v.id, 7) << "the id is read without building the DOM";
    EXPECT_NE(v.error.message.find("deeper than 256"), std::string::npos) << v.error.message;
  }
  // The id after the deep part (objects this time), and unclosed brackets, are found the same way.
  std::string objects;
  for (int i = 0; i < 300; ++i)
    objects += R"({"a":)";
  objects += "1" + std::string(300, '}');
  Invalid v =
      invalid_of(R"({"params":)" + objects + R"(,"jsonrpc":"2.0","method":"x","id":"late"})");
  EXPECT_EQ(v.id, "late");
  v = invalid_of(std::string(100000, '['));
  EXPECT_TRUE(v.id.is_null());
}

TEST(MessageTest, ATooDeepAnswerFailsTheRequestItAnswersInsteadOfBeingAnswered) {
  const auto m = parse_message(R"({"jsonrpc":"2.0","id":12,"result":)" + std::string(5000, '[') +
                               std::string(5000, ']') + "}");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  const auto& r = std::get<Response>(m);
  EXPECT_EQ(r.id, 12);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.message.find("deeper than"), std::string::npos);
}

TEST(MessageTest, InvalidUtf8IsAParseErrorWithTheIdWhenItCanBeRead) {
  Invalid v = invalid_of(
      "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"x\",\"params\":{\"t\":\"\xe9t\xe9\"}}");
  EXPECT_EQ(v.error.code, code::kParseError);
  EXPECT_EQ(v.id, 8);
  EXPECT_NE(v.error.message.find("UTF-8"), std::string::npos);
  v = invalid_of("{\"id\":8,\"t\":\"\xff\",");  // and not JSON either: no id
  EXPECT_EQ(v.error.code, code::kParseError);
  EXPECT_TRUE(v.id.is_null());
  // An answer of the editor's in Latin-1 fails the request it answers.
  const auto m =
      parse_message("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":\"caf\xe9\"}}");
  ASSERT_TRUE(std::holds_alternative<Response>(m));
  EXPECT_EQ(std::get<Response>(m).id, 3);
  EXPECT_FALSE(std::get<Response>(m).ok);
  EXPECT_EQ(std::get<Response>(m).error.code, code::kParseError);
}

TEST(JsonDepthTest, CountsNestingOutsideStringsOnly) {
  EXPECT_EQ(util::json_depth("1"), 0u);
  EXPECT_EQ(util::json_depth("[]"), 1u);
  EXPECT_EQ(util::json_depth(R"({"a":[{"b":[]}],"c":{}})"), 4u);
  EXPECT_EQ(util::json_depth(R"(["[[[[", "{{"])"), 1u);
  EXPECT_EQ(util::json_depth(R"(["\"[[[", "\\", [[]]])"), 3u)
      << "escaped quotes, escaped backslashes";
  EXPECT_EQ(util::json_depth(R"(["\\\"[["])"), 1u);
  EXPECT_EQ(util::json_depth(R"([["unterminated [[[)"), 2u);
  EXPECT_EQ(util::json_depth("]]]][[}"), 2u) << "stray closers do not go below zero";
  EXPECT_EQ(util::json_depth(std::string(100000, '[')), 100000u);
  EXPECT_TRUE(util::json_depth_within(std::string(256, '[') + std::string(256, ']')));
  EXPECT_FALSE(util::json_depth_within(std::string(257, '[') + std::string(257, ']')));
}

TEST(MessageTest, BuildersProduceJsonRpc) {
  auto req = json::parse(make_request(3, "editor/readFile", {{"path", "a"}}));
  EXPECT_EQ(req["jsonrpc"], "2.0");
  EXPECT_EQ(req["id"], 3);
  EXPECT_EQ(req["method"], "editor/readFile");
  auto note = json::parse(make_notification("log", nullptr));
  EXPECT_FALSE(note.contains("params"));
  EXPECT_FALSE(note.contains("id"));
  auto err = json::parse(make_error(nullptr, {code::kParseError, "bad", nullptr}));
  EXPECT_TRUE(err["id"].is_null());
  EXPECT_FALSE(err["error"].contains("data"));
  auto ok = json::parse(make_result("a", nullptr));
  EXPECT_TRUE(ok.contains("result"));
}

TEST(MessageTest, InvalidUtf8IsReplacedNotThrown) {
  std::string body;
  ASSERT_NO_THROW(body = make_notification("log", {{"message", std::string("bad \xff byte")}}));
  const json parsed = json::parse(body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << "the body is valid UTF-8 JSON";
  EXPECT_EQ(parsed["params"]["message"], "bad \xEF\xBF\xBD byte") << "0xFF became U+FFFD";
}

}  // namespace
}  // namespace quill::rpc
