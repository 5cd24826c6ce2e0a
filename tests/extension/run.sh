#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell, the commit-time capture path, TRUNCATE capture, the ordering
# invariant and crash recovery (built by CMake into build/).
#   The ordering invariant runs in six modes (the writers' synchronous_commit
#   off, on, remote_apply; constraints deferred or immediate) against a
#   cluster of its own with a synchronous streaming standby.
#   The crash test kills a cluster of its own, with fsync = on (the shared
#   cluster runs with fsync = off and must survive for the other suites).
# QUEUECAST_PRELOAD=1 (tests/harness/pgcluster.sh) runs them all with the
# library in shared_preload_libraries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../harness/test_env.sh"
"$QUEUECAST_BUILD/extension_notify_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_commit_path_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_truncate_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_commit_wait_test" --gtest_brief=1
"$here/../harness/with_cluster.sh" --standby \
  "$QUEUECAST_BUILD/extension_invariant_test" --gtest_brief=1
"$here/../harness/with_cluster.sh" --conf "fsync = on" \
  "$QUEUECAST_BUILD/extension_crash_test" --gtest_brief=1

