#!/usr/bin/env bash
# queuecastd: unit tests (pure logic) and integration tests (the real daemon
# process over real sockets against the harness's PostgreSQL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../harness/test_env.sh"
"$QUEUECAST_BUILD/daemon_unit_tests" --gtest_brief=1
"$QUEUECAST_BUILD/daemon_integration_tests" --gtest_brief=1
