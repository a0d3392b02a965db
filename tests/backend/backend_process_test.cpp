// The real quill-backend binary over pipes: lifecycle, exit paths, and bad input.

#include "backend_process.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <random>

#include "fake_ollama_process.hpp"
#include "util/json_depth.hpp"

namespace quill::test {
namespace {

const json kInitParams = {{"workspaceRoot", "/tmp"},
                          {"clientInfo", {{"name", "test"}, {"version", "1"}}}};

void initialize(BackendProcess& backend, int id = 1) {
  backend.request(id, "initialize", kInitParams);
  const auto reply = backend.read_response(id);
  ASSERT_TRUE(reply.has_value()) << backend.stderr_text();
  ASSERT_TRUE(reply->contains("result")) << *reply;
}

TEST(BackendProcessTest, InitializeShutdownExit) {
  BackendProcess backend;
  initialize(backend);
  backend.request(2, "shutdown", nullptr);
  const auto reply = backend.read_response(2);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE((*reply)["result"].is_null());
  backend.notify("exit");
  const auto exit = backend.wait_exit();
  ASSERT_TRUE(exit.exited) << backend.stderr_text();
  EXPECT_EQ(exit.code, 0);
  EXPECT_FALSE(backend.read_message(500ms).has_value());  // stdout closed, nothing more
}

TEST(BackendProcessTest, ExitWithoutShutdownIsCodeOne) {
  BackendProcess backend;
  initialize(backend);
  backend.notify("exit");
  const auto exit = backend.wait_exit();
  ASSERT_TRUE(exit.exited);
  EXPECT_EQ(exit.code, 1);
}

TEST(BackendProcessTest, ClosingStdinExitsZeroPromptly) {
  BackendProcess backend;
  initialize(backend);
  const auto start = std::chrono::steady_clock::now();
  backend.close_stdin();
  const auto exit = backend.wait_exit(3s);
  ASSERT_TRUE(exit.exited) << "no exit after stdin EOF: the backend would be an orphan";
  EXPECT_EQ(exit.code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(BackendProcessTest, AnswersQueuedBeforeStdinClosesAreStillWritten) {
  BackendProcess backend;
  backend.write_raw(
      frame(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", kInitParams}}
                .dump()));
  backend.close_stdin();
  const auto reply = backend.read_response(1);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->contains("result"));
  EXPECT_EQ(backend.wait_exit().code, 0);
}

TEST(BackendProcessTest, AClosedStdoutEndsTheBackendWithoutASignal) {
  BackendProcess backend;
  initialize(backend);
  backend.close_stdout();
  backend.request(2, "no/such");  // its answer cannot be written: EPIPE
  const auto exit = backend.wait_exit();
  ASSERT_TRUE(exit.exited);
  EXPECT_EQ(exit.signal, 0) << "SIGPIPE killed the backend";
  EXPECT_EQ(exit.code, 0);
  EXPECT_NE(backend.stderr_text().find("cannot write to the editor"), std::string::npos);
}

TEST(BackendProcessTest, SigtermAndSigintExitCleanly) {
  for (int sig : {SIGTERM, SIGINT}) {
    BackendProcess backend;
    initialize(backend);
    backend.kill_signal(sig);
    const auto exit = backend.wait_exit();
    ASSERT_TRUE(exit.exited);
    EXPECT_EQ(exit.signal, 0) << "killed by the signal instead of handling it";
    EXPECT_EQ(exit.code, 0);
  }
}

TEST(BackendProcessTest, RequestBeforeInitializeIsRefused) {
  BackendProcess backend;
  backend.request(1, "shutdown", nullptr);
  const auto reply = backend.read_response(1);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], -32002);
}

TEST(BackendProcessTest, ManyRequestsInOneWriteAreAllAnsweredInOrder) {
  BackendProcess backend;
  initialize(backend);
  std::string batch;
  for (int id = 10; id < 60; ++id) {
    batch += frame(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "no/such"}}.dump());
  }
  backend.write_raw(batch);
  for (int id = 10; id < 60; ++id) {
    const auto reply = backend.read_message();
    ASSERT_TRUE(reply.has_value()) << "missing answer " << id;
    EXPECT_EQ((*reply)["id"], id);
    EXPECT_EQ((*reply)["error"]["code"], -32601);
  }
}

