#include "http_server.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace fake_ollama {
namespace {

using quill::uv::UvHandle;

constexpr std::size_t kReadBuffer = 64 * 1024;
constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// Whether the comma-separated header value `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (lower(trim(list.substr(0, comma))) == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[64];
  const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(text, n);
}

// End of the header block in `in` (offset of the blank line) and the separator's length.
bool find_head_end(const std::string& in, std::size_t* end, std::size_t* separator) {
  const std::size_t crlf = in.find("\r\n\r\n");
  const std::size_t lf = in.find("\n\n");
  if (crlf == std::string::npos && lf == std::string::npos) return false;
  if (lf != std::string::npos && (crlf == std::string::npos || lf < crlf)) {
    *end = lf;
    *separator = 2;
  } else {
    *end = crlf;
    *separator = 4;
  }
  return true;
}

std::string error_json(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return out + "\"}";
}

std::string head_block(int status, std::string_view content_type, const std::size_t* length,
                       bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += reason_phrase(status);
  out += "\r\n";
  if (!content_type.empty()) {
    out += "Content-Type: ";
    out += content_type;
    out += "\r\n";
  }
  out += "Date: " + http_date() + "\r\n";
  if (length != nullptr)
    out += "Content-Length: " + std::to_string(*length) + "\r\n";
  else
    out += "Transfer-Encoding: chunked\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

class SimpleResponder final : public Responder {
 public:
  SimpleResponder(int status, std::string content_type, std::string body,
                  std::function<void(Outcome)> on_done)
      : status_(status),
        content_type_(std::move(content_type)),
        body_(std::move(body)),
        on_done_(std::move(on_done)) {}
  void start(ResponseWriter& out) override { out.respond(status_, content_type_, body_); }
  void finished(Outcome outcome) override {
    if (on_done_) on_done_(outcome);
  }

 private:
  int status_;
  std::string content_type_;
  std::string body_;
  std::function<void(Outcome)> on_done_;
};

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return &value;
  return nullptr;
}

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Completed:
      return "completed";
    case Outcome::ClientGone:
      return "client gone";
    case Outcome::ServerClosed:
      return "closed by server";
  }
  return "?";
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::unique_ptr<Responder> make_simple_responder(int status, std::string content_type,
                                                 std::string body,
                                                 std::function<void(Outcome)> on_done) {
  return std::make_unique<SimpleResponder>(status, std::move(content_type), std::move(body),
                                           std::move(on_done));
}

// One request and its response. Owned by the connection while in progress, then retired.
class HttpServer::Exchange final : public ResponseWriter {
 public:
  Exchange(Connection& owner, std::uint64_t exchange_id, HttpRequest req, bool keep)
      : connection(&owner), id(exchange_id), request_data(std::move(req)), keep_alive(keep) {}

  const HttpRequest& request() const override { return request_data; }
  void respond(int status, std::string_view content_type, std::string_view body) override;
  void begin_chunked(int status, std::string_view content_type) override;
  void write_chunk(std::string_view data) override;
  void end_chunked() override;
  void drop() override;
  std::size_t queued_bytes() const override;
  bool open() const override;

  Connection* connection;  // nullptr once the exchange is over
  std::uint64_t id;
  HttpRequest request_data;
  bool keep_alive;
  bool accepting = true;  // false once the response is complete or dropped
  bool headers_sent = false;
  std::unique_ptr<Responder> responder;
};

