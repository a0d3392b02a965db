// Hostile input from the provider and the settings, piece by piece: UTF-8 repair, the coalescer's
// bound, the answer limit's params, hosts with credentials or that do not parse, answers that are
// not the API, initialize's type checks and the log file's mode.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "chat/chat_turn.hpp"
#include "chat/token_coalescer.hpp"
#include "http/http_transfer.hpp"
#include "provider/failure.hpp"
#include "provider/host.hpp"
#include "provider/ollama/stream_decoder.hpp"
#include "recording_sink.hpp"
#include "server/lifecycle.hpp"
#include "util/log.hpp"
#include "util/utf8.hpp"

namespace quill {
namespace {

using nlohmann::json;
constexpr std::string_view kFFFD = "\xEF\xBF\xBD";

std::string repaired(std::string_view text) {
  std::string out;
  util::assign_valid_utf8(out, text);
  return out;
}

TEST(Utf8Test, ValidTextIsCopiedUnchanged) {
  const std::string text = "plain, é, 日本, 👋, \x7f and a NUL \0 too";
  EXPECT_TRUE(util::is_valid_utf8(text));
  EXPECT_EQ(repaired(text), text);
}

TEST(Utf8Test, EachMaximalSubpartBecomesOneReplacementCharacter) {
  const std::string r(kFFFD);
  EXPECT_EQ(repaired("caf\xE9"), "caf" + r);                     // Latin-1
  EXPECT_EQ(repaired("\xFF\xFE"), r + r);                        // never a lead byte
  EXPECT_EQ(repaired("\xE2\x82"), r);                            // a cut 3-byte sequence
  EXPECT_EQ(repaired("ok\xF0\x9F\x91 end"), "ok" + r + " end");  // a cut emoji
  EXPECT_EQ(repaired("\xC3("), r + "(");                         // lead byte, then no continuation
  EXPECT_EQ(repaired("\xC0\xAF"), r + r);                        // overlong '/'
  EXPECT_EQ(repaired("\xED\xA0\x80"), r + r + r);                // a surrogate, U+D800
  EXPECT_EQ(repaired("\xF4\x90\x80\x80"), r + r + r + r);        // above U+10FFFF
  EXPECT_EQ(repaired("\x80"), r);                                // a lone continuation
  EXPECT_EQ(repaired("a\xF0\x9F\x91\x8B\xE9z"), "a👋" + r + "z");
  for (const char* bad : {"caf\xE9", "\xFF", "\xE2\x82", "\xED\xA0\x80", "x\xF0"}) {
    EXPECT_TRUE(util::is_valid_utf8(repaired(bad))) << bad;
  }
}

TEST(Utf8Test, PrefixNeverEndsInsideACodePoint) {
  const std::string text = "a日本";  // 1 + 3 + 3 bytes
  EXPECT_EQ(util::utf8_prefix(text, 100), 7u);
  EXPECT_EQ(util::utf8_prefix(text, 7), 7u);
  EXPECT_EQ(util::utf8_prefix(text, 6), 4u);
  EXPECT_EQ(util::utf8_prefix(text, 5), 4u);
  EXPECT_EQ(util::utf8_prefix(text, 4), 4u);
  EXPECT_EQ(util::utf8_prefix(text, 3), 1u);
  EXPECT_EQ(util::utf8_prefix(text, 0), 0u);
}

TEST(ChunkDecoderUtf8Test, InvalidBytesInStringsBecomeReplacementCharacters) {
  ollama::ChunkDecoder decoder;
  provider::Chunk chunk;
  const std::string line =
      "{\"message\":{\"role\":\"assistant\",\"content\":\"caf\xE9 \",\"thinking\":\"\xC3( think\","
      "\"tool_calls\":[{\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":"
      "\"a\xFF.txt\"}}}]},\"done\":false}";
  const auto problem = decoder.decode(line, chunk);
  ASSERT_FALSE(problem.has_value()) << *problem;
  EXPECT_EQ(chunk.content, "caf" + std::string(kFFFD) + " ");
  EXPECT_EQ(chunk.thinking, std::string(kFFFD) + "( think");
  ASSERT_EQ(chunk.tool_calls.size(), 1u);
  const json arguments = json::parse(chunk.tool_calls[0].arguments.dump());  // no invalid UTF-8
  EXPECT_EQ(arguments["path"], "a" + std::string(kFFFD) + ".txt");
  // The next, valid line decodes as before (the buffer is reused).
  ASSERT_FALSE(decoder.decode(R"({"message":{"content":"ok"},"done":true})", chunk).has_value());
  EXPECT_EQ(chunk.content, "ok");
  EXPECT_TRUE(chunk.done);
}

class CoalescerBoundTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    coalescer_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  void make(std::size_t max_pending) {
    coalescer_ = std::make_unique<chat::TokenCoalescer>(
        &loop_,
        chat::TokenCoalescer::Output{
            .writable = [] { return false; },  // an editor that does not read
            .send = [this](std::string body) { sent_.push_back(json::parse(body)); },
        },
        max_pending);
  }
  std::string sent_text() const {
    std::string all;
    for (const json& m : sent_)
      all += m["params"]["text"].get<std::string>();
    return all;
  }

