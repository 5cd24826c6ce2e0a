#!/usr/bin/env python3
"""The Markdown section of bench/commit_scaling.sh from its result lines.

    commit_scaling_table.py TPS LATENCY SECONDS ROUNDS CLIENTS COMMITS FLUSH WORKERS HISTORY PAGES LOCK

TPS: one pgbench run per line (variant=CLUSTER:DB sync= clients= round= tps=).
LATENCY: one bench/doorbell_latency run per line (round= cluster= then its own
fields). FLUSH: "OPS_PER_S USECS" of pg_test_fsync's fdatasync. WORKERS: the
databases with a doorbell worker in the preloaded cluster (comma-separated).
HISTORY: "VARIANT=ROWS ..." history rows with op UPDATE at the end. PAGES: the
clusters' huge_pages (on or off). LOCK: queuecast.commit_order_stats() over each
preloaded capture run, one per line (sync= clients= round= acquisitions=
contended= wait_ms= hold_ms= long_holds=). Ratios compare variants of the same run: each
against bare of its own cluster, synchronous_commit and client count.
"""
import datetime
import os
import platform
import statistics
import sys

NAMES = {
    "plain:bare": "bare",
    "plain:capture": "capture, not preloaded (doorbell in the transaction)",
    "plain:naive": "naive PL/pgSQL `pg_notify` row trigger",
    "plain:plpgsql": "PL/pgSQL commit-order alternative",
    "preload:bare": "bare, preloaded cluster",
    "preload:capture": "capture, preloaded (doorbell worker)",
}
# Targets of issue 12 (with the worker): (description, numerator, denominator, sync, clients, minimum)
TARGETS = [
    ("capture / bare, synchronous_commit = on", "preload:capture", "preload:bare", "on", 4, 0.80),
    ("capture / bare, synchronous_commit = on", "preload:capture", "preload:bare", "on", 16, 0.80),
    ("capture / bare, synchronous_commit = off", "preload:capture", "preload:bare", "off", 4, 0.75),
    ("capture / bare, synchronous_commit = off", "preload:capture", "preload:bare", "off", 16, 0.75),
    ("capture / naive `pg_notify` trigger, synchronous_commit = on", "preload:capture", "plain:naive",
     "on", 16, 1.5),
]


def fields(line):
    return dict(f.split("=", 1) for f in line.split())


