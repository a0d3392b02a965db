#include "http/curl_multi.hpp"

#include "http/http_transfer.hpp"
#include "util/log.hpp"
#include "uv/guard.hpp"

namespace quill::http {

// The watch on one socket curl uses; attached to it with curl_multi_assign.
struct CurlMulti::SocketWatch {
  CurlMulti* owner = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;
  uv::UvHandle<uv_poll_t> poll;
};

CurlMulti::CurlMulti(uv_loop_t* loop) : loop_(loop), multi_(curl_multi_init()) {
  timer_ = uv::UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  timer_.get()->data = this;
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlMulti::~CurlMulti() {
  // Transfers are owned elsewhere and must be gone (or removed) by now; cleanup closes the
  // cached connections, which calls on_socket(REMOVE) for each and frees the watches.
  curl_multi_cleanup(multi_);
  for (SocketWatch* watch : watches_)
    delete watch;  // any curl did not hand back
}

bool CurlMulti::add(HttpTransfer& transfer) {
  const CURLMcode rc = curl_multi_add_handle(multi_, transfer.easy_);
  if (rc != CURLM_OK) {
    QLOG(Error) << "curl_multi_add_handle: " << curl_multi_strerror(rc);
    return false;
  }
  return true;  // curl calls on_timer(0) and we kick it off from the loop
}

void CurlMulti::remove(HttpTransfer& transfer) {
  curl_multi_remove_handle(multi_, transfer.easy_);
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  // Called by libcurl: nothing may escape; -1 makes curl fail the transfer.
  int rc = -1;
  uv::guarded("curl's socket callback",
              [&] { rc = static_cast<CurlMulti*>(userp)->watch_socket(fd, what, socketp); });
  return rc;
}

int CurlMulti::watch_socket(curl_socket_t fd, int what, void* socketp) {
  auto* watch = static_cast<SocketWatch*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (watch != nullptr) {
      curl_multi_assign(multi_, fd, nullptr);
      watches_.erase(watch);
      delete watch;  // closes the poll handle
    }
    return 0;
  }
  if (watch == nullptr) {
    watch = new SocketWatch{this, fd, {}};
    watch->poll = uv::UvHandle<uv_poll_t>(
        [this, fd](uv_poll_t* p) { return uv_poll_init_socket(loop_, p, fd); });
    if (!watch->poll.ok()) {
      QLOG(Error) << "uv_poll_init_socket: " << uv_strerror(watch->poll.status());
      delete watch;
      return -1;
    }
    watch->poll.get()->data = watch;
    watches_.insert(watch);
    curl_multi_assign(multi_, fd, watch);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(watch->poll.get(), events, [](uv_poll_t* p, int status, int ready) {
    auto* w = static_cast<SocketWatch*>(p->data);
    if (w == nullptr) return;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (ready & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (ready & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    uv::guarded("the socket poll callback", [&] { w->owner->act(w->fd, flags); });
  });
  return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  // uv_timer_* do not throw; the timer's own callback is guarded.
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer_.get());
    return 0;
  }
  // 0 means "act as soon as possible", but never from inside this callback.
  const auto delay = static_cast<std::uint64_t>(timeout_ms == 0 ? 1 : timeout_ms);
  uv_timer_start(
      self->timer_.get(),
      [](uv_timer_t* t) {
        uv::guarded("curl's timer callback",
                    [&] { static_cast<CurlMulti*>(t->data)->act(CURL_SOCKET_TIMEOUT, 0); });
      },
      delay, 0);
  return 0;
}

void CurlMulti::act(curl_socket_t fd, int events) {
  curl_multi_socket_action(multi_, fd, events, &running_);
  drain_finished();
}

void CurlMulti::drain_finished() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;  // copy: msg dies with remove_handle
    HttpTransfer* transfer = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &transfer);
    curl_multi_remove_handle(multi_, easy);
    // May destroy the transfer. A throwing owner must not keep the others' ends waiting.
    if (transfer != nullptr) uv::guarded("a transfer's end", [&] { transfer->finish(code); });
  }
}

}  // namespace quill::http
