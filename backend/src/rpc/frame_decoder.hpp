#pragma once
// LSP base framing, decoding side: bytes in any split -> complete message bodies.
// Pure (no I/O), so it is tested over every byte boundary and fuzzed.
//
// Policy for bad input: bytes that do not start a header, a header block without a valid
// Content-Length, or a header section longer than the header limit yield one Error, and the
// decoder resynchronises by discarding bytes up to the next "Content-Length:" it sees; further
// garbage before the next good frame yields no more errors. A Content-Length above the body
// limit yields an Error and its body bytes are skipped as they arrive, never stored.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace quill::rpc {

inline constexpr std::size_t kDefaultMaxBody = 64 * 1024 * 1024;
inline constexpr std::size_t kDefaultMaxHeader = 8 * 1024;

struct DecodedFrame {
  enum class Kind { Body, Error };
  Kind kind;
  std::string text;  // the body, or the error description

  bool is_body() const { return kind == Kind::Body; }
};

class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_body = kDefaultMaxBody,
                        std::size_t max_header = kDefaultMaxHeader)
      : max_body_(max_body), max_header_(max_header) {}

  void feed(std::string_view bytes);
  // The next complete body or error, or nullopt until more bytes arrive.
  std::optional<DecodedFrame> next();
  // Bytes held waiting for the rest of a frame.
  std::size_t buffered() const { return buffer_.size() - start_; }

 private:
  enum class State { Header, Body, Skip, Resync };

  std::optional<DecodedFrame> parse_header(std::size_t header_end);
  std::optional<DecodedFrame> reject(std::string problem);
  void resync();
  void consume(std::size_t n);

  std::size_t max_body_;
  std::size_t max_header_;
  State state_ = State::Header;
  std::string buffer_;
  std::size_t start_ = 0;     // first unconsumed byte of buffer_
  std::size_t scanned_ = 0;   // bytes after start_ already searched for the header end
  std::size_t body_len_ = 0;  // Body: expected length; Skip: bytes still to discard
  bool in_error_ = false;     // rejected bytes since the last good frame
};

// Frames one body: "Content-Length: N\r\n\r\n" + body.
std::string encode_frame(std::string_view body);

}  // namespace quill::rpc
