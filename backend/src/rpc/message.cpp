#include "rpc/message.hpp"

namespace quill::rpc {
namespace {

bool valid_id(const json& id) {
  return id.is_number_integer() || id.is_string();
}

Invalid invalid(json id, std::string message) {
  return Invalid{std::move(id), RpcError{code::kInvalidRequest, std::move(message), nullptr}};
}

std::string dump(const json& j) {
  // Replace invalid UTF-8 rather than throw: a log line must never take the backend down.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

json RpcError::to_json() const {
  json out = {{"code", code}, {"message", message}};
  if (!data.is_null()) out["data"] = data;
  return out;
}

RpcError RpcError::from_json(const json& error) {
  RpcError out;
  if (!error.is_object()) {
    out.message = "malformed error object";
    return out;
  }
  if (auto it = error.find("code"); it != error.end() && it->is_number_integer()) {
    out.code = it->get<int>();
  }
  if (auto it = error.find("message"); it != error.end() && it->is_string()) {
    out.message = it->get<std::string>();
  }
  if (auto it = error.find("data"); it != error.end()) out.data = *it;
  return out;
}

Message parse_message(std::string_view body) {
  json msg = json::parse(body, nullptr, false);
  if (msg.is_discarded()) {
    return Invalid{nullptr,
                   RpcError{code::kParseError, "parse error: body is not valid JSON", nullptr}};
  }
  if (!msg.is_object()) {
    return invalid(nullptr, msg.is_array() ? "batch requests are not supported"
                                           : "a message must be a JSON object");
  }
  json id = nullptr;
  const auto id_it = msg.find("id");
  const bool has_id = id_it != msg.end();
  if (has_id && valid_id(*id_it)) id = *id_it;

  const auto version = msg.find("jsonrpc");
  if (version == msg.end() || *version != "2.0") {
    return invalid(id, "\"jsonrpc\" must be \"2.0\"");
  }

  const auto method = msg.find("method");
  if (method != msg.end()) {
    if (!method->is_string()) return invalid(id, "\"method\" must be a string");
    json params = nullptr;
    if (auto p = msg.find("params"); p != msg.end()) {
      if (!p->is_object() && !p->is_array() && !p->is_null()) {
        return invalid(id, "\"params\" must be an object or an array");
      }
      params = std::move(*p);
    }
    if (!has_id) return Notification{method->get<std::string>(), std::move(params)};
    if (!valid_id(*id_it)) return invalid(nullptr, "\"id\" must be an integer or a string");
    return Request{std::move(id), method->get<std::string>(), std::move(params)};
  }

  // An error response may carry a null id (the answer to a message that could not be read).
  const bool null_id_error = has_id && id_it->is_null() && msg.contains("error");
  if (!has_id || (!valid_id(*id_it) && !null_id_error)) {
    return invalid(nullptr, "a message needs \"method\" or an id");
  }
  if (auto result = msg.find("result"); result != msg.end()) {
    return Response{std::move(id), true, std::move(*result), {}};
  }
  if (auto error = msg.find("error"); error != msg.end()) {
    return Response{std::move(id), false, nullptr, RpcError::from_json(*error)};
  }
  Invalid broken = invalid(id, "a response needs \"result\" or \"error\"");
  broken.answer = false;
  return broken;
}

std::string make_request(const json& id, std::string_view method, const json& params) {
  json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) msg["params"] = params;
  return dump(msg);
}

std::string make_notification(std::string_view method, const json& params) {
  json msg = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) msg["params"] = params;
  return dump(msg);
}

std::string make_result(const json& id, const json& result) {
  return dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string make_error(const json& id, const RpcError& error) {
  return dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"error", error.to_json()}});
}

}  // namespace quill::rpc
