#pragma once
// GET {url}/models ({"object": "list", "data": [{"id", "owned_by"?, "created"?}]}) as
// models/list's result. An entry of the wrong shape is left out (and logged).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace quill::openai {

std::optional<nlohmann::json> shape_models(const nlohmann::json& answer, std::string* problem);

}  // namespace quill::openai
