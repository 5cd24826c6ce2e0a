#!/usr/bin/env python3
"""The Markdown section of bench/fanout_realistic.sh from its result lines.

    fanout_realistic_table.py LINES CLIENTS PHASES RATE SECONDS SERVERS SAT_RATE SAT_SECONDS

Each line of LINES is one run: key=value pairs from the script (kind,
server, phases, status, server_cpu_s, server_hwm_kb) followed by
bench/fanout_client's. Ratios compare runs of the same invocation: a
queuecastd row's p99 with the relay's p99 at the same clients and phases,
its deliveries per second with the limit writer's.
"""
import datetime
import os
import platform
import sys

NAMES = {
    "qd-compat": "queuecastd `/api/v1/ws/queue` (compat)",
    "qd-snapshot": "queuecastd `/ws` snapshot",
    "qd-delta": "queuecastd `/ws` delta",
    "qd-sse-snapshot": "queuecastd `/sse` snapshot (Server-Sent Events)",
    "qd-sse-delta": "queuecastd `/sse` delta (Server-Sent Events)",
    "relay": "baseline relay (Node, pg + ws)",
    "limit": "limit writer (epoll)",
    "limit-delta": "limit writer (epoll), delta-sized messages",
}


def name(server):
    # qd-snapshot-t1: the same endpoint with --threads 1.
    base, _, threads = server.rpartition("-t")
    if server.startswith("qd-") and base in NAMES and threads.isdigit():
        return f"{NAMES[base]}, {threads} thread{'s' if threads != '1' else ''}"
    return NAMES.get(server, server)


def ms(us):
    us = int(us)
    return "n/a" if us < 0 else f"{us / 1000:.1f} ms" if us < 1_000_000 else f"{us / 1e6:.2f} s"


def kib(b):
    b = float(b)
    if b < 1024:
        return f"{b:.0f} B"
    return f"{b / 1024:.0f} KiB" if b < 10 * 1024 * 1024 else f"{b / 1024 / 1024:.0f} MiB"


def row(r):
    if "p50_us" not in r:
        return f"| {name(r['server'])} | {r['clients']} | {r['phases']} | — | no result ({r['status']}) |" + " |" * 11
    updates = int(r["updates"])
    return (
        f"| {name(r['server'])} | {r['clients']} | {r['phases']} | {kib(r['msg_bytes'])} | "
        f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} | "
        f"{int(r['delivered']):,} / {int(r['expected']):,} | {float(r['delivered_per_s']):,.0f} | "
        f"{r['never_seen']} / {updates} (unreached {r['never_reached']}) | "
        f"{r['final_ok']} / {r['clients']} | {kib(r['wire_bytes_per_client'])} | "
        f"{r['server_cpu_s']} s | {int(r['server_hwm_kb']) / 1024:.0f} MiB | "
        f"{r['gen_cpu_s']} s | {r['connected']}/{r['clients']}, closes {r['closes']}, {r['status']} |"
    )


