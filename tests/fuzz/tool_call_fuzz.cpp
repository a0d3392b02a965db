// Fuzz target: the tool calls of a model's round, arguments of any shape. Each call must become
// either an editor request the editor knows or a problem the model is told about, never a crash;
// and the round's messages must still make the next round's body (fuzz_support.hpp).
//
// Input: what the model streamed as message.tool_calls: one call object
// ({"id":…,"function":{"name":…,"arguments":…}}) or an array of them. Any object goes on, even
// one the chunk decoder would refuse: every step must stand on its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  quill::fuzz::quiet_logs();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The chunk decoder hands on objects only.
  const auto parsed = nlohmann::json::parse(input, nullptr, false);
  std::vector<std::string> raw_calls;
  if (parsed.is_object()) {
    raw_calls.emplace_back(input);
  } else if (parsed.is_array()) {
    for (const auto& call : parsed) {
      if (call.is_object()) raw_calls.push_back(call.dump());
    }
  } else {
    return 0;
  }
  quill::fuzz::run_round_end("", "", quill::fuzz::typed_calls(raw_calls));
  return 0;
}
