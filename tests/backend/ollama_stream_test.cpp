// The NDJSON splitter and chunk decoder against Ollama's real wire format (the shared
// fixtures), whole and split at every byte boundary.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "http/line_splitter.hpp"
#include "provider/ollama/stream_decoder.hpp"

namespace quill::ollama {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string fixture(const std::string& name) {
  return read_file(std::string(QUILL_FIXTURES_DIR) + "/ollama/" + name);
}

// What a client derives from a stream, in the fixtures' .expected.json terms.
struct Derived {
  int lines = 0;
  std::string content;
  std::string thinking;
  std::vector<json> tool_calls;
  std::optional<std::string> done_reason;
  std::optional<std::string> error;
  std::optional<provider::ChatStats> stats;
  std::vector<std::string> problems;

  bool operator==(const Derived& o) const = default;  // every field, the stats' too
};

// A typed call back in Ollama's wire shape, to compare with the fixtures.
json wire_shape(const provider::ToolCall& call) {
  json out = {{"function", {{"name", call.name}, {"arguments", call.arguments}}}};
  if (call.id) out["id"] = *call.id;
  return out;
}

Derived derive(const std::vector<std::string_view>& pieces) {
  Derived d;
  http::LineSplitter splitter;
  ChunkDecoder decoder;
  provider::Chunk chunk;
  for (auto piece : pieces) {
    splitter.feed(piece, [&](std::string_view line) {
      ++d.lines;
      if (auto problem = decoder.decode(line, chunk)) {
        d.problems.push_back(*problem);
        return;
      }
      d.content += chunk.content;
      d.thinking += chunk.thinking;
      for (const auto& call : chunk.tool_calls)
        d.tool_calls.push_back(wire_shape(call));
      if (chunk.error) d.error = chunk.error;
      if (chunk.done) {
        d.done_reason = chunk.done_reason;
        d.stats = chunk.stats;
      }
    });
  }
  EXPECT_TRUE(splitter.rest().empty());
  return d;
}

const char* const kStreams[] = {"chat-text-utf8", "chat-thinking", "chat-tool-call",
                                "chat-two-tool-calls", "chat-error-midstream"};

TEST(OllamaStreamTest, FixturesDecodeToWhatTheirExpectedFilesSay) {
  for (const char* name : kStreams) {
    SCOPED_TRACE(name);
    const std::string body = fixture(std::string(name) + ".ndjson");
    const json expected = json::parse(fixture(std::string(name) + ".expected.json"));
    const Derived d = derive({body});
    EXPECT_TRUE(d.problems.empty()) << d.problems.front();
    EXPECT_EQ(d.lines, expected["line_count"].get<int>());
    EXPECT_EQ(d.content, expected["content"].get<std::string>());
    EXPECT_EQ(d.thinking, expected["thinking"].get<std::string>());
    ASSERT_EQ(d.tool_calls.size(), expected["tool_calls"].size());
    for (std::size_t i = 0; i < d.tool_calls.size(); ++i) {
      const json& want = expected["tool_calls"][i];
      const json& got = d.tool_calls[i];
      EXPECT_EQ(got["function"]["name"], want["name"]);
      EXPECT_EQ(got["function"]["arguments"], want["arguments"]);  // an object, not a string
      if (want.contains("id") && !want["id"].is_null()) {
        EXPECT_EQ(got["id"], want["id"]);
      }
    }
    if (expected["done_reason"].is_null()) {
      EXPECT_FALSE(d.done_reason.has_value());
    } else {
      EXPECT_EQ(d.done_reason, expected["done_reason"].get<std::string>());
    }
    if (expected["error"].is_null()) {
      EXPECT_FALSE(d.error.has_value());
    } else {
      EXPECT_EQ(d.error, expected["error"].get<std::string>());
    }
    if (expected["stats"].is_object()) {
      ASSERT_TRUE(d.stats.has_value());
      EXPECT_EQ(d.stats->eval_count, expected["stats"]["eval_count"].get<std::uint64_t>());
      EXPECT_EQ(d.stats->eval_duration, expected["stats"]["eval_duration"].get<std::uint64_t>());
      EXPECT_EQ(d.stats->prompt_eval_count,
                expected["stats"]["prompt_eval_count"].get<std::uint64_t>());
      EXPECT_EQ(d.stats->total_duration, expected["stats"]["total_duration"].get<std::uint64_t>());
      EXPECT_EQ(d.stats->load_duration, expected["stats"]["load_duration"].get<std::uint64_t>());
      EXPECT_EQ(d.stats->prompt_eval_duration,
                expected["stats"]["prompt_eval_duration"].get<std::uint64_t>());
    }
  }
}

TEST(OllamaStreamTest, EverySplitPointGivesTheSameResult) {
  for (const char* name : kStreams) {
    SCOPED_TRACE(name);
    const std::string body = fixture(std::string(name) + ".ndjson");
    const std::string_view all(body);
    const Derived whole = derive({all});
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      ASSERT_EQ(derive({all.substr(0, cut), all.substr(cut)}), whole) << "cut at " << cut;
    }
  }
}