class HttpServer::Connection {
 public:
  Connection(HttpServer& server, UvHandle<uv_tcp_t> tcp) : server_(server), tcp_(std::move(tcp)) {
    tcp_.get()->data = this;
  }
  ~Connection() {
    // Writes still in flight complete (cancelled) after we are gone: they must not call back.
    for (Write* w : in_flight_)
      w->owner = nullptr;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int start() { return uv_read_start(tcp_.stream(), &Connection::on_alloc, &Connection::on_read); }
  bool closed() const { return closed_; }
  std::size_t queued_bytes() const {
    return tcp_.ok() ? uv_stream_get_write_queue_size(tcp_.stream()) : 0;
  }

  // Closes the socket now; an exchange in progress ends with `outcome`.
  void shut(Outcome outcome) {
    if (closed_) return;
    closed_ = true;
    finish_exchange(outcome);
    tcp_.close();
    server_.retire(this);
  }

  void respond(Exchange& ex, int status, std::string_view content_type, std::string_view body) {
    const std::size_t length = body.size();
    std::string bytes = head_block(status, content_type, &length, !ex.keep_alive);
    if (ex.request_data.method != "HEAD") bytes += body;
    ex.accepting = false;
    ex.headers_sent = true;
    write(std::move(bytes), ex.id, true);
  }

  void begin_chunked(Exchange& ex, int status, std::string_view content_type) {
    if (ex.headers_sent) return;
    ex.headers_sent = true;
    write(head_block(status, content_type, nullptr, !ex.keep_alive), ex.id, false);
  }

  void write_chunk(Exchange& ex, std::string_view data) {
    if (!ex.headers_sent || data.empty()) return;
    char size[32];
    const auto [end, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
    std::string bytes(size, end);
    bytes.reserve(bytes.size() + data.size() + 4);
    bytes += "\r\n";
    bytes += data;
    bytes += "\r\n";
    write(std::move(bytes), ex.id, false);
  }

  void end_chunked(Exchange& ex) {
    if (!ex.headers_sent) return;
    ex.accepting = false;
    write("0\r\n\r\n", ex.id, true);
  }

  void drop(Exchange& ex) {
    ex.accepting = false;
    close_after_flush(Outcome::ServerClosed);
  }

 private:
  struct Write {
    uv_write_t req{};
    Connection* owner = nullptr;
    std::string bytes;
    std::uint64_t exchange_id = 0;
    bool final = false;  // the last byte of that exchange's response
  };

  static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(handle->data);
    if (self == nullptr) {
      *buf = uv_buf_init(nullptr, 0);
      return;
    }
    *buf = uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()));
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(stream->data);
    if (self == nullptr || self->closed_) return;
    if (nread > 0) {
      self->on_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    } else if (nread < 0) {
      // EOF or reset: the client is gone, whatever it was doing.
      self->shut(Outcome::ClientGone);
    }
  }

  void write(std::string bytes, std::uint64_t exchange_id, bool final) {
    if (closed_) return;
    auto* w = new Write{};
    w->owner = this;
    w->bytes = std::move(bytes);
    w->exchange_id = exchange_id;
    w->final = final;
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    const int rc = uv_write(&w->req, tcp_.stream(), &buf, 1, &Connection::on_written);
    if (rc != 0) {
      delete w;
      shut(Outcome::ClientGone);
      return;
    }
    in_flight_.push_back(w);
  }

  static void on_written(uv_write_t* req, int status) {
    std::unique_ptr<Write> w(static_cast<Write*>(req->data));
    if (w->owner != nullptr) w->owner->written(*w, status);
  }

  void written(const Write& w, int status) {
    std::erase(in_flight_, &w);
    if (closed_) return;
    if (status < 0) {
      shut(Outcome::ClientGone);
      return;
    }
    if (close_after_flush_) {
      if (in_flight_.empty()) shut(flush_outcome_);
      return;
    }
    if (!exchange_ || exchange_->id != w.exchange_id) return;
    if (w.final) {
      finish_exchange(Outcome::Completed);
    } else if (exchange_->accepting && exchange_->responder) {
      exchange_->responder->writable();
    }
  }

  void close_after_flush(Outcome outcome) {
    close_after_flush_ = true;
    flush_outcome_ = outcome;
    if (in_flight_.empty()) shut(outcome);
  }

  // Ends the current exchange; after a completed one, serves the next request if kept alive.
  void finish_exchange(Outcome outcome) {
    if (!exchange_) return;
    std::unique_ptr<Exchange> ex = std::move(exchange_);
    ex->accepting = false;
    ex->connection = nullptr;
    const bool keep_alive = ex->keep_alive;
    if (ex->responder) ex->responder->finished(outcome);
    server_.retire(std::move(ex));
    if (outcome != Outcome::Completed || closed_) return;
    if (!keep_alive) {
      shut(Outcome::ServerClosed);
      return;
    }
    process_input();
  }

  void on_data(std::string_view bytes) {
    if (in_.size() + bytes.size() > kMaxHead + kMaxBody) {
      shut(Outcome::ClientGone);
      return;
    }
    in_.append(bytes);
    process_input();
  }

  void process_input() {
    while (!closed_ && !exchange_ && !close_after_flush_) {
      if (!head_done_) {
        std::size_t skip = 0;  // blank lines before a request line are allowed
        while (skip < in_.size() && (in_[skip] == '\r' || in_[skip] == '\n'))
          ++skip;
        in_.erase(0, skip);
        std::size_t end = 0;
        std::size_t separator = 0;
        if (!find_head_end(in_, &end, &separator)) {
          if (in_.size() > kMaxHead) reject(431, "request header too large");
          return;
        }
        if (end > kMaxHead) {
          reject(431, "request header too large");
          return;
        }
        std::string problem;
        const int status = parse_head(std::string_view(in_).substr(0, end), &problem);
        if (status != 0) {
          reject(status, problem);
          return;
        }
        in_.erase(0, end + separator);
        head_done_ = true;
        const std::string* expect = pending_.header("expect");
        if (expect != nullptr && lower(*expect) == "100-continue" && pending_.version_minor >= 1 &&
            in_.size() < body_length_) {
          write("HTTP/1.1 100 Continue\r\n\r\n", 0, false);
        }
      }
      if (in_.size() < body_length_) return;
      pending_.body.assign(in_, 0, body_length_);
      in_.erase(0, body_length_);
      head_done_ = false;
      dispatch();
    }
  }

  // Parses request line and headers into pending_; 0 or the status to reject with.
  int parse_head(std::string_view head, std::string* problem) {
    pending_ = HttpRequest{};
    body_length_ = 0;
    bool first = true;
    bool have_length = false;
    while (!head.empty()) {
      const std::size_t nl = head.find('\n');
      std::string_view line = head.substr(0, nl);
      head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (first) {
        first = false;
        const std::size_t sp1 = line.find(' ');
        const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
        if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
          *problem = "malformed request line";
          return 400;
        }
        pending_.method = std::string(line.substr(0, sp1));
        pending_.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        const std::string_view version = line.substr(sp2 + 1);
        if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." ||
            !std::isdigit(static_cast<unsigned char>(version[7])) || pending_.method.empty() ||
            pending_.target.empty()) {
          *problem = "malformed request line";
          return 400;
        }
        pending_.version_minor = version[7] - '0';
        std::string_view target = pending_.target;
        if (target.substr(0, 7) == "http://") {  // absolute form: keep the path
          const std::size_t slash = target.find('/', 7);
          target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        }
        const std::size_t q = target.find('?');
        pending_.path = std::string(target.substr(0, q));
        if (q != std::string_view::npos) pending_.query = std::string(target.substr(q + 1));
        continue;
      }
      const std::size_t colon = line.find(':');
      if (line.empty() || line.front() == ' ' || line.front() == '\t' || colon == 0 ||
          colon == std::string_view::npos) {
        *problem = "malformed header line";
        return 400;
      }
      std::string name = lower(line.substr(0, colon));
      if (name.find_first_of(" \t") != std::string::npos) {
        *problem = "malformed header name";
        return 400;
      }
      std::string value(trim(line.substr(colon + 1)));
      if (name == "content-length") {
        std::size_t length = 0;
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
        if (ec != std::errc() || ptr != value.data() + value.size() || value.empty() ||
            (have_length && length != body_length_)) {
          *problem = "bad Content-Length";
          return 400;
        }
        if (length > kMaxBody) {
          *problem = "request body too large";
          return 413;
        }
        have_length = true;
        body_length_ = length;
      } else if (name == "transfer-encoding") {
        *problem = "chunked request bodies are not supported by fake-ollama";
        return 501;
      }
      pending_.headers.emplace_back(std::move(name), std::move(value));
    }
    return 0;
  }

  // Answers a request we cannot serve, then closes the connection.
  void reject(int status, std::string_view message) {
    const std::string body = error_json(message);
    const std::size_t length = body.size();
    write(head_block(status, "application/json; charset=utf-8", &length, true) + body, 0, true);
    close_after_flush(Outcome::ServerClosed);
  }

  void dispatch() {
    HttpRequest request = std::move(pending_);
    pending_ = HttpRequest{};
    const std::string* connection = request.header("connection");
    const bool keep_alive =
        request.version_minor >= 1 && (connection == nullptr || !has_token(*connection, "close"));
    exchange_ = std::make_unique<Exchange>(*this, server_.next_exchange_id_++, std::move(request),
                                           keep_alive);
    Exchange& ex = *exchange_;  // stays alive until reaped, even if it ends inside start()
    std::unique_ptr<Responder> responder;
    if (server_.handler_) responder = server_.handler_(ex.request_data);
    if (!responder)
      responder =
          make_simple_responder(500, "application/json; charset=utf-8", error_json("no handler"));
    ex.responder = std::move(responder);
    ex.responder->start(ex);
  }

  HttpServer& server_;
  UvHandle<uv_tcp_t> tcp_;
  std::vector<char> buffer_ = std::vector<char>(kReadBuffer);
  std::string in_;  // received, not yet consumed
  HttpRequest pending_;
  bool head_done_ = false;
  std::size_t body_length_ = 0;
  std::unique_ptr<Exchange> exchange_;
  std::vector<Write*> in_flight_;
  bool closed_ = false;
  bool close_after_flush_ = false;
  Outcome flush_outcome_ = Outcome::ServerClosed;
};

