#!/usr/bin/env bash
# What one single-phase commit costs the daemon (store update, and the frames
# the hub builds per subscriber kind) for queues of growing size: runs
# bench/snapshot_cost.cpp (see there) from this tree and, given OLD (a git
# revision), from that revision's tree built beside it, in alternating rounds
# so both see the same machine. Both must send byte-identical frames (the
# program's digest); the script fails otherwise. No database.
#
# Usage: bench/snapshot_cost.sh [OLD] [rounds] ["phases..."]
# Prints a Markdown table and writes the "snapshot-cost" section of bench/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
old_rev="${1:-}"
rounds="${2:-3}"
sizes="${3:-50 500 5000}"
build="${QUEUECAST_BUILD:-$root/build}"
jobs="${QUEUECAST_BUILD_JOBS:-1}"

[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target snapshot_cost >/dev/null
new_bin="$build/snapshot_cost"

old_bin=
if [ -n "$old_rev" ]; then
  # The old tree as committed, plus this bench program and its target (the
  # program uses only APIs both have). Kept between runs: the first build of
  # queuecast_core takes minutes.
  commit="$(git -C "$root" rev-parse --short "$old_rev^{commit}")"
  old_root="$build/snapshot-cost-old/$commit"
  if [ ! -f "$old_root/src/CMakeLists.txt" ]; then
    mkdir -p "$old_root/src"
    git -C "$root" archive "$commit" | tar -x -C "$old_root/src"
    printf '\nadd_executable(snapshot_cost EXCLUDE_FROM_ALL bench/snapshot_cost.cpp)\n%s\n' \
      'target_link_libraries(snapshot_cost PRIVATE queuecast_core)' >>"$old_root/src/CMakeLists.txt"
  fi
  cp "$here/snapshot_cost.cpp" "$old_root/src/bench/snapshot_cost.cpp"
  [ -f "$old_root/build/CMakeCache.txt" ] ||
    cmake -S "$old_root/src" -B "$old_root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$old_root/build" -j "$jobs" --target snapshot_cost >/dev/null
  old_bin="$old_root/build/snapshot_cost"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/queuecast-snapshot-cost.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for round in $(seq 1 "$rounds"); do
  # shellcheck disable=SC2086  # sizes are words
  timeout 300 "$new_bin" $sizes | sed 's/^/build=new /' >>"$tmp/runs"
  if [ -n "$old_bin" ]; then
    # shellcheck disable=SC2086
    timeout 300 "$old_bin" $sizes | sed 's/^/build=old /' >>"$tmp/runs"
  fi
  echo "snapshot_cost: round $round of $rounds done" >&2
done

status=0
python3 - "$tmp/runs" "$rounds" "$old_rev" "${old_rev:+$commit}" >"$tmp/section.md" <<'EOF' || status=$?
import datetime, os, platform, statistics, sys
runs_file, rounds, old_rev, old_commit = sys.argv[1:5]
runs = [dict(kv.split("=", 1) for kv in line.split()) for line in open(runs_file)]
fields = ["store_us", "delta_us", "snapshot_us", "compat_us", "all_us"]
builds = ["new", "old"] if old_rev else ["new"]
med = {}
for b in builds:
    for r in runs:
        if r["build"] != b:
            continue
        key = (b, int(r["phases"]))
        med.setdefault(key, {"rows": []})["rows"].append(r)
digests_ok = True
for key, m in med.items():
    for f in fields:
        m[f] = statistics.median(float(r[f]) for r in m["rows"])
    m["bytes"] = m["rows"][0]["snapshot_bytes"]
    m["row"] = m["rows"][0]["row_bytes"]
    m["cache"] = max(int(r["cache_bytes_per_phase"]) for r in m["rows"])
    m["digests"] = {r["digest"] for r in m["rows"]}
if old_rev:
    for (b, n), m in med.items():
        if b == "new" and m["digests"] != med[("old", n)]["digests"]:
            digests_ok = False
label = {"new": "this tree",
         "old": f"`{old_rev}`" if old_commit.startswith(old_rev) else f"`{old_rev}` ({old_commit})"}
print("## Cost of one commit against queue size (issue 11)")
print()
print(f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
      f"`bench/snapshot_cost.sh {old_rev} {rounds}`: one queue of N phases, then single-phase status "
      "changes shaped as the capture writes them (`UPDATE`, data = id, status, updated_at), each applied "
      "by `store::apply` and published by `hub::publish` with fake subscribers, no database or sockets. "
      "CPU time of the daemon's thread per commit, median over the commits (400 at 50 and 500 phases, "
      f"100 at 5 000), then median of {rounds} rounds"
      + (" alternating between the two builds" if old_rev else "") + ". "
      "Columns: the store update; the hub's work for one delta-mode, one snapshot-mode and one compat "
      "(`/api/v1/ws/queue`) subscriber, each alone; and for nine subscribers, three of each kind. "
      "In brackets: × the same build's 50-phase figure.")
print()
print("| build | phases | snapshot frame bytes | store µs | delta µs | snapshot µs | compat µs | all 9 µs |")
print("|---|---|---|---|---|---|---|---|")
for b in builds:
    sizes = sorted(n for (bb, n) in med if bb == b)
    base = med[(b, sizes[0])]
    for n in sizes:
        m = med[(b, n)]
        cells = " | ".join(f"{m[f]:.1f} (×{m[f] / max(base[f], 1e-9):.1f})" for f in fields)
        print(f"| {label[b]} | {n} | {m['bytes']} | {cells} |")
print()
print("What still grows with the queue: a snapshot-mode or compat frame carries the whole document, "
      "so each commit makes its bytes once per format (not per subscriber). Without the cache that "
      "meant copying and serialising every phase; with it, walking the queue's display order and "
      "copying each phase's cached text (only the changed phase is serialised again), which at "
      "5 000 phases runs at memory speed with cold caches plus the page faults of a fresh "
      "1.7 MB frame. The store's apply path is the same code in both builds; its column differs "
      "most likely by the heap and caches the hub's work leaves behind (the old hub frees a whole "
      "document of JSON objects per commit; not measured apart).")
print()
for b in builds:
    sizes = sorted(n for (bb, n) in med if bb == b)
    m = med[(b, sizes[-1])]
    print(f"Memory, {label[b]}: a phase row (`tables::phase_row`) is {m['row']} bytes; "
          + (f"the cached text adds {m['cache']} heap bytes per phase ({sizes[-1]} phases) "
             "once the queue's document has been made." if m["cache"] else "no cached text."))
print()
if old_rev:
    print("Frames: " + ("every frame of both builds byte-identical (same digest at every size)."
                        if digests_ok else "**the builds' frames DIFFER**."))
if not digests_ok:
    sys.exit(3)
EOF
cat "$tmp/section.md"
if [ "$status" != 0 ]; then
  echo "snapshot_cost: the two builds sent different frames; RESULTS.md left as it was" >&2
  exit 1
fi
python3 "$here/write_results.py" markdown snapshot-cost <"$tmp/section.md"
