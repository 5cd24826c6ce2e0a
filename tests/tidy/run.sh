#!/usr/bin/env bash
# clang-tidy-14 over queuecastd's sources (daemon/**/*.cpp and, through
# HeaderFilterRegex, our own headers) with the checks chosen in .clang-tidy.
# Any finding fails the suite (WarningsAsErrors: '*'). Uses the compile
# commands of the regular build (build/compile_commands.json; configured here
# when missing, nothing is compiled). Needs no database; under tests/run.sh it
# ignores the cluster.
#   QUEUECAST_TIDY_JOBS   clang-tidy processes at once (default 2)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=SCRIPTDIR/../harness/test_env.sh
source "$root/tests/harness/test_env.sh"
build="$QUEUECAST_BUILD"
jobs="${QUEUECAST_TIDY_JOBS:-2}"

if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S "$root" -B "$build" >"$QUEUECAST_TEST_LOGS/tidy-configure.log" 2>&1 ||
    { cat "$QUEUECAST_TEST_LOGS/tidy-configure.log"; exit 1; }
fi

start=$(date +%s)
# The commands are g++'s: clang does not know some of its warning flags.
extra=(-extra-arg=-Wno-unknown-warning-option)
log="$QUEUECAST_TEST_LOGS/tidy.log"
status=0
if command -v run-clang-tidy-14 >/dev/null; then
  run-clang-tidy-14 -quiet -j "$jobs" -p "$build" "${extra[@]}" "^$root/daemon/.*\.cpp\$" \
    >"$log" 2>&1 || status=$?
else
  find "$root/daemon" -name '*.cpp' -print0 |
    xargs -0 -n1 -P "$jobs" clang-tidy-14 --quiet -p "$build" "${extra[@]}" \
      >"$log" 2>&1 || status=$?
fi

# The findings themselves (file:line: error: ... [check]), each once: a
# finding in a header shows up for every file that includes it.
# (run-clang-tidy-14 always asks for colours: strip them.)
findings="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^/.*:[0-9]+:[0-9]+: (error|warning):' |
  sort -u || true)"
count=0
[ -z "$findings" ] || count=$(wc -l <<<"$findings")
[ -z "$findings" ] || printf '%s\n' "$findings"
if [ "$status" -ne 0 ] && [ "$count" -eq 0 ]; then
  # clang-tidy failed without a finding: a compile error, a crash.
  tail -40 "$log"
fi
echo "tidy: $(find "$root/daemon" -name '*.cpp' | wc -l) files, $count findings, $(($(date +%s) - start)) s (log: $log)"
[ "$status" -eq 0 ] && [ "$count" -eq 0 ]
