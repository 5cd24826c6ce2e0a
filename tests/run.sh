#!/usr/bin/env bash
# Runs every test suite against one throwaway PostgreSQL cluster and prints a
# summary line per suite. Each suite is a `run.sh` in its folder that creates
# its own database, so suites cannot disturb each other:
#   tests/sql        pgTAP suites (pg_prove)
#   tests/security   privileges and attacks, as real non-superuser login roles
#   tests/lifecycle  pg_dump/pg_restore round trip and extension upgrades
#   tests/extension  capture invariants with real concurrent connections
#   tests/daemon     queuecastd unit and integration tests
#   tests/tidy       clang-tidy-14 over the daemon's sources (.clang-tidy); run by
#                    `make lint`, not by default (it checks code, it tests nothing)
#   tests/chaos      two daemons, writers and injected faults
#   tests/web        the JavaScript client and the dashboard in Chromium
#   tests/fuzz       libFuzzer harnesses of the daemon's parsers (clang, build-fuzz/)
#   tests/sanitize   the integration tests against an ASan+UBSan daemon (build-asan/)
# Usage: tests/run.sh [suite...]   (default: all)
#   QUEUECAST_PREBUILD=0   build fuzz's and sanitize's daemons only when those
#                          suites start, not in the background from the start
#   QUEUECAST_SUITE_TIMEOUT=900   seconds a suite may take (the slowest takes
#                          about 4 minutes on 2 cores) before it is stopped,
#                          with every process it started, and counted failed
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${QUEUECAST_IN_CLUSTER:-}" ]; then
  QUEUECAST_IN_CLUSTER=1 exec "$here/harness/with_cluster.sh" "$here/run.sh" "$@"
fi

# Build directories the suites configure themselves (build-asan/,
# build-fuzz/) treat warnings as errors, like `make check`'s build/
# (CMakeLists.txt: QUEUECAST_WERROR).
export QUEUECAST_WERROR="${QUEUECAST_WERROR:-ON}"

suites=("$@")
# The suites that need their own builds (fuzz, sanitize) come last: those
# builds run in the background meanwhile (below).
[ "${#suites[@]}" -gt 0 ] || suites=(sql security lifecycle extension daemon chaos web fuzz sanitize)

# The sanitized daemon and the fuzz harnesses are two more builds of the
# daemon (about 4 CPU-minutes on 2 cores). The database suites mostly wait
# on PostgreSQL and sockets, so those builds start now, at idle priority
# (SCHED_IDLE: they get only CPU time nothing else wants, so tests with
# latency bounds are not slowed), and the suites that need them wait for
# them. A failed build is reported by the suite, which builds again.
prebuild_pid=
prebuild=()
for suite in "${suites[@]}"; do
  case "$suite" in sanitize | fuzz) prebuild+=("$here/$suite/build.sh") ;; esac
done
if [ "${#prebuild[@]}" -gt 0 ] && [ "${QUEUECAST_PREBUILD:-1}" = 1 ]; then
  mkdir -p "${QUEUECAST_BUILD:-$here/../build}"
  prebuild_log="${QUEUECAST_BUILD:-$here/../build}/prebuild.log"
  idle=(nice -n 19)
  if chrt --idle 0 true 2>/dev/null; then idle=(chrt --idle 0 nice -n 19); fi
  # Its own process group, so that it can be stopped whole when the run ends.
  setsid "${idle[@]}" bash -c 'for script; do "$script" || true; done' _ "${prebuild[@]}" \
    >"$prebuild_log" 2>&1 &
  prebuild_pid=$!
  trap '[ -z "$prebuild_pid" ] || kill -- "-$prebuild_pid" 2>/dev/null' EXIT
fi

# Runs one suite's runner under timeout(1), which puts it in a process
# group of its own: at the time limit the whole group is stopped, so a test
# that hangs, or a process it left behind holding a pipe, fails that suite
# instead of holding the whole run until CI's own limit ends it.
suite_limit="${QUEUECAST_SUITE_TIMEOUT:-900}"
interrupted=0
run_suite() {
  timeout --kill-after=30 "$suite_limit" "$1" &
  local pid=$! rc
  # Ctrl-C reaches this script, not the suite's own process group: pass it on.
  trap 'interrupted=1; kill -TERM "$pid" 2>/dev/null' INT TERM
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - INT TERM
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "=== stopped after ${suite_limit} s (QUEUECAST_SUITE_TIMEOUT): it hung or is far too slow" >&2
  fi
  return "$rc"
}

declare -a summary
failed=0
for suite in "${suites[@]}"; do
  case "$suite" in
    sanitize | fuzz)
      if [ -n "$prebuild_pid" ]; then
        echo "=== waiting for the background builds (log: $prebuild_log)"
        wait "$prebuild_pid" || true
        prebuild_pid=
      fi
      ;;
  esac
  runner="$here/$suite/run.sh"
  if [ ! -x "$runner" ]; then
    summary+=("$(printf '%-10s missing (%s)' "$suite" "$runner")")
    failed=1
    continue
  fi
  echo "=== $suite"
  start=$(date +%s)
  if run_suite "$runner"; then status=ok; else status=FAILED; failed=1; fi
  summary+=("$(printf '%-10s %-6s %4ss' "$suite" "$status" "$(($(date +%s) - start))")")
  if [ "$interrupted" = 1 ]; then
    summary+=("interrupted")
    break
  fi
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
