#include "rpc/message.hpp"

#include <gtest/gtest.h>

namespace quill::rpc {
namespace {

TEST(MessageTest, ClassifiesRequestNotificationAndResponses) {
  auto m = parse_message(R"({"jsonrpc":"2.0","id":7,"method":"x","params":{"a":1}})");
  ASSERT_TRUE(std::holds_alternative<Request>(m));
  EXPECT_EQ(std::get<Request>(m).id, 7);
  EXPECT_EQ(std::get<Request>(m).params["a"], 1);

  m = parse_message(R"({"jsonrpc":"2.0","method":"x"})");
  ASSERT_TRUE(std::holds_alternative<Notification>(m));
  EXPECT_TRUE(std::get<Notification>(m).params.is_null());

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
  EXPECT_TRUE(bad.answer);
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

TEST(MessageTest, ABrokenResponseIsNotAnswered) {
  const Invalid v = invalid_of(R"({"jsonrpc":"2.0","id":9})");
  EXPECT_FALSE(v.answer);
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
  const std::string body = make_notification("log", {{"message", std::string("bad \xff byte")}});
  EXPECT_NO_THROW(json::parse(body));
}

}  // namespace
}  // namespace quill::rpc
