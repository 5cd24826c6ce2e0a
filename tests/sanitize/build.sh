#!/usr/bin/env bash
# Builds the ASan+UBSan daemon of tests/sanitize (g++, -DQUEUECAST_SANITIZE=ON)
# into build-asan/, reused when present. tests/run.sh starts this in the
# background at idle priority while the database suites run; run.sh calls
# it again (a no-op when up to date).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build-asan"
if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  # -O0 -g1: the quickest build (it is most of this suite's time on 2 cores),
  # with file:line in reports.
  cmake -S "$root" -B "$build" -DQUEUECAST_SANITIZE=ON -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="-O0 -g1" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
fi
# Only the daemon is sanitized: the tests are the regular build's binary,
# pointed at this daemon with QUEUECASTD.
cmake --build "$build" -j2 --target queuecastd >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
