#pragma once
// JSON-RPC 2.0 messages: classification of an incoming body and builders for outgoing ones.
// Errors are values (RpcError), never exceptions across the loop.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace quill::rpc {

using json = nlohmann::json;

namespace code {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kServerNotInitialized = -32002;
inline constexpr int kToolFailed = -32001;      // the editor could not carry out a tool call
inline constexpr int kRequestTimeout = -32004;  // local: our call to the editor got no answer
inline constexpr int kProviderError = -32000;   // chat/models failures; data.kind says which
inline constexpr int kRequestCancelled = -32800;
}  // namespace code

struct RpcError {
  int code = code::kInternalError;
  std::string message;
  json data;  // null when absent

  json to_json() const;
  static RpcError from_json(const json& error);
};

struct Request {
  json id;  // number or string
  std::string method;
  json params;  // object, array or null
};
struct Notification {
  std::string method;
  json params;
};
struct Response {
  json id;
  bool ok = true;
  json result;     // when ok
  RpcError error;  // when !ok
};
// A body that is not a valid message: the error to answer with, to `id` (null if unknown).
// (A broken answer to one of our requests is a failed Response instead: it fails that request.)
struct Invalid {
  json id;
  RpcError error;
};

using Message = std::variant<Request, Notification, Response, Invalid>;

// Classifies one body as protocol/README.md ("Message kinds") says. Never throws, and never
// builds a DOM deeper than util::kMaxJsonDepth.
Message parse_message(std::string_view body);

std::string make_request(const json& id, std::string_view method, const json& params);
std::string make_notification(std::string_view method, const json& params);
std::string make_result(const json& id, const json& result);
std::string make_error(const json& id, const RpcError& error);

}  // namespace quill::rpc
