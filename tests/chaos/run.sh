#!/usr/bin/env bash
# The chaos test: two real daemons, writers and injected faults (see
# chaos_test.cpp). QUEUECAST_TEST_SEED replays a run; QUEUECAST_CHAOS_SECONDS
# sets how long faults are injected (default 45).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${QUEUECAST_BUILD:-$here/../../build}"
export QUEUECASTD="${QUEUECASTD:-$build/queuecastd}"
export QUEUECAST_TEST_LOGS="$build/test-logs"
mkdir -p "$QUEUECAST_TEST_LOGS"
"$build/chaos_test" --gtest_brief=1
