#pragma once
// A minimal HTTP/1.1 server on one libuv loop, for tests: request line + headers + a
// Content-Length body (bytes may arrive split anywhere), `Expect: 100-continue`, keep-alive
// (one request at a time per connection, `Connection: close` honoured), and responses either
// whole (Content-Length) or streamed (chunked, one uv_write per chunk).
//
// Ownership: the server owns its listener and its connections; a connection owns its socket and
// the exchange (request + responder) in progress. Whatever ends (a connection, an exchange) is
// moved to a graveyard and destroyed on a fresh loop turn, so no object is ever freed while one
// of its own methods is on the stack. Every libuv handle sits in a UvHandle.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "uv/handle.hpp"

namespace fake_ollama {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent
  std::string path;    // target without the query
  std::string query;   // after '?', undecoded
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // First header named `name` (lower case), or nullptr.
  const std::string* header(std::string_view name) const;
};

// How an exchange ended; reported exactly once to its responder.
enum class Outcome {
  Completed,     // the last byte of the response was written
  ClientGone,    // the client closed or reset the connection first (read EOF/error, write error)
  ServerClosed,  // the server closed the connection on purpose (drop) or shut down
};
std::string_view outcome_name(Outcome outcome);

// The response side of one exchange. Calls after the exchange ended are ignored.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual const HttpRequest& request() const = 0;
  // Whole response with Content-Length in one write; the exchange completes once it is written.
  virtual void respond(int status, std::string_view content_type, std::string_view body) = 0;
  // Status line and headers of a chunked response.
  virtual void begin_chunked(int status, std::string_view content_type) = 0;
  // One HTTP chunk, in its own uv_write (empty data is skipped: it would end the body).
  virtual void write_chunk(std::string_view data) = 0;
  // The terminating chunk; the exchange completes once it is written.
  virtual void end_chunked() = 0;
  // Closes the connection once everything queued was written, without ending the body.
  virtual void drop() = 0;
  // Bytes handed to libuv that the kernel has not taken yet.
  virtual std::size_t queued_bytes() const = 0;
  virtual bool open() const = 0;
};

// Produces one response. Owned by the connection for the duration of the exchange.
class Responder {
 public:
  virtual ~Responder() = default;
  // `out` stays valid until finished() (and is inert afterwards).
  virtual void start(ResponseWriter& out) = 0;
  // A write of this exchange completed: room to write more.
  virtual void writable() {}
  // Exactly once, when the exchange is over.
  virtual void finished(Outcome /*outcome*/) {}
};

// A responder that sends one whole response, then calls `on_done` (if any) with the outcome.
std::unique_ptr<Responder> make_simple_responder(int status, std::string content_type,
                                                 std::string body,
                                                 std::function<void(Outcome)> on_done = {});

std::string_view reason_phrase(int status);

class HttpServer {
 public:
  // Called once per complete request; returns who answers it (nullptr → 500).
  using Handler = std::function<std::unique_ptr<Responder>(const HttpRequest&)>;

  HttpServer(uv_loop_t* loop, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `host` (IPv4 or IPv6 literal) and `port` (0 = ephemeral) and listens. 0 or a uv error.
  int listen(const std::string& host, int port);
  int port() const { return port_; }
  void set_on_accept(std::function<void()> on_accept) { on_accept_ = std::move(on_accept); }
  // Stops listening and closes every connection; exchanges in progress end as ServerClosed.
  void close();

 private:
  class Connection;
  class Exchange;
  friend class Connection;
  friend class Exchange;

  void on_connection(int status);
  void retire(Connection* connection);
  void retire(std::unique_ptr<Exchange> exchange);
  void schedule_reap();
  void reap();

  uv_loop_t* loop_;
  Handler handler_;
  std::function<void()> on_accept_;
  quill::uv::UvHandle<uv_tcp_t> listener_;
  quill::uv::UvHandle<uv_timer_t> reaper_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> dead_connections_;
  std::vector<std::unique_ptr<Exchange>> dead_exchanges_;
  std::uint64_t next_exchange_id_ = 1;
  int port_ = 0;
  bool closed_ = false;
};

}  // namespace fake_ollama