TEST(BackendProcessTest, MalformedJsonGetsParseErrorAndServingContinues) {
  BackendProcess backend;
  backend.write_raw(frame("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": "));
  auto reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], -32700);
  EXPECT_TRUE((*reply)["id"].is_null());
  backend.write_raw(frame("[1,2,3]"));
  reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  initialize(backend, 2);
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// Old code: the DOM of 100,000 nested arrays was copied and dumped recursively (SIGSEGV).
TEST(BackendProcessTest, ADeeplyNestedMessageIsRefusedAndServingContinues) {
  BackendProcess backend;
  backend.write_raw(frame(R"({"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":)" +
                          nested_arrays(100000) + "}}"));
  auto reply = backend.read_message();
  ASSERT_TRUE(reply.has_value()) << backend.stderr_text();
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  EXPECT_TRUE((*reply)["id"].is_null());
  EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("deeper than 256"),
            std::string::npos);
  initialize(backend);
  backend.write_raw(
      frame(R"({"jsonrpc":"2.0","id":2,"method":"chat/send","params":{"chatId":"c","model":"m",)"
            R"("messages":[{"role":"user","content":"hi"}],"options":{"stop":)" +
            nested_arrays(100000) + "}}}"));
  reply = backend.read_response(2);
  ASSERT_TRUE(reply.has_value()) << backend.stderr_text();
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  backend.request(3, "no/such");
  reply = backend.read_response(3);
  ASSERT_TRUE(reply.has_value()) << "the backend stopped serving";
  EXPECT_EQ((*reply)["error"]["code"], -32601);
  EXPECT_FALSE(backend.wait_exit(100ms).exited);
}

TEST(BackendProcessTest, MessagesThatAreNeitherRequestsNorResponsesGetInvalidRequest) {
  BackendProcess backend;
  initialize(backend);
  backend.write_raw(frame(R"({"jsonrpc":"2.0","id":4})"));
  auto reply = backend.read_message();
  ASSERT_TRUE(reply.has_value()) << "no answer at all";
  EXPECT_EQ((*reply)["id"], 4);
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  // Both `method` and `result`: refused, not run (shutdown would have stopped the backend).
  backend.write_raw(frame(R"({"jsonrpc":"2.0","id":5,"method":"shutdown","result":null})"));
  reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["id"], 5);
  EXPECT_EQ((*reply)["error"]["code"], -32600);
  backend.request(6, "no/such");
  reply = backend.read_response(6);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["code"], -32601) << "the backend is not shutting down";
}

TEST(BackendProcessTest, InvalidUtf8IsAParseErrorToTheRequestsId) {
  BackendProcess backend;
  initialize(backend);
  backend.write_raw(
      frame("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"models/"
            "show\",\"params\":{\"model\":\"caf\xe9\"}}"));
  const auto reply = backend.read_message();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["id"], 7) << "so the editor fails that request at once";
  EXPECT_EQ((*reply)["error"]["code"], -32700);
}

// A tool call whose arguments nest `depth` deep (an object of arrays), for the fake's `tools`.
json deep_call(std::size_t depth) {
  json arguments = json::array();
  for (std::size_t i = 2; i < depth; ++i)
    arguments = json::array({std::move(arguments)});
  return json::array({{{"name", "read_file"}, {"arguments", {{"path", std::move(arguments)}}}}});
}

struct DeepTurn {
  json response;
  std::vector<std::string> bodies;  // every message of the turn, as the backend wrote it
};

DeepTurn run_deep_turn(std::size_t depth) {
  FakeOllamaProcess fake;
  BackendProcess backend;
  backend.request(1, "initialize",
                  {{"workspaceRoot", "/tmp"}, {"provider", {{"host", fake.url()}}}});
  EXPECT_TRUE(backend.read_response(1).has_value());
  const std::string model = "tools?calls=" + url_encode(deep_call(depth).dump());
  backend.request(2, "chat/send",
                  {{"chatId", "c"},
                   {"model", model},
                   {"tools", true},
                   {"messages", json::array({{{"role", "user"}, {"content", "go"}}})}});
  DeepTurn turn;
  if (auto reply = backend.read_response(2, 10s)) turn.response = *reply;
  for (const json& m : backend.seen())
    turn.bodies.push_back(m.dump());
  return turn;
}

// The arguments of a tool call are passed on deeper than they arrived (chat/toolCall, the
// result's messages): a server value within its limit still yields messages within 256.
TEST(BackendProcessTest, NoMessageTheBackendWritesNestsDeeperThanTheLimit) {
  // The chunk nests 5 levels above the arguments.
  const std::size_t deepest = util::kMaxProviderJsonDepth - 5;
  const DeepTurn turn = run_deep_turn(deepest);
  ASSERT_TRUE(turn.response.contains("result")) << turn.response;
  bool saw_arguments = false;
  for (const std::string& body : turn.bodies) {
    EXPECT_LE(util::json_depth(body), util::kMaxJsonDepth) << body.substr(0, 200);
    saw_arguments = saw_arguments || util::json_depth(body) > deepest;
  }
  EXPECT_TRUE(saw_arguments) << "the deep arguments were passed on";
}

