#pragma once
// JSON-RPC 2.0 peer: dispatches incoming requests and notifications to handlers bound by method
// name, answers each request exactly once, routes `$/cancelRequest` to the request it names, and
// keeps the table of our own requests to the other side (ids, timeouts, cancel). It knows
// nothing of framing (MessageSink) nor of what the methods mean.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpc/message.hpp"
#include "uv/handle.hpp"

namespace quill::rpc {

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void send(std::string body) = 0;
};

// Cancellation of one piece of work, shared between whoever cancels and whoever does the work.
class CancelToken {
 public:
  CancelToken() : state_(std::make_shared<State>()) {}
  bool cancelled() const { return state_->cancelled; }
  // Runs `fn` when cancelled (at once if already cancelled). A later call replaces it.
  void on_cancel(std::function<void()> fn) const;
  void cancel() const;
  // Drops the callback: it often holds the Responder that holds this token.
  void clear() const { state_->fn = nullptr; }

 private:
  struct State {
    bool cancelled = false;
    std::function<void()> fn;
  };
  std::shared_ptr<State> state_;
};

class Peer;

// The right to answer one incoming request. Copies share it; the first answer wins, later ones
// are logged and dropped; if the last copy goes away unanswered the request gets InternalError.
class Responder {
 public:
  void reply(json result) const;
  void fail(RpcError error) const;
  bool answered() const;
  const CancelToken& cancel_token() const;
  const json& id() const;
  const std::string& method() const;

 private:
  friend class Peer;
  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class Peer {
 public:
  using RequestHandler = std::function<void(const json& params, Responder responder)>;
  using NotificationHandler = std::function<void(const json& params)>;
  using CallDone = std::function<void(Response response)>;
  // Consulted before a request is dispatched; an error answers the request instead.
  using RequestGate = std::function<std::optional<RpcError>(std::string_view method)>;
  using CallId = std::int64_t;

  static constexpr std::size_t kMaxPendingCalls = 1024;

  Peer(uv_loop_t* loop, MessageSink& sink);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Handlers decode their params themselves (-32602 naming the key). An exception escaping a
  // handler, or anything else a message sets off (the gate, a cancel hook, a call's `done`), is
  // logged and stops there; a request it leaves unanswered gets InternalError naming the method.
  void on_request(std::string method, RequestHandler handler);
  void on_notification(std::string method, NotificationHandler handler);
  void set_gate(RequestGate gate) { gate_ = std::move(gate); }
  // Every method bound here (requests and notifications) plus `$/cancelRequest`, sorted.
  std::vector<std::string> handled_methods() const;

  // One complete message body from the transport.
  void receive(std::string_view body);

  void notify(std::string_view method, const json& params);
  // A message serialized by the caller (the per-token hot path builds its own bytes).
  void send_raw(std::string body) { sink_.send(std::move(body)); }

  // A request to the other side. `done` runs exactly once: with its response, or with
  // RequestTimeout after `timeout` (0 = never), RequestCancelled after cancel_call(), or the
  // error given to fail_all_calls().
  CallId call(std::string method, json params, std::chrono::milliseconds timeout, CallDone done);
  // Tells the other side with `$/cancelRequest`; false if the call is no longer pending.
  bool cancel_call(CallId id);
  void fail_all_calls(const RpcError& why);
  std::size_t pending_calls() const { return calls_.size(); }
  std::size_t pending_requests() const { return incoming_.size(); }

 private:
  friend class Responder;
  struct PendingCall {
    Peer* peer = nullptr;
    CallId id = 0;
    std::string method;
    CallDone done;
    uv::UvHandle<uv_timer_t> timer;
  };

  void dispatch_request(Request request);
  void dispatch_notification(const Notification& notification);
  void handle_response(Response response);
  void handle_cancel_request(const json& params);
  void time_out(PendingCall& call);
  void answer(const Responder::State& state, const std::string& body);
  void finish_call(CallId id, Response response);

  uv_loop_t* loop_;
  MessageSink& sink_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // Responders check it before answering
  std::map<std::string, RequestHandler, std::less<>> request_handlers_;
  std::map<std::string, NotificationHandler, std::less<>> notification_handlers_;
  RequestGate gate_;
  // Unanswered incoming requests by serialized id, for `$/cancelRequest`.
  std::map<std::string, std::weak_ptr<Responder::State>, std::less<>> incoming_;
  std::map<CallId, std::unique_ptr<PendingCall>> calls_;
  CallId next_call_id_ = 1;
};

}  // namespace quill::rpc
