# shellcheck shell=bash
# Where the test binaries and queuecastd are, and where their logs go.
# Sourced by the suites' run.sh scripts.
QUEUECAST_BUILD="${QUEUECAST_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
export QUEUECAST_BUILD
export QUEUECASTD="${QUEUECASTD:-$QUEUECAST_BUILD/queuecastd}"
export QUEUECAST_TEST_LOGS="$QUEUECAST_BUILD/test-logs"
mkdir -p "$QUEUECAST_TEST_LOGS"
