#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell and the ordering invariant (built by CMake into build/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${QUEUECAST_BUILD:-$here/../../build}"
"$build/extension_notify_test" --gtest_brief=1
"$build/extension_invariant_test" --gtest_brief=1
