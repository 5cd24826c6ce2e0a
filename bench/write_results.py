#!/usr/bin/env python3
"""Writes one benchmark's section of bench/RESULTS.md, leaving the others.

A section lives between <!-- NAME:begin --> and <!-- NAME:end --> markers;
it is replaced when present and appended otherwise.

    write_results.py markdown NAME < SECTION.md   (a script's own Markdown)
    write_results.py extract NAME                  (prints that section's body)
    write_results.py capture SECONDS ROUNDS CLIENTS CAPTURED,CAPTURED_010 ALT_CAPTURED "LABEL BARE CAPTURE CAPTURE_010 PLPGSQL"...
"""
import datetime
import os
import platform
import re
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def capture_section(args):
    seconds, rounds, clients, captured, alt_captured = args[:5]
    rows = [line.split() for line in args[5:]]
    captured, captured_010 = captured.split(",")
    out = [
        "## Capture overhead",
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()} "
        f"({os.cpu_count()} cores) by `bench/capture_bench.sh {seconds} {rounds} \"{clients.replace(',', ' ')}\"`: "
        f"pgbench with {clients.replace(',', ' and ')} clients (`-j 2 -M prepared`), single-row `UPDATE` of `queuecast.phases` "
        f"(10 000 rows), {seconds} s runs, median of {rounds} alternating rounds. "
        "Throughput in transactions per second; ratios are against `bare` of the same run. "
        "`capture 0.1.0` is the previous release (its SQL and its library, built from git history) "
        "in the same run, so the last change's cost is the difference of the two ratio columns.",
        "",
        "| clients, setting | bare tps | capture tps | capture 0.1.0 tps | PL/pgSQL tps | capture / bare | "
        "0.1.0 / bare | capture / PL/pgSQL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, bare, cap, old, plpg in rows:
        bare_f, cap_f, old_f, plpg_f = float(bare), float(cap), float(old), float(plpg)
        out.append(
            f"| {label.replace(',', ', ')} | {bare_f:.0f} | {cap_f:.0f} | {old_f:.0f} | {plpg_f:.0f} | "
            f"{cap_f / bare_f:.2f} | {old_f / bare_f:.2f} | {cap_f / plpg_f:.2f} |"
        )
    out += [
        "",
        "Targets (CPU-bound: `synchronous_commit=off`, 4 clients on 2 cores): capture / bare >= 0.70, "
        "capture / PL/pgSQL >= 1.5. The 16-client rows show how the commit-order lock behaves "
        "under more contention.",
        f"History rows written during the run: capture {captured}, capture 0.1.0 {captured_010}, "
        f"PL/pgSQL {alt_captured}.",
        "The cluster runs with `fsync=on`: with `synchronous_commit=on` each commit waits for "
        "its WAL flush, and capturing transactions hold the commit-order lock during that wait "
        "(see docs/capture.md, \"Costs\").",
    ]
    return "\n".join(out)


def fanout_section(args):
    rate, seconds, rss_kb = args[:3]
    rest = args[3:]
    stalls = []
    if "--" in rest:
        stalls = [dict(kv.split("=", 1) for kv in line.split()) for line in rest[rest.index("--") + 1:]]
        rest = rest[:rest.index("--")]
    runs = [dict(kv.split("=", 1) for kv in line.split()) for line in rest]
    base = runs[0]
    out = [
        "## Daemon fan-out (issue 3)",
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
        f"`bench/fanout_bench.sh {rate} {seconds}`: one queuecastd, N WebSocket clients of `bench/ws_loadgen` "
        f"subscribed to one queue in snapshot mode, {rate} commits/s for {seconds} s (`synchronous_commit=off`), "
        "daemon, load generator and PostgreSQL on the same 2 cores. Latency is from just before the writer's "
        "`UPDATE` to the client's receipt (same clock). Ratios are against the 1-client run of the same bench.",
        "",
        "| clients | delivered msgs/s | expected msgs | delivered msgs | p50 latency | p99 latency | max | p99 / 1-client p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        ratio = int(r["p99_us"]) / max(1, int(base["p99_us"]))
        out.append(
            f"| {r['clients']} | {float(r['delivered_per_s']):.0f} | {r['expected']} | {r['delivered']} | "
            f"{int(r['p50_us']) / 1000:.2f} ms | {int(r['p99_us']) / 1000:.2f} ms | {int(r['max_us']) / 1000:.1f} ms | "
            f"{ratio:.1f} |"
        )
    out += [
        "",
        f"Daemon peak resident memory over the whole run: {int(rss_kb) / 1024:.0f} MiB.",
        "Snapshot mode conflates: a client that falls behind receives the newest state and skips "
        "intermediate ones, so delivered can be below expected without anything being lost.",
        "Aim: p99 under 5 ms at 100 commits/s with 1 000 clients.",
    ]
    if stalls:
        out += [
            "",
            "Stalled clients: 200 clients subscribe and never read again while 100 readers follow the same "
            f"{rate} commits/s; daemon resident memory before and after each run:",
            "",
            "| stall | stalled clients | readers' p99 | RSS before | RSS after |",
            "|---|---|---|---|---|",
        ]
        for st in stalls:
            out.append(
                f"| {st['seconds']} s | {st['stalled']} | {int(st['p99_us']) / 1000:.2f} ms | "
                f"{int(st['rss_before_kb']) / 1024:.1f} MiB | {int(st['rss_after_kb']) / 1024:.1f} MiB |"
            )
    return "\n".join(out)


def markers(name):
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_section(name, body):
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n\n" \
        "Every figure here is written by a script under `bench/`; run `make bench` to refresh.\n"
    begin, end = markers(name)
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)


def section_body(name):
    text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    begin, end = markers(name)
    match = re.search(re.escape(begin) + "\n(.*?)\n" + re.escape(end), text, re.S)
    if not match:
        sys.exit(f"{RESULTS} has no section {name}")
    return match.group(1)


def main():
    name, args = sys.argv[1], sys.argv[2:]
    if name == "capture":
        replace_section(name, capture_section(args))
    elif name == "fanout":
        replace_section(name, fanout_section(args))
    elif name == "markdown":
        # A script that prints its own Markdown section: write_results.py markdown NAME < section.md
        replace_section(args[0], sys.stdin.read().strip())
    elif name == "extract":
        print(section_body(args[0]))
    else:
        sys.exit(f"unknown section {name}")


if __name__ == "__main__":
    main()