TEST(OllamaStreamTest, TinyRandomPiecesGiveTheSameResult) {
  std::mt19937 rng(7);
  for (const char* name : kStreams) {
    SCOPED_TRACE(name);
    const std::string body = fixture(std::string(name) + ".ndjson");
    const Derived whole = derive({body});
    for (int round = 0; round < 20; ++round) {
      std::vector<std::string_view> pieces;
      for (std::size_t pos = 0; pos < body.size();) {
        const std::size_t n = std::min<std::size_t>(1 + rng() % 4, body.size() - pos);
        pieces.push_back(std::string_view(body).substr(pos, n));
        pos += n;
      }
      ASSERT_EQ(derive(pieces), whole) << "round " << round;
    }
  }
}

TEST(OllamaStreamTest, MissingFinalNewlineLeavesTheLineAsRest) {
  http::LineSplitter splitter;
  int lines = 0;
  splitter.feed("{\"a\":1}\n{\"b\":", [&](std::string_view) { ++lines; });
  EXPECT_EQ(lines, 1);
  EXPECT_EQ(splitter.rest(), "{\"b\":");
}

// The limit on a line, at its exact boundary, however the line is split (the check once missed
// the piece holding the '\n').
TEST(LineSplitterTest, ALineOfExactlyTheLimitPassesOneMoreByteIsRefusedHoweverSplit) {
  constexpr std::size_t kLimit = 8;
  for (const std::size_t length : {kLimit, kLimit + 1}) {
    const std::string line = std::string(length - 1, 'x') + "\r";  // a '\r' counts
    const std::string bytes = "ok\n" + line + "\nafter\n";
    for (std::size_t a = 0; a <= bytes.size(); ++a) {
      for (std::size_t b = a; b <= bytes.size(); ++b) {
        SCOPED_TRACE("length " + std::to_string(length) + " cuts " + std::to_string(a) + "," +
                     std::to_string(b));
        http::LineSplitter splitter(kLimit);
        std::vector<std::string> lines;
        bool fits = true;
        for (std::string_view piece :
             {std::string_view(bytes).substr(0, a), std::string_view(bytes).substr(a, b - a),
              std::string_view(bytes).substr(b)}) {
          if (fits) fits = splitter.feed(piece, [&](std::string_view l) { lines.emplace_back(l); });
        }
        if (length == kLimit) {
          EXPECT_TRUE(fits);
          EXPECT_EQ(lines, (std::vector<std::string>{"ok", std::string(kLimit - 1, 'x'), "after"}));
        } else {
          EXPECT_FALSE(fits);
          EXPECT_EQ(lines, std::vector<std::string>{"ok"});  // nothing of the long line
        }
      }
    }
  }
}

TEST(LineSplitterTest, ALineInManyPiecesArrivesWhole) {
  const std::string line = R"({"message":{"content":"one line, in five pieces"}})";
  http::LineSplitter splitter;
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < line.size(); pos += 11) {
    ASSERT_TRUE(splitter.feed(std::string_view(line).substr(pos, 11),
                              [&](std::string_view l) { lines.emplace_back(l); }));
    EXPECT_TRUE(lines.empty());
  }
  ASSERT_TRUE(splitter.feed("\n", [&](std::string_view l) { lines.emplace_back(l); }));
  EXPECT_EQ(lines, std::vector<std::string>{line});
  EXPECT_EQ(splitter.rest(), "");
}

TEST(OllamaStreamTest, ALineOverTheLimitEndsTheStreamNamingTheLimit) {
  StreamDecoder decoder(/*max_line=*/64);
  int chunks = 0;
  const std::string ok = R"({"message":{"content":"hi"}})"
                         "\n";
  EXPECT_FALSE(decoder.feed(ok, [&](provider::Chunk&) { ++chunks; }).has_value());
  const std::string long_line = R"({"message":{"content":")" + std::string(64, 'x') + "\"}}";
  auto feed = [&](std::string_view bytes) {
    return decoder.feed(bytes, [&](provider::Chunk&) { ++chunks; });
  };
  EXPECT_FALSE(feed(std::string_view(long_line).substr(0, 30)).has_value());  // fits so far
  EXPECT_EQ(feed(std::string_view(long_line).substr(30)).value_or(""),
            "a line longer than 64 bytes");
  EXPECT_EQ(chunks, 1);
}

