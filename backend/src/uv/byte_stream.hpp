#pragma once
// Byte-level reading and writing of an inherited file descriptor (stdin/stdout) on the loop.
// Pipes, sockets and terminals are libuv streams; regular files and character devices
// (`quill-backend < file`, `> /dev/null`) go through libuv's asynchronous fs requests.
// Each object owns its handle and in-flight requests; bytes handed to write() live until
// libuv is done with them.

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace quill::uv {

class ByteReader {
 public:
  using OnData = std::function<void(std::string_view bytes)>;
  // status 0 = end of input, otherwise a libuv error code.
  using OnEnd = std::function<void(int status)>;

  virtual ~ByteReader() = default;
  virtual int start(OnData on_data, OnEnd on_end) = 0;
  virtual void stop() = 0;
};

class ByteWriter {
 public:
  using OnError = std::function<void(int status)>;
  virtual ~ByteWriter() = default;
  // Queues bytes behind everything queued before; order is preserved.
  virtual void write(std::string bytes) = 0;
  // Bytes accepted by write() that the OS has not taken yet.
  virtual std::size_t pending_bytes() const = 0;
  // Called once every queued byte has been handed to the OS (pending_bytes() became 0).
  virtual void set_on_drain(std::function<void()> on_drain) = 0;
  virtual void set_on_error(OnError on_error) = 0;
};

// Chooses the right implementation for `fd`; returns nullptr and sets `error` on failure.
std::unique_ptr<ByteReader> open_reader(uv_loop_t* loop, uv_file fd, std::string* error);
std::unique_ptr<ByteWriter> open_writer(uv_loop_t* loop, uv_file fd, std::string* error);

}  // namespace quill::uv
