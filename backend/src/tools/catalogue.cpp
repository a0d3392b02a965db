#include "tools/catalogue.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "util/json_access.hpp"

namespace quill::tools {
namespace {

using std::chrono::milliseconds;

json function(const char* name, const char* description, json properties,
              std::vector<std::string> required) {
  return {
      {"type", "function"},
      {"function",
       {{"name", name},
        {"description", description},
        {"parameters",
         {{"type", "object"}, {"properties", std::move(properties)}, {"required", required}}}}}};
}

json build_schemas() {
  return json::array({
      function(
          "read_file",
          "Read a text file of the workspace (unsaved editor changes included). Paths are "
          "relative to the workspace root. Optionally only lines start_line..end_line "
          "(1-based, inclusive).",
          {{"path",
            {{"type", "string"}, {"description", "file path, relative to the workspace root"}}},
           {"start_line", {{"type", "integer"}, {"description", "first line to read, 1-based"}}},
           {"end_line", {{"type", "integer"}, {"description", "last line to read, inclusive"}}}},
          {"path"}),
      function("list_files",
               "List the files of the workspace, optionally only those matching a glob pattern "
               "(* and ? within a path segment, ** across segments), e.g. src/**/*.cpp.",
               {{"pattern",
                 {{"type", "string"}, {"description", "glob relative to the workspace root"}}}},
               {}),
      function(
          "edit_file",
          "Replace old_text with new_text in a file. old_text must appear exactly once: "
          "include enough surrounding lines to make it unique. The user reviews the edit.",
          {{"path",
            {{"type", "string"}, {"description", "file path, relative to the workspace root"}}},
           {"old_text", {{"type", "string"}, {"description", "the exact text to replace"}}},
           {"new_text", {{"type", "string"}, {"description", "the replacement text"}}}},
          {"path", "old_text", "new_text"}),
      function(
          "create_file",
          "Create a new file with the given content. Fails if the file exists. The user "
          "reviews it.",
          {{"path",
            {{"type", "string"}, {"description", "file path, relative to the workspace root"}}},
           {"content", {{"type", "string"}, {"description", "the whole content of the file"}}}},
          {"path", "content"}),
  });
}

// A string argument; models sometimes send numbers as strings and vice versa, which is fine.
std::optional<std::string> string_arg(const json& args, const char* key) {
  const auto it = args.find(key);
  if (it == args.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Above any real file's line count, and far from the edges of the integer types.
constexpr long long kMaxLine = 1'000'000'000'000LL;

// A line number as the model wrote it: an integer, a float without a fraction (12.0) or a string
// of digits ("12"); nullopt for anything else, and for values past kMaxLine.
std::optional<long long> line_number(const json& value) {
  if (value.is_number_unsigned())
    return value.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxLine)
               ? std::optional<long long>(static_cast<long long>(value.get<std::uint64_t>()))
               : std::nullopt;
  if (value.is_number_integer()) return value.get<long long>();  // negative: refused by the caller
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // The range check comes first: casting an out-of-range double is undefined behaviour.
    if (!(d >= -static_cast<double>(kMaxLine) && d <= static_cast<double>(kMaxLine)) ||
        d != std::floor(d))
      return std::nullopt;
    return static_cast<long long>(d);
  }
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  long long n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || text[0] == '-' || text[0] == '+' || ec != std::errc() ||
      end != text.data() + text.size() || n > kMaxLine)
    return std::nullopt;
  return n;
}

// An optional positive line number; "12" is accepted as 12.
bool line_arg(const json& args, const char* key, json* out, std::string* problem) {
  const json* given = util::member(args, key);
  if (given == nullptr) return true;
  const std::optional<long long> value = line_number(*given);
  if (!value) {
    *problem = std::string(key) + " must be a line number";
    return false;
  }
  if (*value < 1) {
    *problem = std::string(key) + " must be 1 or more";
    return false;
  }
  *out = *value;
  return true;
}

std::string truncated_note(std::string text, bool truncated) {
  if (truncated) text += "\n[truncated]";
  return text;
}

// The tool message for an answer of the wrong shape: the call fails, the turn goes on.
Outcome malformed(const std::string& problem) {
  return {"failed", "the editor's answer was malformed: " + problem};
}

}  // namespace

const json& schemas() {
  static const json all = build_schemas();
  return all;
}

json schemas_of(const std::vector<std::string>& names) {
  json out = json::array();
  for (const json& tool : schemas()) {
    const std::string name = tool["function"]["name"];
    if (std::find(names.begin(), names.end(), name) != names.end()) out.push_back(tool);
  }
  return out;
}

