#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell, the commit-time capture path, TRUNCATE capture and the ordering
# invariant (built by CMake into build/). They run twice: in the harness's
# cluster, where writers ring the doorbell in their own transactions, and in
# a second cluster with shared_preload_libraries = 'queuecast', where the
# doorbell worker rings for them (with its own tests, doorbell_test).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../harness/test_env.sh"

capture_tests() {
  "$QUEUECAST_BUILD/extension_notify_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_commit_path_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_truncate_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_invariant_test" --gtest_brief=1
}

echo "--- doorbell in the writers' transactions"
capture_tests

echo "--- doorbell worker (shared_preload_libraries = 'queuecast')"
(
  source "$here/../harness/pgcluster.sh"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-preloaded.XXXXXX")"
  trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
  pgcluster_start "$tmp/cluster" "shared_preload_libraries = 'queuecast'"
  capture_tests
  "$QUEUECAST_BUILD/extension_doorbell_test" --gtest_brief=1
)
