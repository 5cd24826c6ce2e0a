#include <gtest/gtest.h>

#include "net/messages.hpp"
#include "net/outbound_stream.hpp"

using namespace queuecast;

TEST(messages, subscribe_with_mode_and_since) {
  auto m = parse_client_message(
      R"({"type":"subscribe","topic":"queue:default","mode":"delta","since":42})");
  auto* s = std::get_if<subscribe_request>(&m);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->topic, "queue:default");
  EXPECT_EQ(s->mode, sub_mode::delta);
  EXPECT_EQ(s->since, 42);
}

TEST(messages, bad_input_gets_a_code) {
  auto code = [](std::string_view text) {
    auto m = parse_client_message(text);
    auto* b = std::get_if<bad_request>(&m);
    return b ? b->code : std::string("accepted");
  };
  EXPECT_EQ(code("{not json"), "bad_json");
  EXPECT_EQ(code("[1,2]"), "bad_request");
  EXPECT_EQ(code(R"({"type":"dance"})"), "unknown_type");
  EXPECT_EQ(code(R"({"topic":"queue:a"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe","topic":"nope"})"), "unknown_topic");
  EXPECT_EQ(code(R"({"type":"subscribe","topic":"queue:a b"})"), "unknown_topic");
  EXPECT_EQ(code(R"({"type":"subscribe","topic":"queue:a","mode":"fast"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe","topic":"queue:a","since":"x"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe","topic":"queue:a","since":-1})"), "bad_request");
  EXPECT_EQ(code(R"({"type":7})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"ping","id":[1]})"), "accepted");
}

TEST(messages, topic_syntax) {
  EXPECT_TRUE(valid_topic_syntax("workflows"));
  EXPECT_TRUE(valid_topic_syntax("queue:q-1.a_b"));
  EXPECT_TRUE(valid_topic_syntax("workflow:12"));
  EXPECT_FALSE(valid_topic_syntax("workflow:x"));
  EXPECT_FALSE(valid_topic_syntax("queue:"));
  EXPECT_FALSE(valid_topic_syntax(std::string("queue:") + std::string(64, 'a')));
}

// Server frames: FIN, the opcode, RSV1 for compressed payloads, and the
// length in 7, 16 or 64 bits (RFC 6455 5.2), never a mask.
TEST(frame_header, lengths_at_each_boundary) {
  auto bytes = [](const std::string& h) {
    std::vector<int> out;
    for (char c : h) out.push_back(static_cast<unsigned char>(c));
    return out;
  };
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 0)),
            (std::vector<int>{0x81, 0}));
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 125)),
            (std::vector<int>{0x81, 125}));
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 126)),
            (std::vector<int>{0x81, 126, 0, 126}));
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 65535)),
            (std::vector<int>{0x81, 126, 0xff, 0xff}));
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 65536)),
            (std::vector<int>{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(bytes(queuecast::frame_header(queuecast::websocket_text, 300, true)),
            (std::vector<int>{0xc1, 126, 1, 44}));
}

// Frames whose data is written as text (store::append_document_text) are the
// bytes of the same frame built with the document as a json::object.
TEST(messages, frames_with_data_written_as_text_are_the_same_bytes) {
  json::object doc{{"phases", json::array{json::object{{"id", 1}, {"title", "a \"quoted\" é"}}}},
                   {"total", 1},
                   {"paused", false}};
  data_writer text = [&](std::string& out) { out += json::serialize(doc); };
  EXPECT_EQ(*snapshot_frame("queue:q", 7, std::nullopt, text),
            *snapshot_frame("queue:q", 7, std::nullopt, doc));
  EXPECT_EQ(*snapshot_frame("queue:q\"x", 7, 5, text), *snapshot_frame("queue:q\"x", 7, 5, doc));
  EXPECT_EQ(*queue_update_frame(text), *make_frame({{"type", "queue_update"}, {"data", doc}}));
}
