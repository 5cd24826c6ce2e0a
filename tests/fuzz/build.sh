#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang++-14 into
# build-fuzz/, reused when present. tests/run.sh starts this in the
# background at idle priority while the database suites run; run.sh calls
# it again (a no-op when up to date).
#   QUEUECAST_FUZZ_TARGETS   the harnesses to build (default: all four)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build-fuzz"
read -r -a targets <<<"${QUEUECAST_FUZZ_TARGETS:-client_message history_row http_request token}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DQUEUECAST_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
fi
cmake --build "$build" -j2 --target "${targets[@]/%/_fuzz}" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
