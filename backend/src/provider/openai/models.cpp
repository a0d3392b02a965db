#include "provider/openai/models.hpp"

#include "util/json_access.hpp"
#include "util/log.hpp"

namespace quill::openai {

using nlohmann::json;

std::optional<json> shape_models(const json& answer, std::string* problem) {
  util::JsonReader reader(answer);
  const json* entries = reader.array("data");
  if (!reader.ok()) {
    *problem = reader.problem();
    return std::nullopt;
  }
  json models = json::array();
  if (entries == nullptr) return json{{"models", std::move(models)}};
  for (std::size_t i = 0; i < entries->size(); ++i) {
    util::JsonReader entry((*entries)[i], "data[" + std::to_string(i) + "]");
    const auto id = entry.required_string("id");
    if (!entry.ok() || id->empty()) {
      QLOG(Warn) << "/models: an entry left out: "
                 << (entry.ok() ? "data[" + std::to_string(i) + "].id is empty" : entry.problem());
      continue;
    }
    models.push_back({{"name", *id}, {"size", 0}, {"modifiedAt", ""}});
  }
  return json{{"models", std::move(models)}};
}

}  // namespace quill::openai