  uv_loop_t loop_{};
  std::vector<json> sent_;
  std::unique_ptr<chat::TokenCoalescer> coalescer_;
};

TEST_F(CoalescerBoundTest, PendingTextNeverOutgrowsItsBoundAndKeepsOrder) {
  make(8);
  coalescer_->append("c", "abc");
  coalescer_->append("c", "日本");  // 6 bytes: 9 > 8, so "abc" leaves first
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0]["params"]["text"], "abc");
  EXPECT_EQ(coalescer_->pending_bytes("c"), 6u);
  coalescer_->append("c", "0123456789");  // larger than the bound on its own: sent whole
  EXPECT_EQ(coalescer_->pending_bytes("c"), 0u);
  coalescer_->append("c", "z");
  coalescer_->flush("c");
  EXPECT_EQ(sent_text(), "abc日本0123456789z");
  for (const json& m : sent_)  // whole deltas only: every text is valid UTF-8 on its own
    EXPECT_TRUE(util::is_valid_utf8(m["params"]["text"].get<std::string>()));
}

TEST_F(CoalescerBoundTest, ByDefaultAChatThatIsNotReadQueuesAtMostFourMiB) {
  make(chat::TokenCoalescer::kDefaultMaxPending);
  const std::string token(1000, 'x');
  for (int i = 0; i < 10'000; ++i) {
    coalescer_->append("c", token);
    ASSERT_LE(coalescer_->pending_bytes("c"), 4u * 1024 * 1024);
  }
  coalescer_->flush("c");
  EXPECT_EQ(sent_text().size(), 10'000'000u);
}

TEST(TurnParamsTest, MaxAnswerBytesIsTypeChecked) {
  const json base = {{"chatId", "c"},
                     {"model", "m"},
                     {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}};
  std::string error;
  auto params = chat::parse_turn_params(base, &error);
  ASSERT_TRUE(params.has_value()) << error;
  EXPECT_EQ(params->max_answer_bytes, 4u * 1024 * 1024);
  json with = base;
  with["maxAnswerBytes"] = 1000;
  params = chat::parse_turn_params(with, &error);
  ASSERT_TRUE(params.has_value()) << error;
  EXPECT_EQ(params->max_answer_bytes, 1000u);
  for (const json& bad : {json(0), json(-5), json("100"), json(1.5), json(2e12)}) {
    with["maxAnswerBytes"] = bad;
    EXPECT_FALSE(chat::parse_turn_params(with, &error).has_value()) << bad;
    EXPECT_NE(error.find("maxAnswerBytes"), std::string::npos) << error;
  }
}

std::string host_error(std::string_view spec) {
  std::string error;
  EXPECT_FALSE(provider::parse_host(spec, &error).has_value()) << spec;
  return error;
}

TEST(HostCredentialsTest, CredentialsLeaveTheUrlAndBecomeBasicAuth) {
  std::string error;
  auto e = provider::parse_host("https://user:p%40ss@example.com:8443/ollama", &error);
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_EQ(e->base_url, "https://example.com:8443/ollama");
  EXPECT_EQ(e->username, "user");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(provider::basic_authorization(*e), "Basic dXNlcjpwQHNz");
  e = provider::parse_host("http://user:secret@127.0.0.1:9", &error);
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_EQ(e->base_url, "http://127.0.0.1:9");
  EXPECT_EQ(provider::basic_authorization(*e), "Basic dXNlcjpzZWNyZXQ=");
  e = provider::parse_host("example.com", &error);
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->username.has_value());
}

TEST(HostCredentialsTest, RedactionHidesCredentialsInAnyText) {
  EXPECT_EQ(provider::redact_host("https://user:secret@example.com/x"),
            "https://***@example.com/x");
  EXPECT_EQ(provider::redact_host("user:secret@host:1"), "***@host:1");
  EXPECT_EQ(provider::redact_host("http://u:s@cr@et@[::1"), "http://***@[::1");
  EXPECT_EQ(provider::redact_host("http://example.com:1"), "http://example.com:1");
  EXPECT_EQ(provider::redact_host("not a url"), "not a url");
}