TEST(BackendProcessTest, AServerValueDeeperThanItsLimitEndsTheTurnWithBadStream) {
  const DeepTurn turn = run_deep_turn(util::kMaxProviderJsonDepth - 4);
  ASSERT_TRUE(turn.response.contains("error")) << turn.response;
  EXPECT_EQ(turn.response["error"]["data"]["kind"], "bad_stream");
  EXPECT_NE(turn.response["error"]["message"].get<std::string>().find("deeper than"),
            std::string::npos)
      << turn.response;
  for (const std::string& body : turn.bodies)
    EXPECT_LE(util::json_depth(body), util::kMaxJsonDepth);
}

TEST(BackendProcessTest, BadHeadersAreReportedAndTheStreamResynchronises) {
  BackendProcess backend;
  backend.write_raw("Content-Length: twelve\r\n\r\n{\"x\":1}");
  backend.write_raw("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\r\n");
  initialize(backend, 2);
  bool logged = false;
  for (const auto& m : backend.seen()) {
    if (m.value("method", "") == "log" &&
        m["params"]["message"].get<std::string>().find("not a number") != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged) << "the editor was not told about the bad header";
  EXPECT_NE(backend.stderr_text().find("framing:"), std::string::npos);
}

TEST(BackendProcessTest, OversizeContentLengthIsRefusedAndTheBackendLives) {
  BackendProcess backend;
  backend.write_raw("Content-Length: 1099511627776\r\n\r\n{}");
  const auto note = backend.read_message();
  ASSERT_TRUE(note.has_value());
  EXPECT_EQ((*note)["method"], "log");
  EXPECT_NE((*note)["params"]["message"].get<std::string>().find("exceeds the limit"),
            std::string::npos);
  EXPECT_FALSE(backend.wait_exit(200ms).exited);
  // It is still skipping the declared terabyte: end input and it exits cleanly.
  backend.close_stdin();
  EXPECT_EQ(backend.wait_exit().code, 0);
}

TEST(BackendProcessTest, RandomGarbageNeverCrashesIt) {
  BackendProcess backend;
  std::mt19937 rng(1234);
  std::string junk(256 * 1024, '\0');
  for (auto& c : junk)
    c = static_cast<char>(rng() & 0xff);
  // Sprinkle near-miss headers among the noise.
  junk += "Content-Length: 5\r\n\r\n{{{{{";
  junk += "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
  junk += "CONTENT-LENGTH: 7\r\n\r\n\"text\"\n";
  backend.write_raw(junk);
  initialize(backend, 424242);
  EXPECT_FALSE(backend.wait_exit(100ms).exited);
}

TEST(BackendProcessTest, ReadsStdinFromARegularFile) {
  const std::string path = "/tmp/quill-stdin-" + std::to_string(::getpid());
  {
    std::ofstream out(path, std::ios::binary);
    out << frame(json{
               {"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", kInitParams}}
                     .dump())
        << frame(R"({"jsonrpc":"2.0","id":2,"method":"shutdown"})")
        << frame(R"({"jsonrpc":"2.0","method":"exit"})");
  }
  BackendProcess backend({"--log-level", "debug"}, path);
  EXPECT_TRUE(backend.read_response(1).has_value());
  EXPECT_TRUE(backend.read_response(2).has_value());
  EXPECT_EQ(backend.wait_exit().code, 0);
  ::unlink(path.c_str());
}

TEST(BackendProcessTest, LogFileTakesTheLogsAndStdoutOnlyFrames) {
  const std::string log_path = "/tmp/quill-log-" + std::to_string(::getpid()) + ".log";
  ::unlink(log_path.c_str());
  {
    BackendProcess backend({"--log-file", log_path, "--log-level", "debug"});
    initialize(backend);
    backend.close_stdin();
    EXPECT_EQ(backend.wait_exit().code, 0);
    EXPECT_EQ(backend.stderr_text(), "");
  }
  std::ifstream in(log_path);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("initialized by test 1"), std::string::npos) << log;
  EXPECT_NE(log.find("<-- initialize(1)"), std::string::npos);
  ::unlink(log_path.c_str());
}

TEST(BackendProcessTest, VersionAndBadArguments) {
  {
    BackendProcess backend({"--version"});
    EXPECT_EQ(backend.wait_exit().code, 0);
  }
  BackendProcess backend({"--log-level", "loud"});
  EXPECT_EQ(backend.wait_exit().code, 2);
  EXPECT_NE(backend.stderr_text().find("unknown log level"), std::string::npos);
}

}  // namespace
}  // namespace quill::test
