#include "rpc/frame_decoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quill::rpc {
namespace {

struct Decoded {
  std::vector<std::string> bodies;
  std::vector<std::string> errors;
};

Decoded decode_in_pieces(const std::vector<std::string>& pieces,
                         FrameDecoder decoder = FrameDecoder()) {
  Decoded out;
  for (const auto& piece : pieces) {
    decoder.feed(piece);
    while (auto frame = decoder.next()) {
      (frame->is_body() ? out.bodies : out.errors).push_back(frame->text);
    }
  }
  return out;
}

Decoded decode(const std::string& bytes, FrameDecoder decoder = FrameDecoder()) {
  return decode_in_pieces({bytes}, std::move(decoder));
}

// Three messages, one with a multi-byte UTF-8 body and an extra header.
const std::string kBodies[] = {
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})",
    R"({"jsonrpc":"2.0","method":"log","params":{"message":"日本語 👋 ç"}})",
    R"({"jsonrpc":"2.0","id":"x","result":null})",
};

std::string three_message_stream() {
  return encode_frame(kBodies[0]) + "Content-Length: " + std::to_string(kBodies[1].size()) +
         "\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + kBodies[1] +
         encode_frame(kBodies[2]);
}

TEST(FrameDecoderTest, DecodesSeveralMessagesInOneChunk) {
  const Decoded d = decode(three_message_stream());
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.bodies.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(d.bodies[i], kBodies[i]);
}

TEST(FrameDecoderTest, EveryTwoWaySplitGivesTheSameMessages) {
  const std::string stream = three_message_stream();
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const Decoded d = decode_in_pieces({stream.substr(0, cut), stream.substr(cut)});
    ASSERT_TRUE(d.errors.empty()) << "cut at " << cut << ": " << d.errors.front();
    ASSERT_EQ(d.bodies.size(), 3u) << "cut at " << cut;
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(d.bodies[i], kBodies[i]) << "cut at " << cut;
  }
}

TEST(FrameDecoderTest, ByteAtATimeGivesTheSameMessages) {
  const std::string stream = three_message_stream();
  std::vector<std::string> pieces;
  for (char c : stream)
    pieces.emplace_back(1, c);
  const Decoded d = decode_in_pieces(pieces);
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.bodies.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(d.bodies[i], kBodies[i]);
}

TEST(FrameDecoderTest, HeaderNamesAreCaseInsensitiveAndSpacesTrimmed) {
  const Decoded d = decode("content-LENGTH:   2  \r\n\r\n{}");
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "{}");
}

TEST(FrameDecoderTest, EmptyBodyIsAFrame) {
  const Decoded d = decode("Content-Length: 0\r\n\r\nContent-Length: 2\r\n\r\n[]");
  ASSERT_EQ(d.bodies.size(), 2u);
  EXPECT_EQ(d.bodies[0], "");
  EXPECT_EQ(d.bodies[1], "[]");
}

TEST(FrameDecoderTest, MissingLengthIsAnErrorAndTheNextFrameStillDecodes) {
  const Decoded d = decode("Content-Type: text/plain\r\n\r\ngarbage body" + encode_frame("{}"));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("missing Content-Length"), std::string::npos) << d.errors[0];
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "{}");
}

TEST(FrameDecoderTest, NonNumericLengthIsAnErrorAndResyncs) {
  const Decoded d = decode("Content-Length: ten\r\n\r\n{\"a\":1}" + encode_frame("{\"b\":2}"));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("not a number"), std::string::npos) << d.errors[0];
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "{\"b\":2}");
}

TEST(FrameDecoderTest, NegativeLengthIsNotANumber) {
  const Decoded d = decode("Content-Length: -5\r\n\r\n" + encode_frame("{}"));
  ASSERT_EQ(d.errors.size(), 1u);
  ASSERT_EQ(d.bodies.size(), 1u);
}

TEST(FrameDecoderTest, LengthBeyond64BitsIsAnError) {
  const Decoded d = decode("Content-Length: 99999999999999999999999\r\n\r\n" + encode_frame("{}"));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("too large"), std::string::npos) << d.errors[0];
  ASSERT_EQ(d.bodies.size(), 1u);
}

TEST(FrameDecoderTest, ConflictingLengthsAreAnError) {
  const Decoded d =
      decode("Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x" + encode_frame("[]"));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("conflicting"), std::string::npos);
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "[]");
}

TEST(FrameDecoderTest, RawJsonWithoutHeadersIsReportedAtOnce) {
  FrameDecoder decoder;
  decoder.feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n");
  auto frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_FALSE(frame->is_body());
  EXPECT_NE(frame->text.find("expected a header"), std::string::npos) << frame->text;
  // The rest of the garbage does not produce more errors, and is not kept around.
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_LT(decoder.buffered(), 16u);
}

