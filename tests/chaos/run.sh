#!/usr/bin/env bash
# The chaos test: two real daemons, writers and injected faults (see
# chaos_test.cpp). QUEUECAST_TEST_SEED replays a run; QUEUECAST_CHAOS_SECONDS
# sets how long faults are injected (default 45).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../harness/test_env.sh"
"$QUEUECAST_BUILD/chaos_test" --gtest_brief=1
