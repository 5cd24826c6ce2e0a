#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster that has queuecast
# available (the extension must be installed with `make install` first).
# Usage: tests/harness/with_cluster.sh [--conf LINE]... [--standby] CMD [ARGS...]
#   --conf LINE   an extra postgresql.conf line (e.g. "fsync = on")
#   --standby     also a streaming standby on loopback that the primary
#                 waits for (synchronous_standby_names); CMD gets STANDBY_PORT
# The clusters are removed on exit, whatever happens to CMD.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=pgcluster.sh
source "$here/pgcluster.sh"

conf=()
standby=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --conf) conf+=("$2"); shift 2 ;;
    --standby) standby=1; shift ;;
    *) break ;;
  esac
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-test.XXXXXX")"
trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
pgcluster_start "$tmp/cluster" ${conf[@]+"${conf[@]}"}
if [ "$standby" = 1 ]; then
  pgcluster_start_standby "$tmp/standby"
  pgcluster_sync_standby "$STANDBY_NAME"
fi
"$@"