TEST(HostCredentialsTest, WhatDoesNotParseIsAnErrorThatNeverQuotesTheCredentials) {
  EXPECT_NE(host_error("http://[::1").find("unclosed"), std::string::npos);
  EXPECT_NE(host_error("ftp://x").find("scheme"), std::string::npos);
  EXPECT_NE(host_error("http://host:99999").find("port"), std::string::npos);
  EXPECT_NE(host_error("http://host:0").find("port"), std::string::npos);
  EXPECT_NE(host_error("not a url with spaces").find("spaces"), std::string::npos);
  EXPECT_NE(host_error("http://ho\nst").find("control"), std::string::npos);
  EXPECT_NE(host_error("http://host/api?x=1").find("query"), std::string::npos);
  EXPECT_NE(host_error("http://ho$t:1").find("not a host name"), std::string::npos);
  EXPECT_NE(host_error("http://[zz::1]").find("not a host name"), std::string::npos);
  for (const char* spec : {"http://user:secret@[::1", "http://user:secret@host:99999",
                           "https://user:secret@ho$t", "http://user:secret%zz@host"}) {
    EXPECT_EQ(host_error(spec).find("secret"), std::string::npos) << spec;
  }
}

TEST(HostCredentialsTest, ResolveNeverFallsBackToTheDefault) {
  std::string error;
  EXPECT_FALSE(provider::resolve_endpoint(std::string("http://user:secret@[::1"), &error));
  EXPECT_EQ(error, "provider.host 'http://***@[::1': unclosed '[' in host");
  ::setenv("OLLAMA_HOST", "ftp://nope", 1);
  EXPECT_FALSE(provider::resolve_endpoint(std::nullopt, &error));
  EXPECT_NE(error.find("$OLLAMA_HOST 'ftp://nope'"), std::string::npos) << error;
  ::unsetenv("OLLAMA_HOST");
  EXPECT_NE(provider::resolve_host(std::string("not a host")), provider::kDefaultHost);
}

TEST(NotTheApiTest, ContentTypesThatAreJson) {
  for (const char* type :
       {"", "application/json", "application/json; charset=utf-8", "application/x-ndjson",
        " Application/X-NDJSON ", "text/plain", "application/problem+json"})
    EXPECT_TRUE(http::is_json_content_type(type)) << type;
  for (const char* type : {"text/html", "text/html; charset=utf-8", "application/xhtml+xml",
                           "image/png", "application/jsonfoo"})
    EXPECT_FALSE(http::is_json_content_type(type)) << type;
}

