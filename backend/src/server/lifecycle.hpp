#pragma once
// The session lifecycle: initialize, shutdown, exit, and the gate that refuses requests before
// initialize and after shutdown. Holds the settings the editor sent in `initialize`.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "rpc/peer.hpp"

namespace quill::server {

struct Timeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds first_byte{300000};  // model loading can take minutes
  std::chrono::milliseconds idle{60000};
};

struct SessionSettings {
  std::string client_name;
  std::string client_version;
  std::string workspace_root;
  std::optional<std::string> host;  // unset: OLLAMA_HOST or the default
  std::map<std::string, std::string> headers;
  Timeouts timeouts;
};

// Decodes `initialize` params; the error names the offending field.
std::optional<SessionSettings> parse_initialize(const rpc::json& params, std::string* error);

class Lifecycle {
 public:
  // `exit` is asked to end the process with the given code.
  Lifecycle(rpc::Peer& peer, std::function<void(int code)> exit);

  bool initialized() const { return settings_.has_value(); }
  bool shutting_down() const { return shutdown_; }
  const SessionSettings& settings() const { return *settings_; }

 private:
  rpc::Peer& peer_;
  std::function<void(int)> exit_;
  std::optional<SessionSettings> settings_;
  bool shutdown_ = false;
};

}  // namespace quill::server
