// The library and the extension's SQL objects must be the same version: a
// new library on old SQL objects (or the reverse, after a package downgrade)
// would read tables whose shape it does not know.
#pragma once

namespace queuecast {

// Throws a capture_error saying what to run when the SQL objects installed in
// this database are not the version this library was built for. Checked once
// per backend; a mismatch is checked again on every call until fixed.
void require_matching_sql_version();

}  // namespace queuecast
