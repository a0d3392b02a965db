#pragma once
// What the fake sends for POST /api/chat. A scenario is a small function that turns its
// parameters into a Script: a list of steps (headers, chunks, pauses, end, drop, hang...) that
// a player replays on one connection. Scripts are plain data, so they are easy to read, test and
// extend. Most scenarios ignore the request; `tools` reads its `tools` and `messages`.
//
// Selection syntax, used both by the request's `model` and by `--scenario`:
//   name?key=value&key=value     (values percent-decoded, '+' = space)
//
// `tools` plays an agent loop. When the request offers no tools (no `tools` or an empty array)
// it answers the text "(no tools were offered)", whatever its parameters. Otherwise, while the
// request's `messages` hold fewer than `rounds` (default 1) assistant messages with a non-empty
// `tool_calls`, or always with `forever=1`, it answers "Let me " "check." then one line per
// call (content "", `tool_calls:[call]`), then the done line (done_reason "stop", eval_count =
// 2 + number of calls); after that it streams `then` (default "Done.") cut after each space.
//   calls=<JSON array>  [{"name":..., "arguments":{...}, "id"?:...}], default one read_file call
//                       of README.md; a call without `id` gets call_<n>, n counting across rounds
//   noid=1              generated ids are left out (old servers send no id)
//   sameindex=1         every call has function.index 0 (gpt-oss) instead of its position
//   ondone=1            the calls ride on the done line instead of lines of their own

// `rawcalls?calls=<text>` plays a hostile model: "Let me ", then a line whose message.tool_calls
// is `calls` verbatim (any JSON, or none), then the done line.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fake_ollama {

struct Params {
  std::vector<std::pair<std::string, std::string>> items;
  const std::string* find(std::string_view key) const;
};

struct Spec {
  std::string name;
  Params params;
};

// Splits `text` at the first '?' and decodes the parameters; nullopt if a value is malformed.
std::optional<Spec> parse_spec(std::string_view text);
bool is_scenario(std::string_view name);
std::vector<std::string_view> scenario_names();

struct Step {
  enum class Kind {
    Reply,    // whole response: `status`, `bytes` as a JSON body with Content-Length; ends
    Headers,  // status line + headers of the chunked NDJSON body (`status`)
    Chunk,    // `bytes` as one HTTP chunk in its own write
    End,      // terminating chunk; ends
    Drop,     // close the connection once written, no terminator; ends
    Hang,     // send nothing more; the exchange lasts until the client leaves
    Repeat,   // `bytes` as one chunk again and again, a write at a time, until the client leaves
  };
  Kind kind = Kind::Chunk;
  double at_ms = 0;     // not before this many ms after the response started
  unsigned gap_ms = 0;  // and not before this many ms after the previous step
  int status = 200;
  std::string bytes;
  std::string content;  // Chunk: the message content this chunk completes (for last_text)
  bool stamp = false;   // Chunk: replace kStampPlaceholder with the send time (benchmarks)
  // Reply, Headers: instead of the default (JSON, NDJSON).
  std::string content_type;
  // Reply: a Location header (redirects).
  std::string location;
};
// 20 characters the player overwrites with CLOCK_MONOTONIC nanoseconds, zero-padded, as it
// writes the chunk: `text?stamp=1` tokens read "<i>:<ns> ".
inline constexpr std::string_view kStampPlaceholder = "@@@@@@@@@@@@@@@@@@@@";
using Script = std::vector<Step>;

struct Context {
  std::string model;  // echoed in every line, exactly as the request sent it
  std::string fixtures_dir;
  const nlohmann::json* request = nullptr;  // the parsed request body; null when there is none
};

// The script of `spec` for one request; on a bad parameter, an empty script and `error` set.
Script build_script(const Spec& spec, const Context& context, std::string* error);

// Building blocks, shared with future scenarios.
std::string go_json_string(std::string_view text);  // Go encoding/json string escaping
std::string error_body(std::string_view message);   // {"error":"…"} without newline
std::string created_at(int line);                   // deterministic RFC 3339 UTC timestamps
std::string content_line(std::string_view model, int line, std::string_view content);
// `tool_calls`, when not empty, is a JSON array text put into the line's message (newer servers
// send the calls on the done line itself).
std::string done_line(std::string_view model, int line, int eval_count,
                      std::string_view tool_calls = {});
// A line with content "" whose message carries `tool_calls` (a JSON array text).
std::string tool_calls_line(std::string_view model, int line, std::string_view tool_calls);
// JSON text as Go's encoding/json writes it: compact, go_json_string for strings, keys in order.
std::string go_json(const nlohmann::ordered_json& value);
// Token i (1-based) of the `text` scenarios: "t<i>" + ("", "é", "日本", "👋", "\n")[(i-1)%5] + " ".
std::string text_token(int i);
// Cuts every Chunk into pieces of 1..3 bytes (a fixed cycle, so cuts land inside UTF-8
// characters), with a 1 ms pause every few pieces.
Script split_chunks(Script script);

}  // namespace fake_ollama
