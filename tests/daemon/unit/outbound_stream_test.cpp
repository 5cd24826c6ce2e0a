// outbound_stream's non-blocking gathered writes over a real loopback TCP
// connection whose send buffer is made small, so that the kernel takes frames
// in part: whatever the socket takes, the bytes that arrive are every
// frame's header and payload, in order, once.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "net/outbound_stream.hpp"

namespace {

using queuecast::outbound_stream;
using queuecast::shared_bytes;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct connected_pair {
  asio::io_context ioc;
  tcp::socket server{ioc};
  tcp::socket client{ioc};

  connected_pair() {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    // A small send buffer: a few frames fill it and the client's receive
    // buffer, and the next sendmsg is partial. (A tiny receive buffer too
    // would stall loopback TCP on window updates, not test this code.)
    server.set_option(asio::socket_base::send_buffer_size(16384));
    server.non_blocking(true);
  }
};

// Frame i: a header "<i:" and a payload of i * 397 % 60000 + 1 bytes of a
// pattern that depends on i, so a byte out of place or repeated shows.
std::string header_of(int i) {
  return "<" + std::to_string(i) + ":";
}
shared_bytes payload_of(int i) {
  std::string bytes(static_cast<std::size_t>(i * 397 % 60000 + 1), '\0');
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<char>('a' + (i + k) % 26);
  return std::make_shared<const std::string>(std::move(bytes));
}

TEST(outbound_stream, queued_frames_arrive_whole_and_in_order_through_partial_writes) {
  connected_pair pair;
  outbound_stream<tcp::socket> out(std::move(pair.server));
  constexpr int frames = 200;  // more than max_gather buffers: several calls
  std::string expected;
  for (int i = 0; i < frames; ++i) {
    out.push_frame(header_of(i), payload_of(i));
    expected += header_of(i) + *payload_of(i);
  }
  std::string received;
  pair.client.non_blocking(true);
  char buffer[8192];
  // Everything that has arrived, without waiting for more.
  auto read_available = [&] {
    boost::system::error_code ec;
    while (true) {
      std::size_t n = pair.client.read_some(asio::buffer(buffer), ec);
      if (ec) break;  // would_block: nothing more for now
      received.append(buffer, n);
    }
  };
  std::size_t partial_calls = 0;
  bool done = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "no progress: received " << received.size() << " of " << expected.size() << ", queued "
        << out.queued_buffers() << " buffers";
    std::size_t written = 0;
    done = out.write_queued_at_once(written);
    if (!done) ++partial_calls;
    std::size_t before = received.size();
    read_available();
    // Nothing moved: give the kernel a moment to open the window again.
    if (!done && written == 0 && received.size() == before)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  for (int wait = 0; received.size() < expected.size() && wait < 1000; ++wait) {
    read_available();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(out.queued_buffers(), 0u);
  EXPECT_GT(partial_calls, 0u)
      << "the socket took everything at once: the partial path was not tried";
  ASSERT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected) << "the bytes arrived out of order or repeated";
}

TEST(outbound_stream, nothing_queued_is_done_at_once) {
  connected_pair pair;
  outbound_stream<tcp::socket> out(std::move(pair.server));
  std::size_t written = 99;
  EXPECT_TRUE(out.write_queued_at_once(written));
  EXPECT_EQ(written, 0u);
}

}  // namespace
