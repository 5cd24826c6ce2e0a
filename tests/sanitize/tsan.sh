#!/usr/bin/env bash
# The daemon's integration tests against a ThreadSanitizer build of
# queuecastd (build-tsan/): the sessions run on several threads
# (net/shards.hpp) and share the hub and the store behind one lock
# (net/shared_hub.hpp); a data race between them is reported here.
# Not part of `make check` (a third build of the daemon would not fit CI's
# time); run it after changing anything that crosses threads:
#   tests/sanitize/tsan.sh [gtest filter]
# Exit status: non-zero when a test fails or TSan reported anything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build-tsan"
filter="${1:-sharding_test.*:daemon_test.*:backpressure_test.*:gate_test.*:tls_test.*:feed_test.*:resilience_test.*:doorbell_test.*}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1 -fsanitize=thread" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
fi
cmake --build "$build" -j2 --target queuecastd >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
cmake --build "$root/build" -j2 --target daemon_integration_tests >/dev/null
reports="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-tsan.XXXXXX")"
status=0
QUEUECASTD="$build/queuecastd" TSAN_OPTIONS="log_path=$reports/report second_deadlock_stack=1" \
  "$root/tests/harness/with_cluster.sh" bash -c \
  "source '$root/tests/harness/test_env.sh'; '$root/build/daemon_integration_tests' --gtest_filter='$filter'" ||
  status=$?
if compgen -G "$reports/report*" >/dev/null; then
  echo "ThreadSanitizer reported (in $reports):" >&2
  head -60 "$reports"/report* >&2
  exit 1
fi
rm -rf "$reports"
exit "$status"
