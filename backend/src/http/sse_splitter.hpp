#pragma once
// Server-sent events framing (the HTML living standard's event stream): bytes in arbitrary
// pieces -> the data of each event. `data:` lines are joined with '\n'; a blank line ends an
// event; comments (`:` lines, keep-alives), `event:`, `id:` and `retry:` are skipped; lines end
// in "\n" or "\r\n". An event whose blank line never came is delivered by finish() at the end of
// the body. Pure, so it is tested over every byte boundary.

#include <cstddef>
#include <string>
#include <string_view>

#include "http/line_splitter.hpp"

namespace quill::http {

class SseSplitter {
 public:
  // One event's data, like one NDJSON line, may carry a whole file in a tool call.
  static constexpr std::size_t kMaxEvent = LineSplitter::kMaxLine;

  // max_event: the most bytes of one event's data, and of one line.
  explicit SseSplitter(std::size_t max_event = kMaxEvent)
      : max_event_(max_event), lines_(max_event + kFieldRoom) {}

  // Calls on_event(std::string_view data) for each complete event that has data; false if a line
  // or an event exceeded the limit.
  template <typename OnEvent>
  bool feed(std::string_view bytes, OnEvent&& on_event) {
    bool fits = true;
    const bool lines_fit = lines_.feed(bytes, [&](std::string_view line) {
      if (fits) fits = on_line(line, on_event);
    });
    return lines_fit && fits;
  }

  // The end of the body: delivers an event still waiting for its blank line (a last line without
  // its '\n' too). False if it exceeded the limit.
  template <typename OnEvent>
  bool finish(OnEvent&& on_event) {
    bool fits = true;
    if (!lines_.rest().empty()) {
      const std::string last(lines_.rest());
      fits = on_line(last, on_event);
    }
    if (fits && has_data_) dispatch(on_event);
    return fits;
  }

  // True while an event has begun but not ended (the body stopped in the middle of one).
  bool in_event() const { return has_data_ || !lines_.rest().empty(); }

 private:
  template <typename OnEvent>
  bool on_line(std::string_view line, OnEvent& on_event) {
    if (line.empty()) {
      if (has_data_) dispatch(on_event);
      return true;
    }
    if (line.front() == ':') return true;  // a comment: keep-alive
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    if (field != "data") return true;  // event, id, retry and unknown fields
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (has_data_) {
      if (data_.size() + 1 + value.size() > max_event_) return false;
      data_ += '\n';
    } else if (value.size() > max_event_) {
      return false;
    }
    data_.append(value);
    has_data_ = true;
    return true;
  }

  template <typename OnEvent>
  void dispatch(OnEvent& on_event) {
    has_data_ = false;
    on_event(std::string_view(data_));
    data_.clear();
  }

  static constexpr std::size_t kFieldRoom = 64;  // a line holds "data: " before the data
  std::size_t max_event_;
  LineSplitter lines_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace quill::http