HEADER = [
    "| server, endpoint / mode | clients | phases | msg size | p50 | p99 | max | delivered / expected | "
    "delivered/s | updates no client saw (nor passed) | clients ending on the last update | "
    "bytes per client | server CPU | peak RSS | generator CPU | connected, closes, status |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def main():
    path, clients, phases, rate, seconds, servers, sat_rate, sat_seconds = sys.argv[1:9]
    runs = []
    for line in open(path):
        runs.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
    latency = [r for r in runs if r["kind"] == "latency"]
    saturation = [r for r in runs if r["kind"] == "saturation"]

    parse = any(r.get("parse") == "1" for r in runs)
    env = " ".join(f"{k}={os.environ[k]}" for k in ("QUEUECAST_SECTION", "FANOUT_CLIENT_PARSE") if os.environ.get(k))
    out = [
        f"## Fan-out at realistic message sizes (issue 11): {clients} clients, {phases} phases"
        + (", clients parsing JSON" if parse else ""),
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
        f"`{env + ' ' if env else ''}bench/fanout_realistic.sh \"{clients}\" \"{phases}\" {rate} {seconds} \"{servers}\" {sat_rate} {sat_seconds}`: "
        f"N WebSocket clients of `bench/fanout_client` (raw epoll, one thread) on one queue of P phases, "
        f"{rate} single-row `UPDATE`s per second for {seconds} s (`synchronous_commit=off`); server, generator "
        "and PostgreSQL share the same cores. Latency is from just before each `UPDATE` to each client's receipt "
        "of a message carrying it (wall clock, same machine), over every (client, update) receipt. "
        "A state skipped by conflation is not a receipt: in snapshot modes *delivered* below *expected* is "
        "legitimate as long as every client ends on the last update. \"Updates no client saw\": no client "
        "received that state; \"nor passed\": no client received it or any later state. Bytes per client are "
        "TCP payload after the upgrade (frame headers included). Server CPU is utime+stime over the "
        "generator's run (connecting included); peak RSS is VmHWM of a server started fresh for the row. "
        "Generator CPU is fanout_client's own over the UPDATEs and the drain: near the run's length, the "
        "clients, not the server, were the bottleneck.",
        "",
        "The baseline relay and the limit writer are driven by a PL/pgSQL trigger on `queuecast.phases` "
        "(`bench/baseline_relay/trigger.sql`, installed only for their rows) and re-read "
        "`queuecast.snapshot(q)` once per notification (the limit writer once per batch of notifications); "
        "their snapshot is `jsonb` text, a little larger than queuecastd's document.",
        "",
        "`fanout_client` reads every socket as fast as one thread can (no JSON parse, no copy of whole "
        "frames). The conflating servers' latency depends on that: with slower readers the kernel's socket "
        "buffers fill with stale snapshots that conflation in user space never sees (issue 11), so a slower "
        "client (bench/ws_loadgen's Boost.Beast clients, say) sees far higher figures from the same server. "
        "The machine is shared: repeat a run before trusting a difference of less than 2x.",
        "",
        "Every `UPDATE` writes the same row (the marker phase). A delta that carries several commits (read "
        "in one batch) has one upsert per commit, and each counts as a receipt; in snapshot modes a message "
        "reflects exactly one update.",
        "",
    ] + HEADER
    if parse:
        out[-2:-2] = [
            "**In this run every client parses every message with Boost.JSON** (`FANOUT_CLIENT_PARSE=1`): "
            "slower readers, as real clients are.",
            "",
        ]
    out += [row(r) for r in latency]

    def find(rows, server, c, p):
        for r in rows:
            if r["server"] == server and r["clients"] == c and r["phases"] == p and "p99_us" in r:
                return r
        return None

    ratios = []
    for r in latency:
        if not r["server"].startswith("qd-") or "p99_us" not in r:
            continue
        relay = find(latency, "relay", r["clients"], r["phases"])
        limit = find(latency, "limit", r["clients"], r["phases"])
        limit_delta = find(latency, "limit-delta", r["clients"], r["phases"])
        floor_ratio = (f"{int(r['p99_us']) / max(1, int(limit_delta['p99_us'])):.2f}"
                       if limit_delta and int(limit_delta["p99_us"]) > 0 and "delta" in r["server"]
                       else "n/a")
        p99_ratio = f"{int(r['p99_us']) / max(1, int(relay['p99_us'])):.2f}" if relay else "n/a"
        rate_ratio = (f"{float(r['delivered_per_s']) / max(1.0, float(limit['delivered_per_s'])):.2f}"
                      if limit else "n/a")
        ratios.append(f"| {name(r['server'])} | {r['clients']} | {r['phases']} | {p99_ratio} | "
                      f"{floor_ratio} | {rate_ratio} |")
    if ratios:
        out += [
            "",
            "Ratios, same run: queuecastd's p99 over the baseline relay's (target ≤ 0.5 for compat and "
            "snapshot mode), and its delivered messages per second over the limit writer's at this rate "
            "(below saturation this mostly reflects conflation, see the saturation table); delta mode's "
            "p99 over the limit writer's with delta-sized messages, when that ran.",
            "",
            "| queuecastd | clients | phases | p99 / relay p99 | p99 / delta-sized limit p99 | "
            "delivered/s / limit writer's |",
            "|---|---|---|---|---|---|",
        ] + ratios
    sse = []
    for r in latency:
        ws = find(latency, r["server"].replace("qd-sse-", "qd-"), r["clients"], r["phases"])
        if not r["server"].startswith("qd-sse-") or "p99_us" not in r or not ws:
            continue
        cpu = float(ws["server_cpu_s"])
        sse.append(f"| {name(r['server'])} | {r['clients']} | {r['phases']} | "
                   f"{int(r['p99_us']) / max(1, int(ws['p99_us'])):.2f} | "
                   f"{float(r['server_cpu_s']) / cpu if cpu > 0 else float('nan'):.2f} | "
                   f"{float(r['delivered_per_s']) / max(1.0, float(ws['delivered_per_s'])):.2f} |")
    if sse:
        out += [
            "",
            "Server-Sent Events against WebSocket, same run, same clients, same mode: p99, the server's CPU "
            "time and deliveries per second of `/sse` over those of `/ws`.",
            "",
            "| `/sse` | clients | phases | p99 / `/ws` p99 | server CPU / `/ws` | delivered/s / `/ws` |",
            "|---|---|---|---|---|---|",
        ] + sse
    if saturation:
        out += [
            "",
            f"Saturation: {sat_rate} `UPDATE`s per second for {sat_seconds} s, more than fan-out can deliver, "
            "so delivered/s is each server's ceiling here (conflating servers only: the relay buffers without "
            "bound and delta mode closes a client that falls behind, by design). Target: queuecastd ≥ 60 % "
            "of the limit writer.",
            "",
        ] + HEADER + [row(r) for r in saturation]
        limit = next((r for r in saturation if r["server"] == "limit" and "delivered_per_s" in r), None)
        if limit:
            out += [""]
            for r in saturation:
                if r["server"].startswith("qd-") and "delivered_per_s" in r:
                    out.append(
                        f"- {name(r['server'])}: {float(r['delivered_per_s']):,.0f} deliveries/s = "
                        f"{float(r['delivered_per_s']) / max(1.0, float(limit['delivered_per_s'])):.2f} × "
                        f"the limit writer's {float(limit['delivered_per_s']):,.0f}/s."
                    )
    out += ["", "Every run's raw line (fanout_client's fields):", "", "```"]
    out += [line.rstrip() for line in open(path)]
    out += ["```"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