void HttpServer::Exchange::respond(int status, std::string_view content_type,
                                   std::string_view body) {
  if (open()) connection->respond(*this, status, content_type, body);
}
void HttpServer::Exchange::begin_chunked(int status, std::string_view content_type) {
  if (open()) connection->begin_chunked(*this, status, content_type);
}
void HttpServer::Exchange::write_chunk(std::string_view data) {
  if (open()) connection->write_chunk(*this, data);
}
void HttpServer::Exchange::end_chunked() {
  if (open()) connection->end_chunked(*this);
}
void HttpServer::Exchange::drop() {
  if (open()) connection->drop(*this);
}
std::size_t HttpServer::Exchange::queued_bytes() const {
  return connection != nullptr ? connection->queued_bytes() : 0;
}
bool HttpServer::Exchange::open() const {
  return accepting && connection != nullptr && !connection->closed();
}

HttpServer::HttpServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {
  reaper_ = UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  if (reaper_.ok()) reaper_.get()->data = this;
}

HttpServer::~HttpServer() {
  close();
}

int HttpServer::listen(const std::string& host, int port) {
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) rc = uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
  if (rc != 0) return rc;
  listener_ = UvHandle<uv_tcp_t>([this](uv_tcp_t* t) { return uv_tcp_init(loop_, t); });
  if (!listener_.ok()) return listener_.status();
  listener_.get()->data = this;
  rc = uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(listener_.stream(), 128, [](uv_stream_t* s, int status) {
      if (auto* self = static_cast<HttpServer*>(s->data)) self->on_connection(status);
    });
  if (rc != 0) {
    listener_.close();
    return rc;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  rc = uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  if (rc != 0) return rc;
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return 0;
}

