#include "rpc/stdio_transport.hpp"

#include "util/log.hpp"
#include "uv/guard.hpp"

namespace quill::rpc {

std::unique_ptr<StdioTransport> StdioTransport::open(uv_loop_t* loop, uv_file in, uv_file out,
                                                     std::string* error) {
  auto reader = uv::open_reader(loop, in, error);
  if (!reader) return nullptr;
  auto writer = uv::open_writer(loop, out, error);
  if (!writer) return nullptr;
  return std::unique_ptr<StdioTransport>(new StdioTransport(std::move(reader), std::move(writer)));
}

int StdioTransport::start(Events events) {
  events_ = std::move(events);
  writer_->set_on_drain([this] {
    if (events_.on_drain) events_.on_drain();
  });
  writer_->set_on_error([this](int status) {
    output_failed(status, std::string("cannot write to the editor: ") + uv_strerror(status));
  });
  reading_ = true;
  return reader_->start([this](std::string_view bytes) { on_bytes(bytes); },
                        [this](int status) {
                          reading_ = false;
                          if (decoder_.buffered() > 0) {
                            QLOG(Warn) << "input ended inside a frame; " << decoder_.buffered()
                                       << " bytes never formed a message";
                          }
                          if (events_.on_input_end) events_.on_input_end(status);
                        });
}

void StdioTransport::stop_reading() {
  if (!reading_) return;
  reading_ = false;
  reader_->stop();
}

void StdioTransport::on_bytes(std::string_view bytes) {
  decoder_.feed(bytes);
  // A handler may stop us (exit): check before every frame.
  while (reading_) {
    auto frame = decoder_.next();
    if (!frame) break;
    // One message that throws must not cost the frames after it: each is guarded on its own.
    if (frame->is_body()) {
      uv::guarded("handling a message from the editor", [&] { events_.on_message(frame->text); });
    } else {
      QLOG(Warn) << "framing: " << frame->text;
      if (events_.on_frame_error)
        uv::guarded("reporting a bad frame", [&] { events_.on_frame_error(frame->text); });
    }
  }
}

void StdioTransport::send(std::string body) {
  if (output_broken_) return;
  if (writer_->pending_bytes() + body.size() > kMaxQueuedBytes) {
    output_failed(UV_ENOBUFS, "the editor is not reading: more than " +
                                  std::to_string(kMaxQueuedBytes) + " bytes unsent");
    return;
  }
  QLOG(Trace) << "--> " << body;
  writer_->write(encode_frame(body));
}

void StdioTransport::output_failed(int status, const std::string& problem) {
  if (output_broken_) return;
  output_broken_ = true;
  QLOG(Error) << problem;
  if (events_.on_output_error) events_.on_output_error(status, problem);
}

}  // namespace quill::rpc
