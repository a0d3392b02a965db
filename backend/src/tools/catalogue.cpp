#include "tools/catalogue.hpp"

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

// An optional positive line number; "12" is accepted as 12.
bool line_arg(const json& args, const char* key, json* out, std::string* problem) {
  const auto it = args.find(key);
  if (it == args.end() || it->is_null()) return true;
  long long value = 0;
  if (it->is_number_integer()) {
    value = it->get<long long>();
  } else if (it->is_number_float() &&
             it->get<double>() == static_cast<long long>(it->get<double>())) {
    value = static_cast<long long>(it->get<double>());
  } else if (it->is_string() && !it->get<std::string>().empty() &&
             it->get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
    value = std::stoll(it->get<std::string>());
  } else {
    *problem = std::string(key) + " must be a line number";
    return false;
  }
  if (value < 1) {
    *problem = std::string(key) + " must be 1 or more";
    return false;
  }
  *out = value;
  return true;
}

std::string truncated_note(std::string text, const json& result) {
  if (result.value("truncated", false)) text += "\n[truncated]";
  return text;
}

}  // namespace

const json& schemas() {
  static const json all = build_schemas();
  return all;
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
  const json& r = response.result;
  if (!r.is_object()) return {"failed", "the editor sent an unreadable answer"};
  if (name == "read_file") return {"done", truncated_note(r.value("content", ""), r)};
  if (name == "list_files") {
    std::string text;
    for (const auto& f : r.value("files", json::array())) {
      if (!f.is_string()) continue;
      if (!text.empty()) text += "\n";
      text += f.get<std::string>();
    }
    if (text.empty()) text = "(no files)";
    return {"done", truncated_note(text, r)};
  }
  const bool yes = r.value(name == "edit_file" ? "applied" : "created", false);
  return {yes ? "done" : "rejected",
          r.value("message", yes ? "done" : "the user rejected this change")};
}

}  // namespace quill::tools
