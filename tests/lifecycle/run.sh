#!/usr/bin/env bash
# The extension's life beyond one database: pg_dump/pg_restore into a fresh
# cluster (dump_restore.t) and ALTER EXTENSION UPDATE from the previous
# release's library and SQL (upgrade.t). The harness's cluster is the source;
# this script starts a second throwaway cluster as the restore target.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../harness/test_env.sh"
source "$here/../harness/pgcluster.sh"
export PGOPTIONS="-c client_min_messages=warning"
export SOURCE_PGPORT="$PGPORT"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-lifecycle.XXXXXX")"
trap 'pgcluster_stop; rm -rf "$tmp"' EXIT
pgcluster_start "$tmp/target"
export TARGET_PGPORT="$PGPORT" PGPORT="$SOURCE_PGPORT" LIFECYCLE_TMP="$tmp"
chmod 777 "$tmp"  # dumps are written here by psql run as the caller
prove ${QUEUECAST_PROVE_FLAGS:-} "$here"/*.t
