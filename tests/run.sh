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
#   tests/fuzz       libFuzzer harnesses of the daemon's parsers (clang, build-fuzz/)
#   tests/sanitize   the integration tests against an ASan+UBSan daemon (build-asan/)
#   tests/web        the JavaScript client and the dashboard in Chromium
# Usage: tests/run.sh [suite...]   (default: all)
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
[ "${#suites[@]}" -gt 0 ] || suites=(sql security lifecycle extension daemon fuzz sanitize chaos web)
declare -a summary
failed=0
for suite in "${suites[@]}"; do
  runner="$here/$suite/run.sh"
  if [ ! -x "$runner" ]; then
    summary+=("$(printf '%-10s missing (%s)' "$suite" "$runner")")
    failed=1
    continue
  fi
  echo "=== $suite"
  start=$(date +%s)
  if "$runner"; then status=ok; else status=FAILED; failed=1; fi
  summary+=("$(printf '%-10s %-6s %4ss' "$suite" "$status" "$(($(date +%s) - start))")")
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
