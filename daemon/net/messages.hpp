// The wire protocol's messages (docs/protocol.md): parsing what clients send
// and encoding what the server sends. Encoded frames are immutable shared
// strings so one encoding serves every subscriber.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "frame_deflate.hpp"

namespace queuecast {

namespace json = boost::json;

// The server's name in HTTP responses and the welcome message. The version
// is queuecast.control's default_version (CMakeLists.txt defines it), so the
// daemon and the extension it ships with never disagree.
#ifndef QUEUECAST_VERSION
#error "QUEUECAST_VERSION is defined by CMakeLists.txt from queuecast.control"
#endif
inline constexpr const char* server_name = "queuecastd/" QUEUECAST_VERSION;

// Client text quoted back in an error message (a topic, a Host header, a
// message type) is cut to this many bytes: a client cannot make the daemon
// echo or log megabytes of its own input.
inline constexpr std::size_t max_shown_bytes = 100;

// text as it may appear in an error message: at most max_shown_bytes, cut at
// a UTF-8 character boundary so the JSON it goes into stays valid UTF-8.
std::string shown(std::string_view text);

// Topics (docs/protocol.md): queue:<name>, workflows, workflow:<id>. A queue
// name is at most 63 bytes (PostgreSQL's identifier length); a workflow id at
// most 18 digits, so every id accepted fits a bigint.
inline constexpr std::string_view queue_topic_prefix = "queue:";
inline constexpr std::string_view workflow_topic_prefix = "workflow:";
inline constexpr std::size_t max_queue_name_bytes = 63;
inline constexpr std::size_t max_workflow_id_digits = 18;

// A frame's text, and its compressed form for permessage-deflate clients.
using frame = std::shared_ptr<const frame_text>;

enum class sub_mode { snapshot, delta };

struct subscribe_request {
  std::string topic;
  sub_mode mode = sub_mode::snapshot;
  std::optional<std::int64_t> since;
};
struct unsubscribe_request {
  std::string topic;
};
struct ping_request {
  json::value id;
};
struct hello_request {
  std::string token;
};
// A fresh token for an open connection (refresh before expiry).
struct auth_request {
  std::string token;
};
// A request the server answers with an error message (code + text).
struct bad_request {
  std::string code;
  std::string message;
  std::string topic;
};

using client_message = std::variant<subscribe_request, unsubscribe_request, ping_request,
                                    hello_request, auth_request, bad_request>;

// Never throws: anything that is not a valid request becomes a bad_request.
client_message parse_client_message(std::string_view text) noexcept;

frame make_frame(const json::object& message);
frame welcome_frame(std::int64_t seq);
frame subscribed_frame(const std::string& topic, sub_mode mode, std::int64_t seq, bool resumed,
                       const std::string& reason = {});
frame snapshot_frame(const std::string& topic, std::int64_t seq,
                     std::optional<std::int64_t> prev_seq, const json::object& data);
// snapshot_frame and the compat endpoint's {"type":"queue_update","data":...}
// with `data` written as JSON text by write_data (store::append_document_text)
// straight into the frame: the same bytes as with a json::object, without
// one in between or a copy of the text.
using data_writer = std::function<void(std::string&)>;
frame snapshot_frame(const std::string& topic, std::int64_t seq,
                     std::optional<std::int64_t> prev_seq, const data_writer& write_data);
frame queue_update_frame(const data_writer& write_data);
frame delta_frame(const std::string& topic, std::int64_t seq, std::int64_t prev_seq,
                  const json::array& ops);
frame error_frame(const std::string& code, const std::string& message,
                  const std::string& topic = {});
frame status_frame(bool live, std::int64_t seq, const std::string& reason);

bool valid_topic_syntax(std::string_view topic);

}  // namespace queuecast
