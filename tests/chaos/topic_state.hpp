// A subscriber's copy of one topic's state, kept from snapshots and delta ops
// exactly as docs/protocol.md tells a client to, and put in a canonical form
// (objects sorted by id) to compare with queuecast.snapshot() in SQL.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>

namespace qc_chaos {

namespace json = boost::json;

class topic_state {
 public:
  explicit topic_state(std::string topic)
      : topic_(std::move(topic)), queue_topic_(topic_.rfind("queue:", 0) == 0) {}

  // Replaces the state with a snapshot's `data`.
  void reset(const json::object& data) {
    items_.clear();
    const char* list = queue_topic_ ? "phases" : "workflows";
    for (const json::value& item : data.at(list).as_array()) {
      items_[item.at("id").to_number<std::int64_t>()] = item.as_object();
    }
    if (queue_topic_) paused_ = data.at("paused").as_bool();
  }

  // Applies one delta's ops; returns an error text when an op does not fit
  // the state (the stream and the state have diverged), else "".
  std::string apply(const json::array& ops) {
    for (const json::value& op_value : ops) {
      const json::object& op = op_value.as_object();
      std::string kind(op.at("op").as_string());
      if (kind == "upsert") {
        const json::object& item = op.at(queue_topic_ ? "phase" : "workflow").as_object();
        items_[item.at("id").to_number<std::int64_t>()] = item;
      } else if (kind == "remove") {
        if (items_.erase(op.at("id").to_number<std::int64_t>()) == 0) {
          return "remove of an id the state does not have: " + json::serialize(op);
        }
      } else if (kind == "paused") {
        paused_ = op.at("value").as_bool();
      } else {
        return "unknown op: " + json::serialize(op);
      }
    }
    return "";
  }

  // {"phases":[...by id],"total":N,"paused":b} or {"workflows":[...],"total":N}
  json::object canonical() const {
    json::array list;
    for (const auto& [id, item] : items_) list.push_back(item);
    json::object doc;
    doc["total"] = list.size();
    if (queue_topic_) doc["paused"] = paused_;
    doc[queue_topic_ ? "phases" : "workflows"] = std::move(list);
    return doc;
  }

  // The same canonical form of a document from SQL (queuecast.snapshot()).
  static json::object canonical_of(const std::string& topic, json::object sql_doc) {
    topic_state state(topic);
    state.reset(sql_doc);
    return state.canonical();
  }

 private:
  std::string topic_;
  bool queue_topic_;
  bool paused_ = false;
  std::map<std::int64_t, json::object> items_;
};

}  // namespace qc_chaos
