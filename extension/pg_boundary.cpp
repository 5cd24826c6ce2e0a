#include "pg_boundary.hpp"

namespace queuecast {

void raise_caught(ErrorData* pg, int sqlstate, const char* message, const char* hint) {
  if (pg) ReThrowError(pg);
  ereport(ERROR,
          (errcode(sqlstate), errmsg("queuecast: %s", message), hint[0] ? errhint("%s", hint) : 0));
  pg_unreachable();
}

}  // namespace queuecast