TEST(FrameDecoderTest, GarbageLineBeforeAValidHeaderLosesOnlyTheGarbage) {
  const Decoded d = decode("hello\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(d.errors.size(), 1u);
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "{}");
}

TEST(FrameDecoderTest, OversizeBodyIsRefusedAndSkippedWithoutBeingStored) {
  FrameDecoder decoder(/*max_body=*/100);
  const std::string big(1000, 'x');
  decoder.feed("Content-Length: 1000\r\n\r\n");
  auto frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_FALSE(frame->is_body());
  EXPECT_NE(frame->text.find("exceeds the limit"), std::string::npos) << frame->text;
  // The declared body streams past in pieces and is never buffered.
  for (int i = 0; i < 10; ++i) {
    decoder.feed(big.substr(static_cast<std::size_t>(i) * 100, 100));
    EXPECT_FALSE(decoder.next().has_value());
    EXPECT_EQ(decoder.buffered(), 0u);
  }
  decoder.feed(encode_frame("{}"));
  frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  ASSERT_TRUE(frame->is_body());
  EXPECT_EQ(frame->text, "{}");
}

TEST(FrameDecoderTest, HugeDeclaredLengthAllocatesNothing) {
  FrameDecoder decoder;  // default 64 MiB limit
  decoder.feed("Content-Length: 1099511627776\r\n\r\n{\"a\":1}");
  auto frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_FALSE(frame->is_body());
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoderTest, EndlessHeaderIsCutAtTheLimit) {
  FrameDecoder decoder(kDefaultMaxBody, /*max_header=*/64);
  decoder.feed("X-Long: " + std::string(200, 'a'));
  auto frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_FALSE(frame->is_body());
  EXPECT_NE(frame->text.find("longer than 64"), std::string::npos) << frame->text;
  EXPECT_LT(decoder.buffered(), 16u);
  decoder.feed("\r\n\r\n" + encode_frame("{}"));
  frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_TRUE(frame->is_body());
}

// The default 8 KiB limit on the header section (its blank line included), at its exact
// boundary, whole and in pieces.
TEST(FrameDecoderTest, AHeaderOfExactlyTheLimitPassesOneMoreByteIsRefused) {
  for (const std::size_t size : {kDefaultMaxHeader, kDefaultMaxHeader + 1}) {
    const std::string start = "Content-Length: 2\r\nX-Pad: ";
    const std::string end = "\r\n\r\n";
    const std::string header = start + std::string(size - start.size() - end.size(), 'a') + end;
    ASSERT_EQ(header.size(), size);
    const std::string bytes = header + "{}";
    for (const std::size_t piece :
         {bytes.size(), std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
      SCOPED_TRACE("size " + std::to_string(size) + " piece " + std::to_string(piece));
      std::vector<std::string> pieces;
      for (std::size_t pos = 0; pos < bytes.size(); pos += piece)
        pieces.push_back(bytes.substr(pos, piece));
      const Decoded d = decode_in_pieces(pieces);
      if (size == kDefaultMaxHeader) {
        EXPECT_TRUE(d.errors.empty());
        EXPECT_EQ(d.bodies, std::vector<std::string>{"{}"});
      } else {
        ASSERT_EQ(d.errors.size(), 1u);
        EXPECT_NE(d.errors[0].find("longer than 8192"), std::string::npos) << d.errors[0];
        EXPECT_TRUE(d.bodies.empty());
      }
    }
  }
}

TEST(FrameDecoderTest, ResyncFindsAHeaderSplitAcrossFeeds) {
  const Decoded d = decode_in_pieces({"garbage garbage Content-Le", "ngth: 2\r\n\r\n{}"});
  EXPECT_EQ(d.errors.size(), 1u);
  ASSERT_EQ(d.bodies.size(), 1u);
  EXPECT_EQ(d.bodies[0], "{}");
}

TEST(FrameDecoderTest, WaitsForTheWholeBody) {
  FrameDecoder decoder;
  decoder.feed("Content-Length: 10\r\n\r\n12345");
  EXPECT_FALSE(decoder.next().has_value());
  decoder.feed("6789");
  EXPECT_FALSE(decoder.next().has_value());
  decoder.feed("0Content");
  auto frame = decoder.next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->text, "1234567890");
  EXPECT_FALSE(decoder.next().has_value());
}

TEST(FrameDecoderTest, EncodeFrameCountsBytesNotCharacters) {
  EXPECT_EQ(encode_frame("日"), "Content-Length: 3\r\n\r\n日");
}

}  // namespace
}  // namespace quill::rpc
