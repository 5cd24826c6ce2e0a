// permessage-deflate: the answer to clients' offers (net/deflate_offer.hpp)
// and the shared compressed form of a frame (net/frame_deflate.hpp), checked
// against zlib's own inflate as a client would run it (RFC 7692 §7.2.2).
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "net/deflate_offer.hpp"
#include "net/frame_deflate.hpp"

using namespace queuecast;

namespace {

// A client's inflate of one message: the payload with 00 00 ff ff appended,
// a fresh stream each time (the server takes no context over).
std::string inflate_message(const std::string& payload) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
  std::string in = payload + std::string("\x00\x00\xff\xff", 4);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  char buffer[4096];
  int rc = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
  inflateEnd(&z);
  EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << "inflate: " << rc;
  return out;
}

const std::string answer = "permessage-deflate; server_no_context_takeover";

TEST(deflate_offer_test, browsers_offers_are_accepted) {
  // Chromium's and Firefox's offers.
  EXPECT_EQ(answer_deflate_offers("permessage-deflate; client_max_window_bits"), answer);
  EXPECT_EQ(answer_deflate_offers("permessage-deflate"), answer);
  EXPECT_EQ(answer_deflate_offers("PerMessage-Deflate; Server_No_Context_Takeover"), answer);
  EXPECT_EQ(answer_deflate_offers("permessage-deflate;client_no_context_takeover;"
                                  "client_max_window_bits=10"),
            answer);
  EXPECT_EQ(answer_deflate_offers("permessage-deflate; client_max_window_bits=\"12\""), answer);
  // A window request we can meet is repeated in the answer (§7.1.2.1).
  EXPECT_EQ(answer_deflate_offers("permessage-deflate; server_max_window_bits=15"),
            answer + "; server_max_window_bits=15");
}

TEST(deflate_offer_test, the_first_offer_we_can_honour_wins) {
  EXPECT_EQ(answer_deflate_offers("x-webkit-deflate-frame, permessage-deflate"), answer);
  EXPECT_EQ(answer_deflate_offers("permessage-deflate; server_max_window_bits=10, "
                                  "permessage-deflate; client_max_window_bits"),
            answer);
  EXPECT_EQ(answer_deflate_offers("permessage-deflate; foo, , permessage-deflate"), answer);
}

TEST(deflate_offer_test, offers_we_cannot_honour_are_declined) {
  for (const char* offer : {
           "",
           "x-webkit-deflate-frame",
           "permessage-deflate; server_max_window_bits=8",  // a smaller window than ours
           "permessage-deflate; server_max_window_bits=14",
           "permessage-deflate; server_max_window_bits",  // needs a value
           "permessage-deflate; server_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=015",
           "permessage-deflate; client_max_window_bits=7",
           "permessage-deflate; client_max_window_bits=abc",
           "permessage-deflate; unknown_param",
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
       })
    EXPECT_EQ(answer_deflate_offers(offer), std::nullopt) << offer;
}

TEST(deflate_offer_test, a_malformed_header_is_declined_whole) {
  for (const char* offer : {
           "permessage-deflate;",
           "permessage-deflate; =15",
           "permessage-deflate; client_max_window_bits=",
           "permessage-deflate; client_max_window_bits=\"15",
           "\"permessage-deflate\"",
           "permessage-deflate client_max_window_bits",
           "permessage-deflate, @",
           "permessage-deflate; a=b=c",
       })
    EXPECT_EQ(answer_deflate_offers(offer), std::nullopt) << offer;
}

std::string json_like(std::size_t bytes, unsigned seed) {
  std::mt19937 random(seed);
  std::string text = "{\"phases\":[";
  while (text.size() < bytes) {
    text += "{\"id\":" + std::to_string(random() % 100000) + ",\"title\":\"";
    for (int i = 0; i < 40; ++i) text.push_back("0123456789abcdef"[random() % 16]);
    text += "\"},";
  }
  text += "{}]}";
  return text;
}

TEST(frame_deflate_test, a_compressed_frame_inflates_to_its_text) {
  for (std::size_t bytes : {300, 4000, 16000, 200000}) {
    frame_text text(json_like(bytes, static_cast<unsigned>(bytes)));
    const std::string* deflated = text.deflated();
    ASSERT_NE(deflated, nullptr) << bytes;
    EXPECT_LT(deflated->size(), text.size() * 3 / 4) << bytes;
    // The flush marker is left off (§7.2.1)...
    EXPECT_NE(deflated->substr(deflated->size() - 4), std::string("\x00\x00\xff\xff", 4));
    // ...and a client that appends it gets the text back.
    EXPECT_EQ(inflate_message(*deflated), static_cast<const std::string&>(text)) << bytes;
    EXPECT_EQ(text.deflated(), deflated) << "compressed again";
  }
}

TEST(frame_deflate_test, small_or_incompressible_frames_go_as_text) {
  EXPECT_EQ(frame_text(std::string(deflate_min_bytes - 1, 'a')).deflated(), nullptr);
  EXPECT_NE(frame_text(std::string(deflate_min_bytes, 'a')).deflated(), nullptr);
  std::mt19937 random(7);
  std::string noise;
  for (int i = 0; i < 5000; ++i) noise.push_back(static_cast<char>(random()));
  EXPECT_EQ(frame_text(noise).deflated(), nullptr) << "random bytes cannot shrink";
}

// Sessions on several threads may ask for a frame's compressed form at
// once: one compression, the same bytes for all of them.
TEST(frame_deflate_test, first_use_from_many_threads_compresses_once) {
  frame_text text(json_like(16000, 3));
  std::vector<const std::string*> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&, i] { seen[i] = text.deflated(); });
  for (auto& t : threads) t.join();
  for (const std::string* p : seen) EXPECT_EQ(p, seen[0]);
  ASSERT_NE(seen[0], nullptr);
  EXPECT_EQ(inflate_message(*seen[0]), static_cast<const std::string&>(text));
}

}  // namespace
