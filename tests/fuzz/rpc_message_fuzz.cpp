// Fuzz target: one JSON-RPC body from the editor. It must classify without crashing; every
// params decoder (initialize, chat/send and the chat/send body built from it) must accept or
// refuse any params with a reason; and a Peer serving the lifecycle (before and after
// `initialize`) must answer a request exactly once, with valid JSON, and keep serving.
//
// Input: the message body.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chat/chat_turn.hpp"
#include "fuzz_support.hpp"
#include "rpc/peer.hpp"
#include "server/lifecycle.hpp"

namespace {

using quill::fuzz::check;
using quill::rpc::json;

struct Sink : quill::rpc::MessageSink {
  std::vector<std::string> sent;
  void send(std::string body) override { sent.push_back(std::move(body)); }
};

uv_loop_t* loop() {
  static uv_loop_t* l = [] {
    static uv_loop_t storage;
    uv_loop_init(&storage);
    return &storage;
  }();
  return l;
}

void decode_params(const json& params) {
  std::string error;
  if (!quill::server::parse_initialize(params, &error)) check(!error.empty(), "initialize: why");
  error.clear();
  if (auto turn = quill::chat::parse_turn_params(params, &error)) {
    (void)quill::ollama::build_chat_body(turn->request);
  } else {
    check(!error.empty(), "chat/send: why");
  }
}

void classify(std::string_view body) {
  auto message = quill::rpc::parse_message(body);
  if (auto* request = std::get_if<quill::rpc::Request>(&message)) {
    check(request->id.is_number_integer() || request->id.is_string(), "request id type");
    decode_params(request->params);
  } else if (auto* notification = std::get_if<quill::rpc::Notification>(&message)) {
    decode_params(notification->params);
  } else if (auto* response = std::get_if<quill::rpc::Response>(&message)) {
    if (!response->ok) (void)response->error.to_json();
  } else {
    const auto& bad = std::get<quill::rpc::Invalid>(message);
    check(bad.error.code == quill::rpc::code::kParseError ||
              bad.error.code == quill::rpc::code::kInvalidRequest,
          "an invalid message is a parse error or an invalid request");
    (void)quill::rpc::make_error(bad.id, bad.error);
  }
}

// What the peer sent must be JSON-RPC; a request from the editor is answered once, to its id.
void check_sent(const Sink& sink, std::string_view body) {
  for (const std::string& out : sink.sent) {
    const json j = json::parse(out, nullptr, false);
    check(j.is_object() && j.value("jsonrpc", "") == "2.0", "the peer sends JSON-RPC 2.0");
  }
  const auto message = quill::rpc::parse_message(body);
  if (const auto* request = std::get_if<quill::rpc::Request>(&message)) {
    check(sink.sent.size() == 1, "a request gets exactly one answer");
    check(json::parse(sink.sent[0])["id"] == request->id, "the answer carries the request's id");
  }
}

void serve(std::string_view body, bool initialized) {
  Sink sink;
  quill::rpc::Peer peer(loop(), sink);
  int exit_code = -1;
  quill::server::Lifecycle lifecycle(peer, [&](int code) { exit_code = code; });
  if (initialized) {
    peer.receive(R"({"jsonrpc":"2.0","id":0,"method":"initialize",)"
                 R"("params":{"workspaceRoot":"/w"}})");
    check(lifecycle.initialized(), "the canned initialize works");
    sink.sent.clear();
  }
  peer.receive(body);
  check_sent(sink, body);
  check(peer.pending_requests() == 0, "nothing is left unanswered");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  quill::fuzz::quiet_logs();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  classify(body);
  serve(body, false);
  serve(body, true);
  return 0;
}
