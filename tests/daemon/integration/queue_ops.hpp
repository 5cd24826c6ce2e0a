// Applying delta ops to a queue document in tests, as docs/protocol.md
// tells a client to (independently of the daemon's own code).
#pragma once

#include <algorithm>
#include <boost/json.hpp>

namespace qc_test {

namespace json = boost::json;

// Applies delta ops to a queue document the way docs/protocol.md says.
inline void apply_ops(json::object& doc, const json::array& ops) {
  json::array& phases = doc["phases"].as_array();
  for (const auto& op_value : ops) {
    const json::object& op = op_value.as_object();
    std::string kind(op.at("op").as_string());
    if (kind == "paused") {
      doc["paused"] = op.at("value");
      continue;
    }
    std::int64_t id =
        kind == "upsert" ? op.at("phase").at("id").as_int64() : op.at("id").as_int64();
    auto it = std::find_if(phases.begin(), phases.end(),
                           [&](const json::value& p) { return p.at("id").as_int64() == id; });
    if (kind == "remove") {
      if (it != phases.end()) phases.erase(it);
    } else if (it != phases.end()) {
      *it = op.at("phase");
    } else {
      phases.push_back(op.at("phase"));
    }
  }
  doc["total"] = static_cast<std::int64_t>(phases.size());
}

inline json::array by_id(json::array phases) {
  std::sort(phases.begin(), phases.end(), [](const json::value& a, const json::value& b) {
    return a.at("id").as_int64() < b.at("id").as_int64();
  });
  return phases;
}

}  // namespace qc_test
