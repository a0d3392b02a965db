// Fuzz target: the framing decoder must never crash, never hand out a body longer than its
// limit, never hold more than a bounded amount of garbage, and decode the same frames whichever
// way the input is split.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "rpc/frame_decoder.hpp"

namespace {

constexpr std::size_t kMaxBody = 4096;
constexpr std::size_t kMaxHeader = 256;

std::vector<quill::rpc::DecodedFrame> decode(std::string_view input, std::size_t step) {
  quill::rpc::FrameDecoder decoder(kMaxBody, kMaxHeader);
  std::vector<quill::rpc::DecodedFrame> out;
  for (std::size_t pos = 0; pos < input.size(); pos += step) {
    decoder.feed(input.substr(pos, step));
    while (auto frame = decoder.next()) {
      if (frame->is_body() && frame->text.size() > kMaxBody) std::abort();
      out.push_back(std::move(*frame));
    }
    // Waiting for a body may hold up to the body limit plus one header; nothing more.
    if (decoder.buffered() > kMaxBody + kMaxHeader + 64) std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto whole = decode(input, input.empty() ? 1 : input.size());
  const auto bytewise = decode(input, 1);
  std::vector<std::string> whole_bodies;
  std::vector<std::string> byte_bodies;
  for (const auto& f : whole) {
    if (f.is_body()) whole_bodies.push_back(f.text);
  }
  for (const auto& f : bytewise) {
    if (f.is_body()) byte_bodies.push_back(f.text);
  }
  if (whole_bodies != byte_bodies) std::abort();
  return 0;
}
