#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell, the commit-time capture path, TRUNCATE capture and the ordering
# invariant (built by CMake into build/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../harness/test_env.sh"
"$QUEUECAST_BUILD/extension_notify_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_commit_path_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_truncate_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_commit_wait_test" --gtest_brief=1
"$QUEUECAST_BUILD/extension_invariant_test" --gtest_brief=1
