#pragma once
// The editor's endpoint configuration -> provider::Endpoints, checked. The same keys come in
// `initialize` and in `settings/update` (which replaces them whole, or not at all):
//   provider?:  {host?, headers?}             the Ollama endpoint named "ollama" (older editors)
//   endpoints?: {NAME: {kind?, url?, headers?, apiKeyEnv?}}
//   endpoint?:  NAME                          the default endpoint
//   timeouts?:  {connectMs?, firstByteMs?, idleMs?}   for every endpoint

#include <optional>
#include <string>

#include "provider/settings.hpp"
#include "rpc/peer.hpp"

namespace quill::server {

// nullopt and `error` naming the offending field ("endpoints.gpu.url: …").
std::optional<provider::Endpoints> parse_endpoints(const rpc::json& params, std::string* error);

// One line for the log: names, kinds and base URLs (never headers or keys).
std::string describe(const provider::Endpoints& endpoints);

}  // namespace quill::server
