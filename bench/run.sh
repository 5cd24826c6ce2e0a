#!/usr/bin/env bash
# make bench: every benchmark; each writes its section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/capture_bench.sh" 8 3 "4 16"
"$here/fanout_bench.sh" 100 10
