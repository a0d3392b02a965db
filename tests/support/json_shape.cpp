#include "json_shape.hpp"

#include <fstream>
#include <stdexcept>

namespace quill::test {
namespace {

using nlohmann::json;

std::string type_name(const json& j) {
  if (j.is_number()) return "number";
  return j.type_name();
}

void compare(const json& example, const json& actual, const std::string& path,
             const std::set<std::string>& optional, std::vector<std::string>* out) {
  if (type_name(example) != type_name(actual)) {
    out->push_back((path.empty() ? "<root>" : path) + ": expected " + type_name(example) +
                   ", got " + type_name(actual));
    return;
  }
  if (example.is_object()) {
    for (const auto& [key, value] : example.items()) {
      const std::string child = path.empty() ? key : path + "." + key;
      if (!actual.contains(key)) {
        if (!optional.contains(child)) out->push_back(child + ": missing");
        continue;
      }
      compare(value, actual[key], child, optional, out);
    }
  } else if (example.is_array() && !example.empty() && !actual.empty()) {
    compare(example.front(), actual.front(), path + "[]", optional, out);
  }
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return json::parse(in);
}

}  // namespace

std::vector<std::string> shape_mismatches(const json& example, const json& actual,
                                          const std::set<std::string>& optional_paths) {
  std::vector<std::string> out;
  compare(example, actual, "", optional_paths, &out);
  return out;
}

json load_example(const std::string& name) {
  return read_json(std::string(QUILL_PROTOCOL_DIR) + "/examples/" + name);
}

std::set<std::string> optional_keys(const std::string& name) {
  const json all = read_json(std::string(QUILL_PROTOCOL_DIR) + "/examples/optional-keys.json");
  std::set<std::string> out;
  if (auto it = all.find(name); it != all.end()) {
    for (const auto& p : *it)
      out.insert(p.get<std::string>());
  }
  return out;
}

}  // namespace quill::test
