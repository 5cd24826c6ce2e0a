#!/usr/bin/env bash
# queuecastd: unit tests (pure logic) and integration tests (the real daemon
# process over real sockets against the harness's PostgreSQL).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${QUEUECAST_BUILD:-$here/../../build}"
export QUEUECASTD="${QUEUECASTD:-$build/queuecastd}"
export QUEUECAST_TEST_LOGS="$build/test-logs"
mkdir -p "$QUEUECAST_TEST_LOGS"
"$build/daemon_unit_tests" --gtest_brief=1
"$build/daemon_integration_tests" --gtest_brief=1
