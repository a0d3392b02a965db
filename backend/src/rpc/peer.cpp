#include "rpc/peer.hpp"

#include <algorithm>

#include "util/log.hpp"
#include "uv/guard.hpp"

namespace quill::rpc {
namespace {

// What the exception being handled says (call inside a catch block).
std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

struct Responder::State {
  Peer* peer = nullptr;
  std::weak_ptr<int> peer_alive;
  json id;
  std::string key;  // id.dump(), the key in Peer::incoming_
  std::string method;
  CancelToken cancel;
  bool answered = false;
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();

  ~State() {
    if (answered || peer_alive.expired()) return;
    QLOG(Error) << "request " << method << "(" << key << ") was dropped without an answer";
    answered = true;
    peer->answer(*this,
                 make_error(id, {code::kInternalError,
                                 "internal error: " + method + " was not answered", nullptr}));
  }
};

void CancelToken::on_cancel(std::function<void()> fn) const {
  if (state_->cancelled) {
    if (fn) fn();
    return;
  }
  state_->fn = std::move(fn);
}

void CancelToken::cancel() const {
  if (state_->cancelled) return;
  state_->cancelled = true;
  if (auto fn = std::exchange(state_->fn, nullptr)) fn();
}

void Responder::reply(json result) const {
  State& s = *state_;
  if (s.answered) {
    QLOG(Warn) << "second answer to " << s.method << "(" << s.key << ") dropped";
    return;
  }
  s.answered = true;
  s.cancel.clear();
  if (!s.peer_alive.expired()) s.peer->answer(s, make_result(s.id, result));
}

void Responder::fail(RpcError error) const {
  State& s = *state_;
  if (s.answered) {
    QLOG(Warn) << "second answer to " << s.method << "(" << s.key << ") dropped";
    return;
  }
  s.answered = true;
  s.cancel.clear();
  if (!s.peer_alive.expired()) s.peer->answer(s, make_error(s.id, error));
}

bool Responder::answered() const {
  return state_->answered;
}
const CancelToken& Responder::cancel_token() const {
  return state_->cancel;
}
const json& Responder::id() const {
  return state_->id;
}
const std::string& Responder::method() const {
  return state_->method;
}

Peer::Peer(uv_loop_t* loop, MessageSink& sink) : loop_(loop), sink_(sink) {}

Peer::~Peer() {
  alive_.reset();  // unanswered Responders outliving us must not write
  // Break Responder <-> cancel-callback cycles of requests that were never answered.
  for (auto& [key, weak] : incoming_) {
    if (auto state = weak.lock()) state->cancel.clear();
  }
  calls_.clear();  // closes their timers; nobody is left to tell
}

void Peer::on_request(std::string method, RequestHandler handler) {
  request_handlers_[std::move(method)] = std::move(handler);
}

void Peer::on_notification(std::string method, NotificationHandler handler) {
  notification_handlers_[std::move(method)] = std::move(handler);
}

std::vector<std::string> Peer::handled_methods() const {
  std::vector<std::string> out = {"$/cancelRequest"};
  for (const auto& [name, handler] : request_handlers_)
    out.push_back(name);
  for (const auto& [name, handler] : notification_handlers_)
    out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void Peer::receive(std::string_view body) {
  // Nothing a message triggers may unwind into the loop: that would end the process and every
  // chat with it. Requests are answered by dispatch_request; what else throws is logged here.
  uv::guarded("Peer::receive", [&] {
    Message message = parse_message(body);
    if (auto* request = std::get_if<Request>(&message)) {
      dispatch_request(std::move(*request));
    } else if (auto* notification = std::get_if<Notification>(&message)) {
      dispatch_notification(*notification);
    } else if (auto* response = std::get_if<Response>(&message)) {
      handle_response(std::move(*response));
    } else {
      auto& bad = std::get<Invalid>(message);
      QLOG(Warn) << "<-- invalid message: " << bad.error.message;
      sink_.send(make_error(bad.id, bad.error));
    }
  });
}

void Peer::dispatch_request(Request request) {
  auto state = std::make_shared<Responder::State>();
  state->peer = this;
  state->peer_alive = alive_;
  state->key = request.id.dump();
  state->id = std::move(request.id);
  state->method = request.method;
  QLOG(Debug) << "<-- " << state->method << "(" << state->key << ")";
  // A reused id replaces the older entry: the last one wins, as in LSP.
  incoming_[state->key] = state;
  Responder responder(state);
  try {
    if (gate_) {
      if (auto refusal = gate_(request.method)) {
        responder.fail(std::move(*refusal));
        return;
      }
    }
    const auto it = request_handlers_.find(request.method);
    if (it == request_handlers_.end()) {
      responder.fail({code::kMethodNotFound, "method not found: " + request.method, nullptr});
      return;
    }
    it->second(request.params, responder);
  } catch (...) {
    // A handler decodes its params itself (-32602 names the key): an exception is a bug.
    const std::string what = current_exception_text();
    QLOG(Error) << request.method << "(" << state->key << ") threw: " << what;
    if (!responder.answered()) {
      responder.fail(
          {code::kInternalError, "internal error in " + request.method + ": " + what, nullptr});
    }
  }
}

void Peer::dispatch_notification(const Notification& notification) {
  QLOG(Debug) << "<-- " << notification.method;
  if (notification.method == "$/cancelRequest") {
    handle_cancel_request(notification.params);
    return;
  }
  const auto it = notification_handlers_.find(notification.method);
  if (it == notification_handlers_.end()) return;  // unknown notifications are ignored
  uv::guarded(notification.method.c_str(), [&] { it->second(notification.params); });
}

void Peer::handle_cancel_request(const json& params) {
  if (!params.is_object() || !params.contains("id")) {
    QLOG(Warn) << "$/cancelRequest without an id ignored";
    return;
  }
  const auto it = incoming_.find(params.at("id").dump());
  if (it == incoming_.end()) return;  // already answered: cancellation is racy by nature
  if (auto state = it->second.lock()) {
    QLOG(Debug) << "cancel requested for " << state->method << "(" << state->key << ")";
    uv::guarded("$/cancelRequest", [&] { state->cancel.cancel(); });
  }
}

void Peer::answer(const Responder::State& state, const std::string& body) {
  const auto it = incoming_.find(state.key);
  if (it != incoming_.end() && it->second.lock().get() == &state) incoming_.erase(it);
  // During ~State the weak_ptr is already expired: compare by key only then.
  else if (it != incoming_.end() && it->second.expired())
    incoming_.erase(it);
  QLOG(Debug) << "--> reply:" << state.method << "(" << state.key << ") "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - state.received)
                     .count()
              << "ms";
  sink_.send(body);
}

void Peer::notify(std::string_view method, const json& params) {
  sink_.send(make_notification(method, params));
}

Peer::CallId Peer::call(std::string method, json params, std::chrono::milliseconds timeout,
                        CallDone done) {
  if (calls_.size() >= kMaxPendingCalls) {
    // Bounded table: the oldest call gives way.
    finish_call(
        calls_.begin()->first,
        Response{calls_.begin()->first,
                 false,
                 nullptr,
                 {code::kInternalError, "too many pending requests to the editor", nullptr}});
  }
  const CallId id = next_call_id_++;
  auto pending = std::make_unique<PendingCall>();
  pending->peer = this;
  pending->id = id;
  pending->method = method;
  pending->done = std::move(done);
  if (timeout.count() > 0) {
    pending->timer =
        uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(loop_, t); });
    if (pending->timer.ok()) {
      pending->timer.get()->data = pending.get();
      uv_timer_start(
          pending->timer.get(),
          [](uv_timer_t* t) {
            auto* call = static_cast<PendingCall*>(t->data);
            if (call == nullptr) return;
            uv::guarded("request timer", [call] { call->peer->time_out(*call); });
          },
          static_cast<std::uint64_t>(timeout.count()), 0);
    }
  }
  calls_.emplace(id, std::move(pending));
  QLOG(Debug) << "--> " << method << "(" << id << ")";
  sink_.send(make_request(id, method, params));
  return id;
}