def main():
    tps_path, latency_path, seconds, rounds, clients, commits, flush, workers, history, pages, lock_path = \
        sys.argv[1:12]
    seconds = float(seconds)
    client_list = [int(c) for c in clients.split()]
    runs = {}
    by_round = {}
    for line in open(tps_path):
        f = fields(line)
        runs.setdefault((f["variant"], f["sync"], int(f["clients"])), []).append(float(f["tps"]))
        by_round[(f["variant"], f["sync"], int(f["clients"]), f["round"])] = float(f["tps"])
    tps = {key: statistics.median(values) for key, values in runs.items()}

    def ratio(variant, sync, n):
        bare = variant.split(":")[0] + ":bare"
        return tps[(variant, sync, n)] / tps[(bare, sync, n)]

    out = [
        "## Commit scaling: fsync on, synchronous_commit on and off (issue 12)",
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
        f"`bench/commit_scaling.sh {seconds:g} {rounds} \"{clients}\" {commits}`: pgbench (`-j 2 -M prepared`), "
        "one single-row `UPDATE` per transaction of a random one of 10 000 `queuecast.phases` rows that really "
        "changes it (`attempts = attempts + 1, title = 'x' || random()`), "
        f"{seconds:g} s runs, median of {rounds} round{'s' if rounds != '1' else ''} alternating between the variants. Two throwaway "
        "clusters with `fsync = on` on the same disk, one with `shared_preload_libraries = 'queuecast'` "
        "(the doorbell worker), one without; `bare` is measured in both, and each ratio is against `bare` "
        "of the same cluster, setting and client count. No session LISTENs during these runs. "
        + ("Both clusters run with `huge_pages = on` (huge pages reserved for the run; "
           "`huge-pages-ab` compares the two page sizes)."
           if pages == "on" else
           "Both clusters run with `huge_pages = off`: the kernel's 4 kB pages, a fresh Debian's default "
           "(`huge-pages-ab` compares the two page sizes)."),
        "",
    ]
    ops, usecs = flush.split()
    line = (f"What a flush costs here: `pg_test_fsync -s 1` does {float(ops):.0f} `fdatasync`s of one 8 kB "
            f"write per second ({float(usecs) / 1000:.2f} ms each)")
    if ("plain:bare", "on", 1) in tps:
        one = tps[("plain:bare", "on", 1)]
        line += f"; bare with 1 client and `synchronous_commit = on` commits {one:.0f} times a second " \
                f"({1000 / one:.2f} ms per commit)"
    out += [line + ".", ""]

    out.append("| variant | synchronous_commit | " + " | ".join(f"{n} client{'s' if n != 1 else ''}: tps (/ bare)" for n in client_list) + " |")
    out.append("|---|---|" + "---|" * len(client_list))
    for sync in ("on", "off"):
        for variant, name in NAMES.items():
            cells = []
            for n in client_list:
                if (variant, sync, n) not in tps:
                    cells.append("-")
                elif variant.endswith(":bare"):
                    cells.append(f"{tps[(variant, sync, n)]:.0f}")
                else:
                    cells.append(f"{tps[(variant, sync, n)]:.0f} ({ratio(variant, sync, n):.2f})")
            out.append(f"| {name} | {sync} | " + " | ".join(cells) + " |")

    out += ["", "Targets (with the worker):", ""]
    for description, num, den, sync, n, minimum in TARGETS:
        if (num, sync, n) not in tps or (den, sync, n) not in tps:
            out.append(f"- {description}, {n} clients >= {minimum:.2f}: not measured in this run")
            continue
        value = tps[(num, sync, n)] / tps[(den, sync, n)]
        verdict = "met" if value >= minimum else "**not met**"
        out.append(f"- {description}, {n} clients >= {minimum:.2f}: {value:.2f}, {verdict}")

    out += ["", "Capture / bare with the worker, round by round (the preloaded cluster keeps its history "
            "from run to run):", ""]
    for sync in ("on", "off"):
        for n in client_list:
            rounds_seen = sorted({r for (v, s_, c, r) in by_round if v == "preload:capture" and s_ == sync
                                  and c == n}, key=int)
            cells = [f"{by_round[('preload:capture', sync, n, r)] / by_round[('preload:bare', sync, n, r)]:.2f}"
                     for r in rounds_seen if ("preload:bare", sync, n, r) in by_round]
            if cells:
                out.append(f"- {sync}, {n} client{'s' if n != 1 else ''}: {', '.join(cells)}")

    lock = {}
    for line in open(lock_path):
        f = fields(line)
        entry = lock.setdefault((f["sync"], int(f["clients"])), [0.0] * 5)
        for i, name in enumerate(("acquisitions", "contended", "wait_ms", "hold_ms", "long_holds")):
            entry[i] += float(f[name])
    if lock:
        out += [
            "",
            "The commit-order lock in the preloaded capture runs (`queuecast.commit_order_stats()` before and "
            "after each run, summed over the rounds): the mean hold, the share of commits that found the lock "
            "taken, the mean wait per capturing commit, holds of 1 ms or more per 1 000 commits, and the share "
            "of the run's time the lock was held.",
            "",
            "| synchronous_commit | clients | commits | mean hold | contended | wait per commit | long holds "
            "/ 1 000 | lock busy |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for (sync, n), (acq, contended, wait_ms, hold_ms, long_holds) in sorted(lock.items()):
            if acq == 0:
                continue
            busy = hold_ms / (seconds * 1000 * int(rounds))
            out.append(f"| {sync} | {n} | {acq:.0f} | {hold_ms * 1000 / acq:.1f} µs | {contended / acq:.0%} | "
                       f"{wait_ms * 1000 / acq:.1f} µs | {long_holds * 1000 / acq:.1f} | {busy:.0%} |")

    latency = {}
    lines = [line.rstrip() for line in open(latency_path)]
    for line in lines:
        f = fields(line)
        latency.setdefault((f["cluster"], int(f["writers"])), []).append(f)

    def median(rows, name):
        return statistics.median(float(r[name]) for r in rows)

    out += [
        "",
        f"Doorbell latency, from a change's `committed_at` to the receipt of the first NOTIFY that announces "
        f"it (`bench/doorbell_latency`: {commits} single-change commits per run through `queuecast.enqueue`, "
        "each writer pausing 2 ms between commits, `synchronous_commit = on`, a listener on the same "
        f"cluster), medians of {rounds} round{'s' if rounds != '1' else ''}:",
        "",
    ]
    doorbell = {"preload": "doorbell worker (preloaded)", "plain": "in the writer's transaction (not preloaded)"}
    for (cluster, writers), rows in sorted(latency.items(), key=lambda kv: (kv[0][1], kv[0][0] != "preload")):
        out.append(
            f"- {writers} writer{'s' if writers != 1 else ''}, {doorbell[cluster]}: p50 "
            f"{median(rows, 'p50_us') / 1000:.2f} ms, p99 {median(rows, 'p99_us') / 1000:.2f} ms, max "
            f"{median(rows, 'max_us') / 1000:.1f} ms ({median(rows, 'bells'):.0f} bells for "
            f"{median(rows, 'commits'):.0f} commits)")

    expected = {v: sum(t * seconds for (var, _, _), ts in runs.items() if var == v for t in ts)
                for v in ("plain:capture", "preload:capture", "plain:plpgsql")}
    counts = fields(history)
    out += [
        "",
        "History rows of `UPDATE`s at the end (pgbench's transactions, as tps x seconds summed over the "
        "runs, in parentheses): "
        + ", ".join(f"{NAMES[v]} {int(counts[v])} ({expected[v]:.0f})" for v in expected)
        + f". Doorbell workers running in the preloaded cluster after the latency runs, for the databases: "
        f"{workers.replace(',', ', ')}.",
        "",
        "Latency runs:",
        "",
        "```",
        *lines,
        "```",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
