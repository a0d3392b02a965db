#include "rpc/frame_decoder.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace quill::rpc {
namespace {

constexpr std::string_view kHeaderEnd = "\r\n\r\n";
constexpr std::string_view kLengthName = "content-length";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Position of "content-length:" (any case) in `s`, or npos.
std::size_t find_length_header(std::string_view s) {
  constexpr std::string_view needle = "content-length:";
  if (s.size() < needle.size()) return std::string_view::npos;
  for (std::size_t i = 0; i + needle.size() <= s.size(); ++i) {
    if ((s[i] == 'c' || s[i] == 'C') && iequals(s.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

// `s` with control bytes shown as '.', for error messages.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '.';
  }
  return out;
}

}  // namespace

void FrameDecoder::feed(std::string_view bytes) {
  if (state_ == State::Skip) {
    const std::size_t dropped = std::min(body_len_, bytes.size());
    body_len_ -= dropped;
    bytes.remove_prefix(dropped);
    if (body_len_ == 0) state_ = State::Header;
  }
  buffer_.append(bytes);
}

std::optional<DecodedFrame> FrameDecoder::next() {
  for (;;) {
    const std::string_view pending = std::string_view(buffer_).substr(start_);
    switch (state_) {
      case State::Skip:
        return std::nullopt;  // feed() discards the skipped bytes
      case State::Resync:
        resync();
        if (state_ == State::Resync) return std::nullopt;
        continue;
      case State::Body:
        if (pending.size() < body_len_) return std::nullopt;
        {
          DecodedFrame frame{DecodedFrame::Kind::Body, std::string(pending.substr(0, body_len_))};
          consume(body_len_);
          state_ = State::Header;
          in_error_ = false;
          return frame;
        }
      case State::Header: {
        if (!pending.empty() && !std::isalpha(static_cast<unsigned char>(pending.front()))) {
          // Header names start with a letter: this is not a frame (raw JSON, say). Say so now
          // rather than after the header limit.
          const std::string shown = printable(pending.substr(0, 40));
          if (auto error = reject("expected a header, got '" + shown + "'")) return error;
          continue;
        }
        // Only look at bytes not searched yet (keep 3 back: the terminator may straddle feeds).
        const std::size_t from = scanned_ >= 3 ? scanned_ - 3 : 0;
        const std::size_t end = pending.find(kHeaderEnd, from);
        // The header section, terminator included, may not exceed the limit; checked so that
        // the verdict is the same however the bytes were split.
        if (end == std::string_view::npos || end + kHeaderEnd.size() > max_header_) {
          scanned_ = pending.size();
          if (pending.size() >= max_header_) {
            if (auto error = reject("header section longer than " + std::to_string(max_header_) +
                                    " bytes without a blank line")) {
              return error;
            }
            continue;
          }
          return std::nullopt;
        }
        if (auto error = parse_header(end)) return error;
        continue;
      }
    }
  }
}

std::optional<DecodedFrame> FrameDecoder::parse_header(std::size_t header_end) {
  const std::string_view block = std::string_view(buffer_).substr(start_, header_end);
  std::optional<std::size_t> length;
  std::string problem;
  bool problem_line_is_length = false;
  std::size_t pos = 0;
  while (pos <= block.size() && problem.empty()) {
    std::size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    const std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      problem = "header line without ':'";
      break;
    }
    if (!iequals(trim(line.substr(0, colon)), kLengthName)) continue;  // other headers: ignored
    const std::string_view value = trim(line.substr(colon + 1));
    std::size_t parsed = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    problem_line_is_length = true;
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
      problem = ec == std::errc::result_out_of_range ? "Content-Length too large"
                                                     : "Content-Length is not a number";
    } else if (length && *length != parsed) {
      problem = "conflicting Content-Length headers";
    } else {
      length = parsed;
      problem_line_is_length = false;
    }
  }
  if (problem.empty() && !length) problem = "missing Content-Length header";

  if (!problem.empty()) {
    std::string message = problem + " in header '" + printable(block.substr(0, 80)) + "'";
    // A bad Content-Length condemns its whole block; a stray line may precede a good header.
    if (problem_line_is_length) consume(header_end + kHeaderEnd.size() - 1);
    return reject(std::move(message));
  }

  consume(header_end + kHeaderEnd.size());
  if (*length > max_body_) {
    // Drop what has already arrived of the body; feed() drops the rest.
    const std::size_t have = std::min(*length, buffered());
    consume(have);
    body_len_ = *length - have;
    state_ = body_len_ == 0 ? State::Header : State::Skip;
    return DecodedFrame{DecodedFrame::Kind::Error, "Content-Length " + std::to_string(*length) +
                                                       " exceeds the limit of " +
                                                       std::to_string(max_body_) + " bytes"};
  }
  body_len_ = *length;
  state_ = State::Body;
  return std::nullopt;
}

std::optional<DecodedFrame> FrameDecoder::reject(std::string problem) {
  consume(1);  // step past the rejected start so resync cannot land on it again
  state_ = State::Resync;
  resync();
  if (in_error_) return std::nullopt;  // one error per stretch of garbage
  in_error_ = true;
  return DecodedFrame{DecodedFrame::Kind::Error, std::move(problem)};
}

void FrameDecoder::resync() {
  const std::string_view pending = std::string_view(buffer_).substr(start_);
  const std::size_t at = find_length_header(pending);
  if (at != std::string_view::npos) {
    consume(at);
    state_ = State::Header;
    return;
  }
  // Keep a tail that may be the start of "Content-Length:" split across feeds.
  constexpr std::size_t keep = std::string_view("content-length:").size() - 1;
  if (pending.size() > keep) consume(pending.size() - keep);
}

void FrameDecoder::consume(std::size_t n) {
  start_ += n;
  scanned_ = 0;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 64 * 1024 && start_ > buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
}

std::string encode_frame(std::string_view body) {
  std::string out = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

}  // namespace quill::rpc