void Peer::time_out(PendingCall& call) {
  const CallId id = call.id;
  QLOG(Warn) << call.method << "(" << id << ") timed out";
  sink_.send(make_notification("$/cancelRequest", json{{"id", id}}));
  finish_call(id, Response{id,
                           false,
                           nullptr,
                           {code::kRequestTimeout,
                            "the editor did not answer " + call.method + " in time", nullptr}});
}

bool Peer::cancel_call(CallId id) {
  if (!calls_.contains(id)) return false;
  sink_.send(make_notification("$/cancelRequest", json{{"id", id}}));
  finish_call(id, Response{id, false, nullptr, {code::kRequestCancelled, "cancelled", nullptr}});
  return true;
}

void Peer::fail_all_calls(const RpcError& why) {
  while (!calls_.empty()) {
    const CallId id = calls_.begin()->first;
    finish_call(id, Response{id, false, nullptr, why});
  }
}

void Peer::handle_response(Response response) {
  if (!response.id.is_number_integer()) {
    QLOG(Warn) << "<-- response with id " << response.id.dump() << " matches no request";
    return;
  }
  const CallId id = response.id.get<CallId>();
  if (!calls_.contains(id)) {
    QLOG(Warn) << "<-- response to unknown or finished request " << id << " ignored";
    return;
  }
  QLOG(Debug) << "<-- reply(" << id << ")";
  finish_call(id, std::move(response));
}

void Peer::finish_call(CallId id, Response response) {
  const auto it = calls_.find(id);
  if (it == calls_.end()) return;
  // Take the call out first: `done` may start new calls or cancel others.
  std::unique_ptr<PendingCall> call = std::move(it->second);
  calls_.erase(it);
  CallDone done = std::move(call->done);
  const std::string what = "the answer to " + call->method;
  call.reset();  // closes the timer
  // One callback's exception must not stop the others (fail_all_calls) nor reach the loop.
  if (done) uv::guarded(what.c_str(), [&] { done(std::move(response)); });
}

}  // namespace quill::rpc
