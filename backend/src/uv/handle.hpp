#pragma once
// UvHandle<T>: the single owner of one libuv handle. The handle lives on the heap because libuv
// may still touch it after the owner is gone: it is freed only in the close callback, as libuv
// requires. Closing is idempotent; destroying the owner closes the handle.

#include <uv.h>

#include <utility>

namespace quill::uv {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  // `init` is the matching uv_*_init call; on failure the handle is freed and ok() is false.
  template <typename Init>
  explicit UvHandle(Init&& init) : handle_(new T{}) {
    status_ = std::forward<Init>(init)(handle_);
    if (status_ != 0) {
      delete handle_;
      handle_ = nullptr;
    }
  }
  ~UvHandle() { close(); }

  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), status_(other.status_) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, nullptr);
      status_ = other.status_;
    }
    return *this;
  }

  bool ok() const { return handle_ != nullptr; }
  int status() const { return status_; }
  T* get() const { return handle_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(handle_); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_); }

  void close() {
    if (handle_ == nullptr) return;
    uv_handle_t* raw = base();
    handle_ = nullptr;
    raw->data = nullptr;  // no callback may reach the owner any more
    uv_close(raw, [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
  }

 private:
  T* handle_ = nullptr;
  int status_ = 0;
};

}  // namespace quill::uv
