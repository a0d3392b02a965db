#pragma once
// Ollama's answers in the protocol's shapes: /api/tags as models/list's result, /api/show as
// models/show's, /api/version as provider/version's. A field of the wrong type gives nullopt and
// `problem` naming it, except in a tags entry: that entry is left out (and logged).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace quill::ollama {

std::optional<nlohmann::json> shape_tags(const nlohmann::json& tags, std::string* problem);
std::optional<nlohmann::json> shape_show(const std::string& model, const nlohmann::json& show,
                                         std::string* problem);
// /api/ps as models/running's result: {models: [{name, contextLength?, sizeVram?, expiresAt?}]}.
// An entry with a field of the wrong type is left out (and logged).
std::optional<nlohmann::json> shape_ps(const nlohmann::json& ps, std::string* problem);
std::optional<nlohmann::json> shape_version(const std::string& host, const nlohmann::json& version,
                                            std::string* problem);

}  // namespace quill::ollama
