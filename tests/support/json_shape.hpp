#pragma once
// "Shape" of a protocol example: every key of the example is present in the actual message with
// the same JSON type, recursively; arrays compare their first elements; keys listed as optional
// (dotted paths, "[]" for an array element) may be absent. Integers and fractions are both
// "number", as Lua cannot tell them apart.

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace quill::test {

// Empty when `actual` has the shape of `example`; otherwise one line per mismatch.
std::vector<std::string> shape_mismatches(const nlohmann::json& example,
                                          const nlohmann::json& actual,
                                          const std::set<std::string>& optional_paths = {});

// Loads protocol/examples/<name>.
nlohmann::json load_example(const std::string& name);
// The optional key paths for one example (from protocol/examples/optional-keys.json).
std::set<std::string> optional_keys(const std::string& name);

}  // namespace quill::test
