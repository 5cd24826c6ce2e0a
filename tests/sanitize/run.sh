#!/usr/bin/env bash
# queuecastd's integration tests against a daemon built with AddressSanitizer
# and UndefinedBehaviorSanitizer (g++, -DQUEUECAST_SANITIZE=ON, into
# build-asan/, reused when present). Any report fails the suite: the
# sanitizers stop the process at the first one (halt_on_error, no recovery),
# and the daemon logs they are written to are scanned afterwards, since a
# daemon that dies of a report may only show up as a test timing out.
# Leaks are found when a daemon exits by itself (SIGTERM tests); the
# fixture SIGKILLs the others.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/tests/harness/test_env.sh"
build="$root/build-asan"

start=$(date +%s)
if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  # -O0 -g1: the quickest build (it is most of this suite's time on 2 cores),
  # with file:line in reports.
  cmake -S "$root" -B "$build" -DQUEUECAST_SANITIZE=ON -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="-O0 -g1" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
fi
# Only the daemon is sanitized: the tests are the regular build's binary
# (tests/daemon/run.sh built it), pointed at this daemon with QUEUECASTD.
cmake --build "$build" -j2 --target queuecastd >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }
echo "sanitized build: $(($(date +%s) - start)) s"

logs="$QUEUECAST_TEST_LOGS/sanitize"
rm -rf "$logs" && mkdir -p "$logs"
export QUEUECAST_TEST_LOGS="$logs"
export QUEUECASTD="$build/queuecastd"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

status=0
"$QUEUECAST_BUILD/daemon_integration_tests" --gtest_brief=1 || status=$?

pattern='ERROR: AddressSanitizer|runtime error:|LeakSanitizer'
if grep -lE "$pattern" "$logs"/* >/dev/null 2>&1; then
  status=1
  for log in $(grep -lE "$pattern" "$logs"/*); do
    echo "--- sanitizer report in $log"
    grep -E -A25 "$pattern" "$log" | head -40
  done
fi
echo "sanitize: $(ls "$logs" | wc -l) daemon logs scanned, $(($(date +%s) - start)) s in all"
exit "$status"
