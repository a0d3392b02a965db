#pragma once
// Typed reads of JSON from outside (the server, the model, the editor). nlohmann's value(),
// get<T>() and operator[] throw, or abort, on a value of the wrong type; these never do.
// The rule everywhere: a member that is absent or null is "not given" (the caller picks the
// default); a member of another type is a problem, named by its path ("function.name is not a
// string"). A JsonReader keeps the first problem and reads nothing after it.

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quill::util {

// The member `key` of `value`: nullptr when `value` is not an object, or the member is absent
// or null.
inline const nlohmann::json* member(const nlohmann::json& value, std::string_view key) {
  if (!value.is_object()) return nullptr;
  const auto it = value.find(key);
  if (it == value.end() || it->is_null()) return nullptr;
  return &*it;
}

class JsonReader {
 public:
  using json = nlohmann::json;

  // `where` is the path of `value` itself, the prefix of every problem ("" at the top).
  explicit JsonReader(const json& value, std::string where = "")
      : value_(value), where_(std::move(where)) {
    if (!value_.is_object())
      problem_ = (where_.empty() ? "the answer" : where_) + " is not an object";
  }
  JsonReader(json&&, std::string = "") = delete;  // it keeps a reference

  bool ok() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  // The path of a member, for a reader of a nested object.
  std::string path(std::string_view key) const {
    return where_.empty() ? std::string(key) : where_ + "." + std::string(key);
  }
  // Records a problem of the caller's own (the first one wins).
  void fail(const std::string& problem) {
    if (problem_.empty()) problem_ = problem;
  }

  std::optional<std::string> string(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return wrong(key, "a string");
    return v->get<std::string>();
  }

  std::optional<bool> boolean(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) return wrong(key, "a boolean");
    return v->get<bool>();
  }

  // A JSON integer that fits in int64 (5.0 is not one).
  std::optional<std::int64_t> integer(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_unsigned() &&
        v->get<std::uint64_t>() <=
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return static_cast<std::int64_t>(v->get<std::uint64_t>());
    if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<std::int64_t>();
    return wrong(key, "an integer");
  }

  // A non-negative JSON integer (a size, a count).
  std::optional<std::uint64_t> count(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_unsigned()) return v->get<std::uint64_t>();
    if (v->is_number_integer() && v->get<std::int64_t>() >= 0)
      return static_cast<std::uint64_t>(v->get<std::int64_t>());
    return wrong(key, "a non-negative integer");
  }

  // An array whose every element is a string.
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) return wrong(key, "an array of strings");
    std::vector<std::string> out;
    out.reserve(v->size());
    for (const json& item : *v) {
      if (!item.is_string()) return wrong(key, "an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // Containers and free-form values, by pointer into the document (nullptr when not given).
  const json* object(std::string_view key) { return of_type(key, json::value_t::object); }
  const json* array(std::string_view key) { return of_type(key, json::value_t::array); }
  const json* any(std::string_view key) { return find(key); }

  // Members that must be given: absent or null is a problem too.
  std::optional<std::string> required_string(std::string_view key) {
    auto out = string(key);
    if (!out) missing(key);
    return out;
  }
  const json* required_object(std::string_view key) {
    const json* out = object(key);
    if (out == nullptr) missing(key);
    return out;
  }

 private:
  const json* find(std::string_view key) const {
    if (!ok()) return nullptr;
    return member(value_, key);
  }
  const json* of_type(std::string_view key, json::value_t type) {
    const json* v = find(key);
    if (v == nullptr || v->type() == type) return v;
    wrong(key, type == json::value_t::object ? "an object" : "an array");
    return nullptr;
  }
  std::nullopt_t wrong(std::string_view key, const char* what) {
    fail(path(key) + " is not " + what);
    return std::nullopt;
  }
  void missing(std::string_view key) { fail(path(key) + " is missing"); }

  const json& value_;
  std::string where_;
  std::string problem_;
};

}  // namespace quill::util
