#include "rpc/message.hpp"

#include <cstdint>

#include "util/json_depth.hpp"
#include "util/utf8.hpp"

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

// The top level of a body that cannot become a DOM (too deep, invalid UTF-8): which members it
// has and its id. A SAX pass keeps nothing below the top level, so it costs no recursion and no
// memory however deep the body is.
struct Envelope : json::json_sax_t {
  bool object = false;  // the body is JSON and its top level is an object
  bool has_id = false, has_method = false, has_result = false, has_error = false;
  json id;

  bool null() override { return member(nullptr); }
  bool boolean(bool v) override { return member(v); }
  bool number_integer(number_integer_t v) override { return member(v); }
  bool number_unsigned(number_unsigned_t v) override { return member(v); }
  bool number_float(number_float_t v, const string_t&) override { return member(v); }
  bool string(string_t& v) override { return member(v); }
  bool binary(binary_t&) override { return member(nullptr); }
  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    object = false;
    return false;
  }

 private:
  bool open(bool is_object) {
    if (depth_ == 0) object = is_object;
    if (depth_ == 1) note(nullptr);
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool member(json value) {
    if (depth_ == 1) note(std::move(value));
    return true;
  }
  void note(json value) {  // a top-level member's value (nullptr for a container)
    if (!object) return;
    if (key_ == "id") {
      has_id = true;
      id = std::move(value);
    }
    has_method = has_method || key_ == "method";
    has_result = has_result || key_ == "result";
    has_error = has_error || key_ == "error";
  }

  std::uint64_t depth_ = 0;
  std::string key_;
};

// A body refused before it became a DOM gets `error`, addressed as well as its envelope allows:
// an answer to one of our requests fails that request (answering would address the other side's
// id space); anything else is answered, to its id when it has a valid one.
Message refuse(std::string_view body, RpcError error) {
  std::string repaired;  // only to read the envelope: the id may sit next to the bad bytes
  if (!util::is_valid_utf8(body)) {
    util::append_repaired_utf8(repaired, body);
    body = repaired;
  }
  Envelope envelope;
  if (!json::sax_parse(body, &envelope) || !envelope.object) {
    return Invalid{nullptr, std::move(error)};
  }
  json id = valid_id(envelope.id) ? std::move(envelope.id) : json(nullptr);
  if (!envelope.has_method && (envelope.has_result || envelope.has_error) && !id.is_null()) {
    return Response{std::move(id), false, nullptr, std::move(error)};
  }
  return Invalid{std::move(id), std::move(error)};
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
  // Before any DOM: copying or serialising a DOM recurses once per level.
  if (!util::json_depth_within(body)) {
    return refuse(body, {code::kInvalidRequest,
                         "the message nests deeper than " + std::to_string(util::kMaxJsonDepth) +
                             " levels (the limit)",
                         nullptr});
  }
  json msg = json::parse(body, nullptr, false);
  if (msg.is_discarded()) {
    if (!util::is_valid_utf8(body)) {
      return refuse(body, {code::kParseError, "parse error: the body is not valid UTF-8", nullptr});
    }
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
  const bool has_result = msg.contains("result");
  const bool has_error = msg.contains("error");
  if (method != msg.end()) {
    if (!method->is_string()) return invalid(id, "\"method\" must be a string");
    if (has_result || has_error) {
      return invalid(id, "a message cannot have both \"method\" and \"result\" or \"error\"");
    }
    json params = json::object();  // absent or null means {}
    if (auto p = msg.find("params"); p != msg.end() && !p->is_null()) {
      if (!p->is_object() && !p->is_array()) {
        return invalid(id, "\"params\" must be an object or an array");
      }
      params = std::move(*p);
    }
    if (!has_id) return Notification{method->get<std::string>(), std::move(params)};
    if (!valid_id(*id_it)) return invalid(nullptr, "\"id\" must be an integer or a string");
    return Request{std::move(id), method->get<std::string>(), std::move(params)};
  }

  if (!has_result && !has_error) {
    return invalid(id, "a message needs \"method\", \"result\" or \"error\"");
  }
  // An error response may carry a null id (the answer to a message that could not be read).
  const bool null_id_error = has_id && id_it->is_null() && has_error && !has_result;
  if (!has_id || (!valid_id(*id_it) && !null_id_error)) {
    return invalid(nullptr, "a response needs an integer or string \"id\"");
  }
  if (has_result && has_error) {
    // Not answered: the id is one of ours. The request it answers fails.
    return Response{std::move(id), false, nullptr,
                    RpcError{code::kInvalidRequest,
                             "invalid response: it has both \"result\" and \"error\"", nullptr}};
  }
  if (has_result) return Response{std::move(id), true, std::move(msg["result"]), {}};
  return Response{std::move(id), false, nullptr, RpcError::from_json(msg["error"])};
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
