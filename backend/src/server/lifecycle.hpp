#pragma once
// The session lifecycle: initialize, settings/update, shutdown, exit, and the gate that refuses
// requests before initialize and after shutdown. Holds the settings the editor sent.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "provider/settings.hpp"
#include "rpc/peer.hpp"

namespace quill::server {

struct SessionSettings {
  std::string client_name;
  std::string client_version;
  std::string workspace_root;
  provider::Endpoints endpoints;  // replaced whole by settings/update
};

// Decodes `initialize` params; the error names the offending field.
std::optional<SessionSettings> parse_initialize(const rpc::json& params, std::string* error);

class Lifecycle {
 public:
  // `exit` is asked to end the process with the given code; `wind_down` ends running work
  // before `shutdown` is answered.
  Lifecycle(rpc::Peer& peer, std::function<void(int code)> exit,
            std::function<void()> wind_down = {});

  bool initialized() const { return settings_.has_value(); }
  bool shutting_down() const { return shutdown_; }
  const SessionSettings& settings() const { return *settings_; }

 private:
  rpc::Peer& peer_;
  std::function<void(int)> exit_;
  std::function<void()> wind_down_;
  std::optional<SessionSettings> settings_;
  bool shutdown_ = false;
};

}  // namespace quill::server
