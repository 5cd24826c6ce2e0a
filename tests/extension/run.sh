#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell, the commit-time capture path, TRUNCATE capture, commits waiting
# for their flush, the ordering invariant and crash recovery (built by CMake
# into build/). Everything runs twice: with the doorbell rung in the writers'
# own transactions (the library not preloaded), and with
# shared_preload_libraries = 'queuecast', where the doorbell worker rings for
# them (plus the worker's own tests, doorbell_test).
#   The ordering invariant runs in six modes (the writers' synchronous_commit
#   off, on, remote_apply; constraints deferred or immediate) against a
#   cluster of its own with a synchronous streaming standby.
#   The crash test kills a cluster of its own, with fsync = on (the shared
#   cluster runs with fsync = off and must survive for the other suites).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../harness/test_env.sh"

# In the current cluster (PGHOST/PGPORT).
shared_cluster_tests() {
  "$QUEUECAST_BUILD/extension_notify_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_commit_path_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_truncate_test" --gtest_brief=1
  "$QUEUECAST_BUILD/extension_commit_wait_test" --gtest_brief=1
}
# Each in a cluster of its own (QUEUECAST_PRELOAD decides the library's mode).
own_cluster_tests() {
  "$here/../harness/with_cluster.sh" --standby \
    "$QUEUECAST_BUILD/extension_invariant_test" --gtest_brief=1
  "$here/../harness/with_cluster.sh" --conf "fsync = on" \
    "$QUEUECAST_BUILD/extension_crash_test" --gtest_brief=1
}

echo "--- doorbell in the writers' transactions"
shared_cluster_tests
QUEUECAST_PRELOAD=0 own_cluster_tests

echo "--- doorbell worker (shared_preload_libraries = 'queuecast')"
(
  export QUEUECAST_PRELOAD=1
  source "$here/../harness/pgcluster.sh"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-preloaded.XXXXXX")"
  trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
  pgcluster_start "$tmp/cluster"
  shared_cluster_tests
  "$QUEUECAST_BUILD/extension_doorbell_test" --gtest_brief=1
  own_cluster_tests
)