TEST(NotTheApiTest, RedirectsAndPagesGetMessagesThatSayWhat) {
  http::HttpResult result;
  result.outcome = http::HttpResult::Outcome::Redirected;
  result.status = 302;
  result.location = "https://user:secret@login.example.com/sso";
  auto f = provider::transfer_failure(provider::Kind::Ollama, result, "http://h:1");
  EXPECT_EQ(f.kind, "http");
  EXPECT_NE(f.message.find("HTTP 302"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("https://***@login.example.com/sso"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("not followed"), std::string::npos) << f.message;
  EXPECT_EQ(f.message.find("secret"), std::string::npos);
  result.outcome = http::HttpResult::Outcome::NotJson;
  result.status = 200;
  result.content_type = "text/html; charset=\xFF";
  f = provider::transfer_failure(provider::Kind::Ollama, result, "http://h:1");
  EXPECT_EQ(f.kind, "bad_stream");
  EXPECT_NE(f.message.find("text/html"), std::string::npos) << f.message;
  EXPECT_TRUE(util::is_valid_utf8(f.message));
}

TEST(NotTheApiTest, ErrorBodiesBecomeValidUtf8AndAreNotCutInsideACharacter) {
  const std::string body = std::string(299, 'x') + "é and more" + "\xFF";
  const std::string text = provider::error_text(body);
  EXPECT_TRUE(util::is_valid_utf8(text));
  EXPECT_LE(text.size(), 300u);
  EXPECT_EQ(text, std::string(299, 'x'));
  EXPECT_EQ(provider::error_text("bad \xE9 byte"), "bad " + std::string(kFFFD) + " byte");
  json({{"message", text}}).dump();  // would throw on invalid UTF-8
}

class InitializeChecksTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    lifecycle_.reset();
    peer_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  json initialize(const json& params) {
    peer_->receive(
        json{{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", "initialize"}, {"params", params}}
            .dump());
    return sink_.take_last();
  }
  json with_provider(const json& provider) {
    return {{"workspaceRoot", "/w"}, {"provider", provider}};
  }
  // The reply is -32602 and its message holds `needle`.
  void expect_refused(const json& params, const std::string& needle) {
    const json reply = initialize(params);
    EXPECT_EQ(reply["error"]["code"], rpc::code::kInvalidParams) << params << " -> " << reply;
    EXPECT_NE(reply.dump().find(needle), std::string::npos) << reply;
    EXPECT_EQ(reply.dump().find("secret"), std::string::npos) << reply;
    EXPECT_FALSE(lifecycle_->initialized());
  }

  uv_loop_t loop_{};
  int id_ = 0;
  test::RecordingSink sink_;
  std::unique_ptr<rpc::Peer> peer_ = std::make_unique<rpc::Peer>(&loop_, sink_);
  std::unique_ptr<server::Lifecycle> lifecycle_ =
      std::make_unique<server::Lifecycle>(*peer_, [](int) {});
};

TEST_F(InitializeChecksTest, AHostThatDoesNotParseIsRefusedNamingTheRedactedValue) {
  expect_refused(with_provider({{"host", "http://[::1"}}), "provider.host 'http://[::1'");
  expect_refused(with_provider({{"host", "ftp://x"}}), "'ftp://x'");
  expect_refused(with_provider({{"host", "http://host:99999"}}), "bad port");
  expect_refused(with_provider({{"host", "not a url with spaces"}}), "'not a url with spaces'");
  expect_refused(with_provider({{"host", "http://user:secret@[::1"}}), "'http://***@[::1'");
  ::setenv("OLLAMA_HOST", "http://user:secret@host:99999", 1);
  expect_refused({{"workspaceRoot", "/w"}}, "$OLLAMA_HOST 'http://***@host:99999'");
  ::unsetenv("OLLAMA_HOST");
}

TEST_F(InitializeChecksTest, CredentialsBecomeAnAuthorizationHeaderAndLeaveTheHost) {
  expect_refused(with_provider({{"host", "http://user:secret@h:1"},
                                {"headers", {{"authorization", "Bearer x"}}}}),
                 "Authorization");
  const json reply = initialize(with_provider({{"host", "http://user:secret@h:1"}}));
  ASSERT_TRUE(reply.contains("result")) << reply;
  const auto& provider = *lifecycle_->settings().endpoints.find("ollama");
  EXPECT_EQ(provider.host, "http://h:1");
  EXPECT_EQ(provider.headers.at("Authorization"), "Basic dXNlcjpzZWNyZXQ=");
}

TEST_F(InitializeChecksTest, TheHostIsSettledAtInitialize) {
  ::setenv("OLLAMA_HOST", "0.0.0.0:7777", 1);
  const json reply = initialize({{"workspaceRoot", "/w"}});
  ::unsetenv("OLLAMA_HOST");
  ASSERT_TRUE(reply.contains("result")) << reply;
  EXPECT_EQ(lifecycle_->settings().endpoints.find("ollama")->host, "http://127.0.0.1:7777");
}

TEST_F(InitializeChecksTest, EveryParamIsTypeChecked) {
  const json root = "/w";
  for (const json& timeout : {json("5000"), json(-1), json(1.5), json(nullptr), json(1e300),
                              json(std::uint64_t{1} << 63), json::array()}) {
    expect_refused({{"workspaceRoot", root}, {"timeouts", {{"connectMs", timeout}}}},
                   "timeouts.connectMs");
  }
  expect_refused({{"workspaceRoot", root}, {"timeouts", 5}}, "timeouts");
  expect_refused({{"workspaceRoot", 5}}, "workspaceRoot");
  expect_refused({{"workspaceRoot", root}, {"clientInfo", {{"name", 5}}}}, "clientInfo.name");
  expect_refused({{"workspaceRoot", root}, {"provider", "x"}}, "provider");
  expect_refused(with_provider({{"host", 5}}), "provider.host");
  expect_refused(with_provider({{"headers", {{"X-A", "a\r\nHost: evil"}}}}),
                 "provider.headers.X-A");
  expect_refused(with_provider({{"headers", {{"X-A\r\nHost", "a"}}}}), "not a header name");
  expect_refused(with_provider({{"headers", {{"", "a"}}}}), "not a header name");
  expect_refused(json::array(), "params");
  EXPECT_TRUE(
      initialize({{"workspaceRoot", root}, {"timeouts", {{"idleMs", 0}}}}).contains("result"));
}

TEST(LogFileTest, IsCreatedReadableByTheUserOnly) {
  char dir_template[] = "/tmp/quill-log-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/backend.log";
  const mode_t old_mask = ::umask(022);
  ASSERT_FALSE(log::open_file(path).has_value());
  ::umask(old_mask);
  QLOG(Error) << "a line";
  log::close();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // An older log, readable by others, is tightened when opened.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_FALSE(log::open_file(path).has_value());
  log::close();
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_NE(line.find("a line"), std::string::npos);
  std::remove(path.c_str());
  ::rmdir(dir_template);
}

}  // namespace
}  // namespace quill
