#!/usr/bin/env python3
"""Capture/bare table of the commit-order-lock benchmarks.

Usage: ratio_table.py RUNS KEY-HEADER KEY...
RUNS has one line per pair of pgbench runs: `key synchronous_commit bare_tps
capture_tps`. Prints one markdown row per key and setting: each pair's ratio,
their mean, and the mean capture tps (bench/commit_lock_ab.sh,
bench/commit_lock_spin.sh).
"""
import sys

runs_file, key_header, *keys = sys.argv[1:]
rows = [line.split() for line in open(runs_file)]
print(f"| {key_header} | synchronous_commit | capture / bare, each pair | mean | capture tps, mean |")
print("|---|---|---|---|---|")
for key in keys:
    for sync in ("off", "on"):
        pairs = [(float(b), float(c)) for k, s, b, c in rows if k == key and s == sync]
        if not pairs:
            continue
        ratios = [c / b for b, c in pairs]
        print(f"| {key} | {sync} | {', '.join(f'{r:.2f}' for r in ratios)} | "
              f"{sum(ratios) / len(ratios):.2f} | {sum(c for _, c in pairs) / len(pairs):.0f} |")
