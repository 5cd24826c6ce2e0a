#!/usr/bin/env bash
# libFuzzer harnesses of the daemon's parsers (tests/fuzz/*_fuzz.cpp), built
# by tests/fuzz/build.sh (clang++-14, build-fuzz/) and run for a bounded
# time each from the seed corpus in tests/fuzz/corpus/<name>. Any crash,
# leak or sanitizer report fails the suite; the input that caused it is kept
# as build-fuzz/fuzz-artifacts/<name>-crash-* (rerun: <binary> <that file>).
#   QUEUECAST_FUZZ_SECONDS   seconds per harness (default 10; make check stays within its time)
#   QUEUECAST_FUZZ_TARGETS   the harnesses to run (default: all four)
# Needs no database; under tests/run.sh it ignores the cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build-fuzz"
seconds="${QUEUECAST_FUZZ_SECONDS:-10}"
read -r -a targets <<<"${QUEUECAST_FUZZ_TARGETS:-client_message history_row http_request token}"

# The largest input worth trying per harness: a few KB of JSON for messages
# and history rows; for HTTP past the 16 KiB header limit; for tokens past
# max_credential_bytes (8192).
declare -A max_len=([client_message]=4096 [history_row]=4096 [http_request]=20000 [token]=9000)

"$root/tests/fuzz/build.sh"

# Leaks count as failures; every report stops the run with a non-zero exit.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
failed=0
declare -a summary
for name in "${targets[@]}"; do
  binary="$build/tests/fuzz/${name}_fuzz"
  work="$build/fuzz-corpus/$name"  # new inputs land here, the seeds stay as committed
  log="$build/fuzz-logs/$name.log"
  mkdir -p "$work"
  status=0
  "$binary" -max_total_time="$seconds" -max_len="${max_len[$name]:-4096}" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
    "$work" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  corpus="$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)"
  reports="$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal' "$log" || true)"
  if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ] || [ -z "$runs" ]; then
    failed=1
    summary+=("$(printf '%-15s FAILED (exit %s, %s reports); log %s' "$name" "$status" "$reports" "$log")")
    grep -E -A30 'ERROR:|runtime error:|deadly signal' "$log" | head -60 || tail -30 "$log"
    ls "$build/fuzz-artifacts/$name-"* 2>/dev/null || true
  else
    summary+=("$(printf '%-15s runs %-9s corpus %-10s crashes 0' "$name" "$runs" "$corpus")")
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
