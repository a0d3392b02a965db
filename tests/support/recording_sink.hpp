#pragma once
// A MessageSink that records what the peer sends, parsed, for assertions.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rpc/peer.hpp"

namespace quill::test {

class RecordingSink final : public rpc::MessageSink {
 public:
  void send(std::string body) override { sent.push_back(nlohmann::json::parse(body)); }
  nlohmann::json take_last() {
    nlohmann::json last = sent.empty() ? nlohmann::json() : sent.back();
    sent.clear();
    return last;
  }
  std::vector<nlohmann::json> sent;
};

}  // namespace quill::test