std::vector<std::string> name_list() {
  return {"read_file", "list_files", "edit_file", "create_file"};
}

std::string names() {
  std::string out;
  for (const auto& name : name_list())
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

Mapped map_call(const std::string& chat_id, const std::string& name, const json& arguments) {
  const json args = arguments.is_object() ? arguments : json::object();
  if (!arguments.is_object() && !arguments.is_null()) {
    return {std::nullopt, "invalid arguments for " + name + ": expected a JSON object"};
  }
  auto need = [&](const char* key) -> std::optional<std::string> { return string_arg(args, key); };
  auto missing = [&](const char* key) {
    return Mapped{std::nullopt, "invalid arguments for " + name + ": " + key + " must be a string"};
  };
  json params = {{"chatId", chat_id}};
  if (name == "read_file") {
    const auto path = need("path");
    if (!path) return missing("path");
    params["path"] = *path;
    std::string problem;
    json start, end;
    if (!line_arg(args, "start_line", &start, &problem) ||
        !line_arg(args, "end_line", &end, &problem)) {
      return {std::nullopt, "invalid arguments for read_file: " + problem};
    }
    if (!start.is_null()) params["startLine"] = start;
    if (!end.is_null()) params["endLine"] = end;
    if (!start.is_null() && !end.is_null() && end.get<long long>() < start.get<long long>()) {
      return {std::nullopt, "invalid arguments for read_file: end_line is before start_line"};
    }
    return {EditorRequest{"editor/readFile", std::move(params), milliseconds(30000)}, ""};
  }
  if (name == "list_files") {
    if (const auto it = args.find("pattern"); it != args.end() && !it->is_null()) {
      if (!it->is_string()) return missing("pattern");
      if (!it->get<std::string>().empty()) params["pattern"] = *it;
    }
    return {EditorRequest{"editor/listFiles", std::move(params), milliseconds(30000)}, ""};
  }
  if (name == "edit_file") {
    const auto path = need("path");
    const auto old_text = need("old_text");
    const auto new_text = need("new_text");
    if (!path) return missing("path");
    if (!old_text) return missing("old_text");
    if (!new_text) return missing("new_text");
    if (old_text->empty()) {
      return {std::nullopt,
              "invalid arguments for edit_file: old_text must not be empty (use create_file for "
              "new files)"};
    }
    params["path"] = *path;
    params["oldText"] = *old_text;
    params["newText"] = *new_text;
    // The user may take a while to review the diff.
    return {EditorRequest{"editor/applyEdit", std::move(params), milliseconds(600000)}, ""};
  }
  if (name == "create_file") {
    const auto path = need("path");
    const auto content = need("content");
    if (!path) return missing("path");
    if (!content) return missing("content");
    params["path"] = *path;
    params["content"] = *content;
    return {EditorRequest{"editor/createFile", std::move(params), milliseconds(600000)}, ""};
  }
  return {std::nullopt, "unknown tool '" + name + "'; the available tools are " + names()};
}

Outcome outcome_of(const std::string& name, const rpc::Response& response) {
  if (!response.ok) {
    std::string message =
        response.error.message.empty() ? "the editor could not do it" : response.error.message;
    if (response.error.code == rpc::code::kRequestCancelled) message = "cancelled by the user";
    if (response.error.code == rpc::code::kRequestTimeout)
      message = "the editor did not answer in time";
    return {"failed", message};
  }
  util::JsonReader r(response.result);
  if (name == "read_file") {
    const auto content = r.string("content");
    const auto truncated = r.boolean("truncated");
    if (!r.ok()) return malformed(r.problem());
    return {"done", truncated_note(content.value_or(""), truncated.value_or(false))};
  }
  if (name == "list_files") {
    const auto files = r.strings("files");
    const auto truncated = r.boolean("truncated");
    if (!r.ok()) return malformed(r.problem());
    std::string text;
    for (const auto& f : files.value_or(std::vector<std::string>{})) {
      if (!text.empty()) text += "\n";
      text += f;
    }
    if (text.empty()) text = "(no files)";
    return {"done", truncated_note(text, truncated.value_or(false))};
  }
  const auto yes = r.boolean(name == "edit_file" ? "applied" : "created");
  const auto message = r.string("message");
  if (!r.ok()) return malformed(r.problem());
  const bool done = yes.value_or(false);
  return {done ? "done" : "rejected",
          message.value_or(done ? "done" : "the user rejected this change")};
}

}  // namespace quill::tools
