#include "uv/byte_stream.hpp"

#include <deque>
#include <vector>

#include "uv/guard.hpp"
#include "uv/handle.hpp"

namespace quill::uv {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

std::string uv_error_text(const char* what, int status) {
  return std::string(what) + ": " + uv_strerror(status);
}

// `fd` opened as a libuv stream handle: a tty, or a pipe (which also covers sockets).
class StreamHandle {
 public:
  StreamHandle(uv_loop_t* loop, uv_file fd, uv_handle_type type, std::string* error) {
    if (type == UV_TTY) {
      tty_ = UvHandle<uv_tty_t>([&](uv_tty_t* h) { return uv_tty_init(loop, h, fd, 0); });
      if (!tty_.ok()) *error = uv_error_text("uv_tty_init", tty_.status());
    } else {
      pipe_ = UvHandle<uv_pipe_t>([&](uv_pipe_t* h) { return uv_pipe_init(loop, h, 0); });
      if (!pipe_.ok()) {
        *error = uv_error_text("uv_pipe_init", pipe_.status());
        return;
      }
      const int rc = uv_pipe_open(pipe_.get(), fd);
      if (rc != 0) {
        *error = uv_error_text("uv_pipe_open", rc);
        pipe_.close();
      }
    }
  }
  bool ok() const { return tty_.ok() || pipe_.ok(); }
  uv_stream_t* stream() const { return tty_.ok() ? tty_.stream() : pipe_.stream(); }

 private:
  UvHandle<uv_tty_t> tty_;
  UvHandle<uv_pipe_t> pipe_;
};

class StreamReader final : public ByteReader {
 public:
  StreamReader(uv_loop_t* loop, uv_file fd, uv_handle_type type, std::string* error)
      : handle_(loop, fd, type, error) {}
  bool ok() const { return handle_.ok(); }

  int start(OnData on_data, OnEnd on_end) override {
    on_data_ = std::move(on_data);
    on_end_ = std::move(on_end);
    handle_.stream()->data = this;
    return uv_read_start(
        handle_.stream(),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          auto* self = static_cast<StreamReader*>(h->data);
          buf->base = self->buffer_.data();
          buf->len = self->buffer_.size();
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<StreamReader*>(s->data);
          if (self == nullptr) return;
          if (nread > 0) {
            guarded("the input callback", [&] {
              self->on_data_(std::string_view(buf->base, static_cast<std::size_t>(nread)));
            });
          } else if (nread < 0) {
            self->stop();
            guarded("the end-of-input callback",
                    [&] { self->on_end_(nread == UV_EOF ? 0 : static_cast<int>(nread)); });
          }
        });
  }

  void stop() override {
    if (handle_.ok()) uv_read_stop(handle_.stream());
  }

 private:
  StreamHandle handle_;
  std::vector<char> buffer_ = std::vector<char>(kReadChunk);
  OnData on_data_;
  OnEnd on_end_;
};

// Regular files and devices: one uv_fs_read in flight at a time.
class FileReader final : public ByteReader {
 public:
  FileReader(uv_loop_t* loop, uv_file fd) : loop_(loop), fd_(fd) {}
  ~FileReader() override {
    // An in-flight read keeps its request alive; it must not call back into a dead reader.
    if (in_flight_ != nullptr) in_flight_->owner = nullptr;
  }

  int start(OnData on_data, OnEnd on_end) override {
    on_data_ = std::move(on_data);
    on_end_ = std::move(on_end);
    reading_ = true;
    return read_next();
  }
  void stop() override { reading_ = false; }

 private:
  struct Request {
    uv_fs_t req{};
    FileReader* owner = nullptr;
    std::vector<char> buffer = std::vector<char>(kReadChunk);
  };

  int read_next() {
    auto* r = new Request();
    r->owner = this;
    r->req.data = r;
    uv_buf_t buf = uv_buf_init(r->buffer.data(), static_cast<unsigned>(r->buffer.size()));
    const int rc = uv_fs_read(loop_, &r->req, fd_, &buf, 1, -1, &FileReader::on_read);
    if (rc != 0) {
      delete r;
      return rc;
    }
    in_flight_ = r;
    return 0;
  }

  static void on_read(uv_fs_t* req) {
    std::unique_ptr<Request> r(static_cast<Request*>(req->data));
    const ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    FileReader* self = r->owner;
    if (self == nullptr) return;
    self->in_flight_ = nullptr;
    if (!self->reading_) return;
    if (n > 0) {
      guarded("the input callback", [&] {
        self->on_data_(std::string_view(r->buffer.data(), static_cast<std::size_t>(n)));
      });
      if (self->reading_) {
        const int rc = self->read_next();
        if (rc != 0) self->finish(rc);
      }
    } else {
      self->finish(n == 0 ? 0 : static_cast<int>(n));
    }
  }

  void finish(int status) {
    reading_ = false;
    guarded("the end-of-input callback", [&] { on_end_(status); });
  }

  uv_loop_t* loop_;
  uv_file fd_;
  bool reading_ = false;
  Request* in_flight_ = nullptr;
  OnData on_data_;
  OnEnd on_end_;
};

class StreamWriter final : public ByteWriter {
 public:
  StreamWriter(uv_loop_t* loop, uv_file fd, uv_handle_type type, std::string* error)
      : handle_(loop, fd, type, error) {
    if (handle_.ok()) handle_.stream()->data = this;
  }
  ~StreamWriter() override {
    for (Request* r : in_flight_)
      r->owner = nullptr;
  }
  bool ok() const { return handle_.ok(); }