void HttpServer::on_connection(int status) {
  if (status < 0 || closed_) return;
  UvHandle<uv_tcp_t> tcp([this](uv_tcp_t* t) { return uv_tcp_init(loop_, t); });
  if (!tcp.ok()) return;
  if (uv_accept(listener_.stream(), tcp.stream()) != 0) return;
  uv_tcp_nodelay(tcp.get(), 1);  // every chunk leaves at once, as Ollama's flushes do
  auto connection = std::make_unique<Connection>(*this, std::move(tcp));
  Connection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  if (on_accept_) on_accept_();
  if (raw->start() != 0) raw->shut(Outcome::ClientGone);
}

void HttpServer::retire(Connection* connection) {
  const auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  dead_connections_.push_back(std::move(it->second));
  connections_.erase(it);
  schedule_reap();
}

void HttpServer::retire(std::unique_ptr<Exchange> exchange) {
  dead_exchanges_.push_back(std::move(exchange));
  schedule_reap();
}

void HttpServer::schedule_reap() {
  if (closed_ || !reaper_.ok()) return;  // close() reaps by itself
  uv_timer_start(
      reaper_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<HttpServer*>(t->data)) self->reap();
      },
      0, 0);
}

void HttpServer::reap() {
  // Destroying these never retires anything else, but keep the loops independent anyway.
  std::vector<std::unique_ptr<Exchange>> exchanges;
  exchanges.swap(dead_exchanges_);
  exchanges.clear();
  std::vector<std::unique_ptr<Connection>> connections;
  connections.swap(dead_connections_);
  connections.clear();
}

void HttpServer::close() {
  if (closed_) return;
  closed_ = true;
  listener_.close();
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (const auto& entry : connections_)
    open.push_back(entry.first);
  for (Connection* connection : open)
    connection->shut(Outcome::ServerClosed);
  reap();
  reaper_.close();
}

}  // namespace fake_ollama
