#!/usr/bin/env bash
# Capture overhead: single-row UPDATE throughput on queuecast.phases, measured
# with pgbench in one run against three databases of one throwaway cluster:
#   bare     - the capture triggers disabled (no history, no NOTIFY)
#   capture  - queuecast's C++ capture
#   capture010 - the same with the 0.1.0 release (SQL and library, built from
#              git history), so a change's cost is measured in the same run
#   plpgsql  - the hand-written alternative with the same commit-order
#              guarantee: a deferred PL/pgSQL constraint trigger taking an
#              advisory xact lock, inserting row_to_json() history, pg_notify()
# Rounds alternate between the three so drift on this shared machine hits all
# of them alike; the median of the rounds is reported, as ratios to bare.
#
# Usage: bench/capture_bench.sh [seconds-per-run] [rounds] [client counts]
# Writes the "Capture overhead" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../tests/harness/pgcluster.sh"
source "$here/pgbench_lib.sh"

seconds="${1:-10}"
rounds="${2:-3}"
client_counts="${3:-4 16}"
rows=10000

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-bench.XXXXXX")"
trap 'pgcluster_stop; rm -rf "$tmp"' EXIT

setup_db() {  # db kind
  local db="$1" kind="$2"
  if [ "$kind" = capture010 ]; then
    # The 0.1.0 SQL objects with the 0.1.0 library, before anything is captured.
    bench_phases_db "$db" "$rows" "CREATE EXTENSION queuecast VERSION '0.1.0';
      CREATE OR REPLACE FUNCTION queuecast.capture() RETURNS trigger
        AS '$old_library', 'queuecast_capture' LANGUAGE C"
  else
    bench_phases_db "$db" "$rows"
  fi
  case "$kind" in
    bare) pgcluster_psql -d "$db" -c "ALTER TABLE queuecast.phases DISABLE TRIGGER capture" ;;
    plpgsql) pgcluster_psql -d "$db" -f "$here/plpgsql_capture.sql" ;;
  esac
}

measure() {  # label synchronous_commit clients -> prints "label bare capture capture010 plpgsql" medians
  local label="$1" sync="$2" clients="$3"
  local kind
  for kind in $kinds; do
    pgcluster_psql -d postgres -c "ALTER DATABASE $kind SET synchronous_commit = $sync"
    : >"$tmp/$kind.tps"
  done
  local round
  for round in $(seq "$rounds"); do
    for kind in $kinds; do
      bench_pgbench "$kind" "$clients" "$seconds" "$tmp/update.sql" >>"$tmp/$kind.tps"
    done
  done
  printf '%s' "$label"
  for kind in $kinds; do
    printf ' %s' "$(bench_median <"$tmp/$kind.tps")"
  done
  echo
}

# fsync on (test clusters turn it off): with synchronous_commit=on every
# commit really waits for its WAL flush, as in production.
kinds="bare capture capture010 plpgsql"
old_library="$("$here/../tools/build-release-library.sh" 0.1.0 "$tmp/v010")"
chmod 755 "$tmp"  # the server (user postgres when we are root) loads it from here
pgcluster_start "$tmp/cluster" "fsync = on" "max_wal_size = 4GB" "checkpoint_timeout = 30min"
cat >"$tmp/update.sql" <<SQL
\\set id random(1, $rows)
UPDATE queuecast.phases SET attempts = attempts + 1, updated_at = now() WHERE id = :id;
SQL
for kind in $kinds; do setup_db "$kind" "$kind"; done

echo "pgbench: ${seconds}s x ${rounds} rounds, clients: ${client_counts}, single-row UPDATE (median tps)"
results=()
for clients in $client_counts; do
  for sync in off on; do
    line="$(measure "${clients}-clients,synchronous_commit=$sync" "$sync" "$clients")"
    echo "$line"
    results+=("$line")
  done
done

# Sanity: the capture database really captured (one history row per UPDATE).
captured="$(psql -X -Atq -d capture -c "SELECT count(*) FROM queuecast.changes WHERE op = 'UPDATE'")"
alt_captured="$(psql -X -Atq -d plpgsql -c "SELECT count(*) FROM bench_history")"
old_captured="$(psql -X -Atq -d capture010 -c "SELECT count(*) FROM queuecast.changes WHERE op = 'UPDATE'")"
echo "history rows: capture=$captured capture010=$old_captured plpgsql=$alt_captured"

python3 "$here/write_results.py" capture "$seconds" "$rounds" "${client_counts// /,}" "$captured,$old_captured" "$alt_captured" "${results[@]}"
