// The dashboard's files (web/), embedded into the binary at build time by
// cmake/embed_web.cmake, so queuecastd needs no installed data directory.
#pragma once

#include <string_view>

namespace queuecast {

struct web_asset {
  std::string_view name;  // path below web/, e.g. "index.html"
  std::string_view content;
  const char* content_type;
};

const web_asset* find_web_asset(std::string_view name);

}  // namespace queuecast
