#pragma once
// The tools offered to the model and how each call becomes an editor request: names,
// descriptions and JSON schemas (sent in /api/chat's `tools`), argument checking, and the
// editor's answer turned into the tool message the model reads. Knows nothing of HTTP.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rpc/message.hpp"

namespace quill::tools {

using nlohmann::json;

// The `tools` array of a chat request (both providers take this shape).
const json& schemas();
// Only the tools named in `names` (each one of name_list()), in the catalogue's order.
json schemas_of(const std::vector<std::string>& names);
// "read_file, list_files, edit_file, create_file".
std::string names();
std::vector<std::string> name_list();

struct EditorRequest {
  std::string method;  // editor/readFile, ...
  json params;
  std::chrono::milliseconds timeout;
};

// The editor request for a call, or the problem (for the model) with its name or arguments.
struct Mapped {
  std::optional<EditorRequest> request;
  std::string problem;
};
Mapped map_call(const std::string& chat_id, const std::string& name, const json& arguments);

// What came back, in chat/toolCall terms, and the tool message content for the model.
struct Outcome {
  std::string status;   // done, failed, rejected
  std::string content;  // the tool message
};
Outcome outcome_of(const std::string& name, const rpc::Response& response);

}  // namespace quill::tools
