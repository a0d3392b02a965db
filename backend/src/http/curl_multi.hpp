#pragma once
// libcurl's multi-socket API driven by the libuv loop (the shape of curl's multi-uv example):
// one uv_poll_t per socket curl asks us to watch, one uv_timer_t for curl's timeouts. No
// threads of ours, no blocking calls; curl's own resolver runs name lookups asynchronously.
// It knows nothing of JSON or Ollama: it moves bytes for HttpTransfer objects.

#include <curl/curl.h>
#include <uv.h>

#include <set>

#include "uv/handle.hpp"

namespace quill::http {

class HttpTransfer;

class CurlMulti {
 public:
  explicit CurlMulti(uv_loop_t* loop);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  uv_loop_t* loop() const { return loop_; }
  // Starts `transfer`; its on_done runs later from the loop, never from inside this call.
  bool add(HttpTransfer& transfer);
  // Stops `transfer` at once, closing its connection if the response was not complete.
  // Must not be called from inside a libcurl callback.
  void remove(HttpTransfer& transfer);

 private:
  struct SocketWatch;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  int watch_socket(curl_socket_t fd, int what, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  void act(curl_socket_t fd, int events);
  void drain_finished();

  uv_loop_t* loop_;
  CURLM* multi_;
  uv::UvHandle<uv_timer_t> timer_;
  int running_ = 0;
  std::set<SocketWatch*> watches_;  // owned: freed on CURL_POLL_REMOVE or with us
};

}  // namespace quill::http
