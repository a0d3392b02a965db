// protocol/examples/*.json against what the real backend sends and accepts, so the spec, the C++
// side and the Lua side (which loads the same files) cannot drift apart.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backend_process.hpp"
#include "json_shape.hpp"
#include "rpc/message.hpp"

namespace quill::test {
namespace {

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

void expect_shape(const std::string& example_name, const json& actual) {
  const auto mismatches =
      shape_mismatches(load_example(example_name), actual, optional_keys(example_name));
  EXPECT_TRUE(mismatches.empty()) << example_name << " vs " << actual.dump() << "\n"
                                  << join(mismatches);
}

TEST(ProtocolExamplesTest, EveryExampleIsTheKindItsNameSays) {
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(QUILL_PROTOCOL_DIR) + "/examples")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json" || name == "optional-keys.json") continue;
    ++count;
    std::ifstream in(entry.path());
    const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto message = rpc::parse_message(body);
    const std::string stem = entry.path().stem().string();  // e.g. chat.send.request
    const std::string kind = stem.substr(stem.rfind('.') + 1);
    if (kind == "request") {
      EXPECT_TRUE(std::holds_alternative<rpc::Request>(message)) << name;
    } else if (kind == "notification") {
      EXPECT_TRUE(std::holds_alternative<rpc::Notification>(message)) << name;
    } else if (kind == "response") {
      ASSERT_TRUE(std::holds_alternative<rpc::Response>(message)) << name;
      EXPECT_TRUE(std::get<rpc::Response>(message).ok) << name;
    } else if (kind == "error") {
      ASSERT_TRUE(std::holds_alternative<rpc::Response>(message)) << name;
      EXPECT_FALSE(std::get<rpc::Response>(message).ok) << name;
    } else {
      ADD_FAILURE() << name << ": unknown kind '" << kind << "'";
    }
  }
  EXPECT_GT(count, 10);
}

TEST(ProtocolExamplesTest, LifecycleMessagesMatchTheExamples) {
  BackendProcess backend;

  // Before initialize.
  backend.send(load_example("shutdown.request.json"));
  auto reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  expect_shape("serverNotInitialized.error.json", *reply);

  // The example initialize request, as the editor sends it.
  json init = load_example("initialize.request.json");
  backend.send(init);
  reply = backend.read_response(init["id"].get<int>());
  ASSERT_TRUE(reply.has_value()) << backend.stderr_text();
  expect_shape("initialize.response.json", *reply);

  backend.write_raw(frame("{oops"));
  reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  expect_shape("parse.error.json", *reply);

  backend.request(50, "no/such/method");
  reply = backend.read_response(50);
  ASSERT_TRUE(reply.has_value());
  expect_shape("methodNotFound.error.json", *reply);

  backend.write_raw("Content-Length: nope\r\n\r\n");
  reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  expect_shape("log.notification.json", *reply);

  backend.send(load_example("cancelRequest.notification.json"));  // unknown id: ignored

  json shutdown = load_example("shutdown.request.json");
  backend.send(shutdown);
  reply = backend.read_response(shutdown["id"].get<int>());
  ASSERT_TRUE(reply.has_value());
  expect_shape("shutdown.response.json", *reply);

  backend.request(51, "initialize", init["params"]);
  reply = backend.read_response(51);
  ASSERT_TRUE(reply.has_value());
  expect_shape("invalidRequest.error.json", *reply);

  backend.send(load_example("exit.notification.json"));
  EXPECT_EQ(backend.wait_exit().code, 0);
}

TEST(ProtocolExamplesTest, InvalidParamsMatchesTheExample) {
  BackendProcess backend;
  backend.request(7, "initialize", {{"workspaceRoot", 42}});
  const auto reply = backend.read_response(7);
  ASSERT_TRUE(reply.has_value());
  expect_shape("invalidParams.error.json", *reply);
}

TEST(ProtocolExamplesTest, ShapeCheckCatchesDrift) {
  // The checker itself must fail on a renamed or retyped key, or the tests above prove nothing.
  const json example = {{"a", {{"b", 1}}}, {"list", {{{"x", "s"}}}}};
  EXPECT_TRUE(shape_mismatches(example, {{"a", {{"b", 2.5}}}, {"list", {{{"x", "t"}}}}}).empty());
  EXPECT_FALSE(shape_mismatches(example, {{"a", {{"c", 1}}}, {"list", json::array()}}).empty());
  EXPECT_FALSE(shape_mismatches(example, {{"a", {{"b", "1"}}}, {"list", json::array()}}).empty());
  EXPECT_FALSE(shape_mismatches(example, {{"a", {{"b", 1}}}, {"list", {{{"x", 1}}}}}).empty());
  EXPECT_TRUE(shape_mismatches(example, {{"list", json::array()}}, {"a"}).empty());
}

}  // namespace
}  // namespace quill::test
