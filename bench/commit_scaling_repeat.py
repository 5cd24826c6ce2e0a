#!/usr/bin/env python3
"""Puts the targets of several commit_scaling.sh runs side by side (issue 12).

One run's ratios move by up to 0.15 between runs on a shared machine, so a
target counts as met only when it is met run after run. Each argument is the
section one run of bench/commit_scaling.sh wrote (its "Targets" list and its
round-by-round list are read); prints a Markdown table, one row per target.

    commit_scaling_repeat.py RUN1.md RUN2.md ...
"""
import re
import statistics
import sys

TARGET = re.compile(r"^- (capture / .*?) >= ([0-9.]+): ([0-9.]+), (met|\*\*not met\*\*)$")
ROUNDS = re.compile(r"^- (on|off), (\d+) clients?: ([0-9., ]+)$")


def read_run(path):
    targets, rounds = {}, {}
    with open(path, encoding="utf-8") as section:
        for line in section:
            line = line.rstrip("\n")
            match = TARGET.match(line)
            if match:
                targets[match.group(1)] = (float(match.group(2)), float(match.group(3)))
                continue
            match = ROUNDS.match(line)
            if match:
                values = [float(v) for v in match.group(3).split(",")]
                rounds[(match.group(1), int(match.group(2)))] = values
    if not targets:
        sys.exit(f"{path}: no 'Targets' list: is it a section commit_scaling.sh wrote?")
    return targets, rounds


def main(paths):
    runs = [read_run(p) for p in paths]
    names = list(runs[0][0])
    header = ["target"] + [f"run {i + 1}" for i in range(len(runs))] + ["met in", "lowest"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in names:
        goal = runs[0][0][name][0]
        missing = [p for p, run in zip(paths, runs) if name not in run[0]]
        if missing:
            sys.exit(f"{missing[0]}: no figure for the target '{name}'")
        values = [run[0][name][1] for run in runs]
        met = sum(1 for v in values if v >= goal)
        cells = [f"{name} >= {goal:.2f}"]
        cells += [f"{v:.2f}" if v >= goal else f"**{v:.2f}**" for v in values]
        cells += [f"{met} of {len(runs)}", f"{min(values):.2f}"]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Capture / bare with the worker, every round of every run (a run's figure is the median of its rounds):")
    print()
    for key in sorted(runs[0][1], key=lambda k: (k[0] != "on", k[1])):
        all_rounds = [v for run in runs for v in run[1].get(key, [])]
        by_run = "; ".join(", ".join(f"{v:.2f}" for v in run[1].get(key, [])) for run in runs)
        clients = f"{key[1]} client" + ("" if key[1] == 1 else "s")
        print(f"- {key[0]}, {clients}: {by_run} (median of all {statistics.median(all_rounds):.2f})")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