  void write(std::string bytes) override {
    if (bytes.empty() || failed_) return;
    auto* r = new Request{};
    r->owner = this;
    r->bytes = std::move(bytes);
    r->req.data = r;
    uv_buf_t buf = uv_buf_init(r->bytes.data(), static_cast<unsigned>(r->bytes.size()));
    const int rc = uv_write(&r->req, handle_.stream(), &buf, 1, &StreamWriter::on_written);
    if (rc != 0) {
      delete r;
      fail(rc);
      return;
    }
    in_flight_.push_back(r);
  }

  std::size_t pending_bytes() const override {
    return handle_.ok() ? uv_stream_get_write_queue_size(handle_.stream()) : 0;
  }
  void set_on_drain(std::function<void()> on_drain) override { on_drain_ = std::move(on_drain); }
  void set_on_error(OnError on_error) override { on_error_ = std::move(on_error); }

 private:
  struct Request {
    uv_write_t req{};
    StreamWriter* owner = nullptr;
    std::string bytes;
  };

  static void on_written(uv_write_t* req, int status) {
    std::unique_ptr<Request> r(static_cast<Request*>(req->data));
    StreamWriter* self = r->owner;
    if (self == nullptr) return;
    std::erase(self->in_flight_, r.get());
    if (status != 0) {
      self->fail(status);
      return;
    }
    if (self->in_flight_.empty() && self->on_drain_) guarded("the drain callback", self->on_drain_);
  }

  void fail(int status) {
    if (failed_) return;
    failed_ = true;
    if (on_error_) guarded("the output error callback", [&] { on_error_(status); });
  }

  StreamHandle handle_;
  std::deque<Request*> in_flight_;
  bool failed_ = false;
  std::function<void()> on_drain_;
  OnError on_error_;
};

// Regular files and devices: writes are chained so they land in order.
class FileWriter final : public ByteWriter {
 public:
  FileWriter(uv_loop_t* loop, uv_file fd) : loop_(loop), fd_(fd) {}
  ~FileWriter() override {
    if (in_flight_ != nullptr) in_flight_->owner = nullptr;
  }

  void write(std::string bytes) override {
    if (bytes.empty() || failed_) return;
    pending_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (in_flight_ == nullptr) write_next();
  }
  std::size_t pending_bytes() const override { return pending_; }
  void set_on_drain(std::function<void()> on_drain) override { on_drain_ = std::move(on_drain); }
  void set_on_error(OnError on_error) override { on_error_ = std::move(on_error); }

 private:
  struct Request {
    uv_fs_t req{};
    FileWriter* owner = nullptr;
    std::string bytes;
  };

  void write_next() {
    auto* r = new Request{};
    r->owner = this;
    r->bytes = std::move(queue_.front());
    queue_.pop_front();
    r->req.data = r;
    uv_buf_t buf = uv_buf_init(r->bytes.data(), static_cast<unsigned>(r->bytes.size()));
    const int rc = uv_fs_write(loop_, &r->req, fd_, &buf, 1, -1, &FileWriter::on_written);
    if (rc != 0) {
      delete r;
      fail(rc);
      return;
    }
    in_flight_ = r;
  }

  static void on_written(uv_fs_t* req) {
    std::unique_ptr<Request> r(static_cast<Request*>(req->data));
    const ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    FileWriter* self = r->owner;
    if (self == nullptr) return;
    self->in_flight_ = nullptr;
    if (n < 0) {
      self->fail(static_cast<int>(n));
      return;
    }
    const auto written = static_cast<std::size_t>(n);
    self->pending_ -= written;
    if (written < r->bytes.size()) {  // short write: the rest goes first
      self->queue_.push_front(r->bytes.substr(written));
    }
    if (!self->queue_.empty()) {
      self->write_next();
    } else if (self->on_drain_) {
      guarded("the drain callback", self->on_drain_);
    }
  }

  void fail(int status) {
    if (failed_) return;
    failed_ = true;
    queue_.clear();
    pending_ = 0;
    if (on_error_) guarded("the output error callback", [&] { on_error_(status); });
  }

  uv_loop_t* loop_;
  uv_file fd_;
  std::deque<std::string> queue_;
  std::size_t pending_ = 0;
  Request* in_flight_ = nullptr;
  bool failed_ = false;
  std::function<void()> on_drain_;
  OnError on_error_;
};

bool is_stream(uv_handle_type type) {
  return type == UV_NAMED_PIPE || type == UV_TCP || type == UV_TTY;
}

}  // namespace

std::unique_ptr<ByteReader> open_reader(uv_loop_t* loop, uv_file fd, std::string* error) {
  const uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_FILE) return std::make_unique<FileReader>(loop, fd);
  if (!is_stream(type)) {
    *error = "unsupported input type for fd " + std::to_string(fd);
    return nullptr;
  }
  auto reader = std::make_unique<StreamReader>(loop, fd, type, error);
  if (!reader->ok()) return nullptr;
  return reader;
}

std::unique_ptr<ByteWriter> open_writer(uv_loop_t* loop, uv_file fd, std::string* error) {
  const uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_FILE) return std::make_unique<FileWriter>(loop, fd);
  if (!is_stream(type)) {
    *error = "unsupported output type for fd " + std::to_string(fd);
    return nullptr;
  }
  auto writer = std::make_unique<StreamWriter>(loop, fd, type, error);
  if (!writer->ok()) return nullptr;
  return writer;
}

}  // namespace quill::uv
