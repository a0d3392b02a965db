#include "provider/ollama/models.hpp"

#include "util/json_access.hpp"
#include "util/log.hpp"

namespace quill::ollama {
namespace {

using nlohmann::json;

// One /api/tags entry (at `where`) as a Model; nullopt, and `problem`, when it has a field of the
// wrong type.
std::optional<json> shape_model(const json& entry, const std::string& where, std::string* problem) {
  util::JsonReader m(entry, where);
  const auto name = m.required_string("name");
  const auto size = m.count("size");
  const auto modified_at = m.string("modified_at");
  const auto capabilities = m.strings("capabilities");
  std::optional<std::int64_t> context_length;
  if (const json* details = m.object("details")) {
    util::JsonReader d(*details, m.path("details"));
    context_length = d.integer("context_length");
    m.fail(d.problem());
  }
  if (!m.ok()) {
    *problem = m.problem();
    return std::nullopt;
  }
  json out = {
      {"name", *name}, {"size", size.value_or(0)}, {"modifiedAt", modified_at.value_or("")}};
  if (capabilities) out["capabilities"] = *capabilities;
  if (context_length) out["contextLength"] = *context_length;
  return out;
}

}  // namespace

std::optional<json> shape_tags(const json& tags, std::string* problem) {
  util::JsonReader answer(tags);
  const json* entries = answer.array("models");
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  json models = json::array();
  if (entries == nullptr) return json{{"models", std::move(models)}};
  for (std::size_t i = 0; i < entries->size(); ++i) {
    // One odd entry must not hide the others: it is left out, and logged.
    std::string bad;
    if (auto model = shape_model((*entries)[i], "models[" + std::to_string(i) + "]", &bad)) {
      models.push_back(std::move(*model));
    } else {
      QLOG(Warn) << "/api/tags: an entry left out: " << bad;
    }
  }
  return json{{"models", std::move(models)}};
}

std::optional<json> shape_show(const std::string& model, const json& show, std::string* problem) {
  util::JsonReader answer(show);
  const auto capabilities = answer.strings("capabilities");
  std::optional<std::int64_t> context_length;
  if (const json* info = answer.object("model_info")) {
    util::JsonReader fields(*info, "model_info");
    if (const auto arch = fields.string("general.architecture"); arch && !arch->empty())
      context_length = fields.integer(*arch + ".context_length");
    answer.fail(fields.problem());
  }
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  json out = {{"model", model},
              {"capabilities", capabilities.value_or(std::vector<std::string>{})}};
  if (context_length) out["contextLength"] = *context_length;
  return out;
}

std::optional<json> shape_version(const std::string& host, const json& version,
                                  std::string* problem) {
  util::JsonReader answer(version);
  const auto text = answer.string("version");
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  return json{{"version", text.value_or("")}, {"host", host}};
}

std::optional<json> shape_ps(const json& ps, std::string* problem) {
  util::JsonReader answer(ps);
  const json* entries = answer.array("models");
  if (!answer.ok()) {
    *problem = answer.problem();
    return std::nullopt;
  }
  json models = json::array();
  for (std::size_t i = 0; entries != nullptr && i < entries->size(); ++i) {
    util::JsonReader m((*entries)[i], "models[" + std::to_string(i) + "]");
    const auto name = m.required_string("name");
    const auto context = m.integer("context_length");
    const auto vram = m.count("size_vram");
    const auto expires = m.string("expires_at");
    if (!m.ok()) {
      QLOG(Warn) << "/api/ps: an entry left out: " << m.problem();
      continue;
    }
    json out = {{"name", *name}};
    if (context && *context > 0) out["contextLength"] = *context;
    if (vram) out["sizeVram"] = *vram;
    if (expires) out["expiresAt"] = *expires;
    models.push_back(std::move(out));
  }
  return json{{"models", std::move(models)}};
}

}  // namespace quill::ollama
