#pragma once
// The transport: framed JSON-RPC bodies over a pair of file descriptors (stdin/stdout).
// Reads feed a FrameDecoder; writes are framed and queued in order. It knows nothing of
// JSON-RPC: bodies in, bodies out.

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "rpc/frame_decoder.hpp"
#include "rpc/peer.hpp"
#include "uv/byte_stream.hpp"

namespace quill::rpc {

class StdioTransport final : public MessageSink {
 public:
  // More unsent output than this means the editor stopped reading: the channel is broken.
  static constexpr std::size_t kMaxQueuedBytes = 128 * 1024 * 1024;

  struct Events {
    std::function<void(std::string_view body)> on_message;
    std::function<void(const std::string& problem)> on_frame_error;
    std::function<void(int status)> on_input_end;  // 0 = EOF, else a libuv error
    // status: the libuv error (UV_EPIPE: the editor closed our stdout), UV_ENOBUFS on overflow.
    std::function<void(int status, const std::string& problem)> on_output_error;
    std::function<void()> on_drain;  // every queued byte was written
  };

  // nullptr and `error` set when a descriptor cannot be used.
  static std::unique_ptr<StdioTransport> open(uv_loop_t* loop, uv_file in, uv_file out,
                                              std::string* error);

  int start(Events events);
  void stop_reading();
  void send(std::string body) override;
  std::size_t queued_bytes() const { return writer_->pending_bytes(); }

 private:
  StdioTransport(std::unique_ptr<uv::ByteReader> reader, std::unique_ptr<uv::ByteWriter> writer)
      : reader_(std::move(reader)), writer_(std::move(writer)) {}
  void on_bytes(std::string_view bytes);
  void output_failed(int status, const std::string& problem);

  std::unique_ptr<uv::ByteReader> reader_;
  std::unique_ptr<uv::ByteWriter> writer_;
  FrameDecoder decoder_;
  Events events_;
  bool reading_ = false;
  bool output_broken_ = false;
};

}  // namespace quill::rpc
