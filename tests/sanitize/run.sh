#!/usr/bin/env bash
# queuecastd's integration tests against a daemon built with AddressSanitizer
# and UndefinedBehaviorSanitizer (tests/sanitize/build.sh: g++,
# -DQUEUECAST_SANITIZE=ON, into build-asan/). Any report fails the suite: the
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
"$root/tests/sanitize/build.sh"
echo "sanitized build: $(($(date +%s) - start)) s"

logs="$QUEUECAST_TEST_LOGS/sanitize"
rm -rf "$logs" && mkdir -p "$logs"
export QUEUECAST_TEST_LOGS="$logs"
export QUEUECASTD="$build/queuecastd"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# sharding_test's subscribe/unsubscribe rounds, fewer than the plain daemon's
# 70: they look for a memory error on that path here, while the order they
# check is the plain suite's. 70 rounds against this daemon took 45 s alone
# and more than 190 s with the machine busy.
export QUEUECAST_SHARDING_ROUNDS=20

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
