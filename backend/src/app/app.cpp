#include "app/app.hpp"

#include "util/log.hpp"

namespace quill::app {

App::~App() {
  finish();
}

int App::run(uv_file in, uv_file out) {
  std::string error;
  transport_ = rpc::StdioTransport::open(loop_, in, out, &error);
  if (!transport_) {
    QLOG(Error) << "cannot open stdio: " << error;
    return 2;
  }
  peer_ = std::make_unique<rpc::Peer>(loop_, *transport_);
  tokens_ = std::make_unique<chat::TokenCoalescer>(
      loop_, chat::TokenCoalescer::Output{
                 .writable = [this] { return transport_->queued_bytes() == 0; },
                 .send = [this](std::string body) { peer_->send_raw(std::move(body)); },
             });
  lifecycle_ = std::make_unique<server::Lifecycle>(
      *peer_, [this](int code) { request_exit(code, "exit notification"); },
      [this] { chat_->cancel_all(); });
  chat_ = std::make_unique<chat::ChatService>(
      loop_, *peer_, *tokens_,
      [this]() -> const provider::Endpoints& { return lifecycle_->settings().endpoints; });

  for (auto* sig : {&sigterm_, &sigint_}) {
    *sig = uv::UvHandle<uv_signal_t>([this](uv_signal_t* s) { return uv_signal_init(loop_, s); });
    if (!sig->ok()) continue;
    sig->get()->data = this;
    uv_signal_start(
        sig->get(),
        [](uv_signal_t* s, int signum) {
          static_cast<App*>(s->data)->request_exit(0, signum == SIGTERM ? "SIGTERM" : "SIGINT");
        },
        sig == &sigterm_ ? SIGTERM : SIGINT);
  }

  const int rc = transport_->start({
      .on_message = [this](std::string_view body) { peer_->receive(body); },
      .on_frame_error =
          [this](const std::string& problem) {
            peer_->notify(
                "log", {{"level", "warn"}, {"message", "bad frame from the editor: " + problem}});
          },
      .on_input_end =
          [this](int status) {
            request_exit(
                0, status == 0 ? "stdin closed" : std::string("stdin: ") + uv_strerror(status));
          },
      // The editor closing our stdout is it going away, like stdin EOF: not a failure.
      .on_output_error =
          [this](int status, const std::string& problem) {
            request_exit(status == UV_EPIPE ? 0 : 1, problem);
          },
      .on_drain =
          [this] {
            tokens_->on_writable();
            // Finish from a fresh loop turn: we are inside the writer's callback.
            if (exiting_ && exit_timer_.ok())
              uv_timer_start(exit_timer_.get(), &App::on_exit_timer, 0, 0);
          },
  });
  if (rc != 0) {
    QLOG(Error) << "cannot read stdin: " << uv_strerror(rc);
    return 2;
  }
  QLOG(Info) << "quill-backend " << QUILL_VERSION << " started, pid " << uv_os_getpid();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

void App::request_exit(int code, const std::string& why) {
  if (exiting_) return;
  exiting_ = true;
  exit_code_ = code;
  QLOG(Info) << "exiting (" << why << "), code " << code;
  transport_->stop_reading();
  sigterm_.close();
  sigint_.close();
  chat_->cancel_all();  // before failing editor requests: a failed tool call would start a round
  peer_->fail_all_calls({rpc::code::kInternalError, "the backend is exiting", nullptr});
  // Let queued output drain first (on_drain cuts the wait short), but never wait long on an
  // editor that stopped reading.
  exit_timer_ = uv::UvHandle<uv_timer_t>([this](uv_timer_t* t) { return uv_timer_init(loop_, t); });
  exit_timer_.get()->data = this;
  uv_timer_start(exit_timer_.get(), &App::on_exit_timer,
                 transport_->queued_bytes() == 0 ? 0 : kExitFlushMs, 0);
}

void App::on_exit_timer(uv_timer_t* timer) {
  auto* app = static_cast<App*>(timer->data);
  if (app->transport_ && app->transport_->queued_bytes() > 0) {
    QLOG(Warn) << "output not flushed after " << kExitFlushMs << " ms; exiting anyway";
  }
  app->finish();
}

void App::finish() {
  // Owners close their handles; the loop then runs out of work and uv_run returns.
  chat_.reset();  // aborts transfers: servers stop generating for a departed editor
  tokens_.reset();
  lifecycle_.reset();
  peer_.reset();
  transport_.reset();
  sigterm_.close();
  sigint_.close();
  exit_timer_.close();
}

}  // namespace quill::app
