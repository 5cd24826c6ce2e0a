#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster that has queuecast
# available (the extension must be installed with `make install` first).
# Usage: tests/harness/with_cluster.sh CMD [ARGS...]
# The cluster is removed on exit, whatever happens to CMD.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=pgcluster.sh
source "$here/pgcluster.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-test.XXXXXX")"
trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
pgcluster_start "$tmp/cluster"
"$@"