TEST(OllamaStreamTest, CrLfLineEndsAreAccepted) {
  http::LineSplitter splitter;
  std::vector<std::string> lines;
  splitter.feed("one\r\ntwo\n", [&](std::string_view l) { lines.emplace_back(l); });
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST(ChunkDecoderTest, HandlesEveryJsonEscapeAndKeyOrder) {
  ChunkDecoder decoder;
  provider::Chunk chunk;
  const std::string line =
      R"({"done":false,"message":{"content":"\u003ctag\u003e \u0026 \"q\" \\ \n\t \ud83d\ude80 \u2028 é","role":"assistant"},"model":"m"})";
  ASSERT_FALSE(decoder.decode(line, chunk).has_value());
  EXPECT_EQ(chunk.content, "<tag> & \"q\" \\ \n\t 🚀 \u2028 é");
  EXPECT_FALSE(chunk.done);
  // Older servers put done_reason before done.
  ASSERT_FALSE(decoder.decode(R"({"done_reason":"length","done":true,"eval_count":5})", chunk));
  EXPECT_TRUE(chunk.done);
  EXPECT_EQ(chunk.done_reason, "length");
  EXPECT_EQ(chunk.stats.eval_count, 5u);
}

TEST(ChunkDecoderTest, IgnoresUnknownKeysAndNulls) {
  ChunkDecoder decoder;
  provider::Chunk chunk;
  ASSERT_FALSE(decoder.decode(
      R"({"remote_model":"x","logprobs":[{"a":1}],"_debug_info":{"k":[1,2]},"message":{"role":"assistant","content":"hi","images":null,"tool_calls":null}})",
      chunk));
  EXPECT_EQ(chunk.content, "hi");
  EXPECT_TRUE(chunk.tool_calls.empty());
}

TEST(ChunkDecoderTest, ReportsWhatIsWrongWithABadLine) {
  ChunkDecoder decoder;
  provider::Chunk chunk;
  EXPECT_TRUE(decoder.decode("this is not json", chunk).has_value());
  EXPECT_TRUE(decoder.decode("[1,2]", chunk).has_value());
  EXPECT_TRUE(decoder.decode(R"({"message":"text"})", chunk).has_value());
  EXPECT_TRUE(decoder.decode(R"({"message":{"content":5}})", chunk).has_value());
  EXPECT_TRUE(decoder.decode(R"({"done":"yes"})", chunk).has_value());
  EXPECT_TRUE(decoder.decode(R"({"message":{"content":"unterminated)", chunk).has_value());
  // Invalid UTF-8 is repaired, not an error (bounds_test.cpp, ChunkDecoderUtf8Test).
  EXPECT_FALSE(decoder.decode("{\"message\":{\"content\":\"bad \xff utf8\"}}", chunk).has_value());
  EXPECT_EQ(chunk.content, "bad \xEF\xBF\xBD utf8");
}

TEST(ChunkDecoderTest, ErrorLinesAndErrorObjects) {
  ChunkDecoder decoder;
  provider::Chunk chunk;
  ASSERT_FALSE(decoder.decode(R"({"error":"model crashed"})", chunk));
  EXPECT_EQ(chunk.error, "model crashed");
  ASSERT_FALSE(decoder.decode(R"({"error":{"message":"proxy says no","type":"x"}})", chunk));
  EXPECT_EQ(chunk.error, "proxy says no");
}

TEST(ChunkDecoderTest, ToolCallsOnTheDoneLineAreRead) {
  ChunkDecoder decoder;
  provider::Chunk chunk;
  ASSERT_FALSE(decoder.decode(
      R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"a","arguments":{"x":1}}},{"function":{"index":0,"name":"b","arguments":{}}}]},"done":true,"done_reason":"stop"})",
      chunk));
  ASSERT_EQ(chunk.tool_calls.size(), 2u);  // same index twice: both kept, never merged
  EXPECT_EQ(chunk.tool_calls[1].name, "b");
  EXPECT_TRUE(chunk.done);
}

}  // namespace
}  // namespace quill::ollama
