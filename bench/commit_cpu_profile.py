#!/usr/bin/env python3
"""CPU per commit by who spent it, for bench/commit_cpu_profile.sh.

    commit_cpu_profile.py classify ROLES < perf-script-output > CLASSES
    commit_cpu_profile.py table DIR FREQUENCY SECONDS ROUNDS CLIENTS LIBRARY_MD5 OPTIONS HUGE_PAGES

classify reads `perf script -F comm,pid,ip,sym,dso` with call chains (a
header line, the frames leaf first, a blank line) and counts each sample
under one class; ROLES maps server pids to their backend_type (the processes
that are not client backends). It prints "class<TAB>samples" lines.

table reads DIR/{bare,capture}.CLIENTS.ROUND.{classes,commits} and prints
the Markdown section: CPU microseconds per commit for each class.
"""
import collections
import datetime
import os
import platform
import sys

# Kernel time by the system call (or fault) its call chain entered through.
SYSCALLS = [
    ("sched_yield", "kernel: sched_yield (retrying the commit-order lock)"),
    ("epoll_wait", "kernel: epoll_wait (sleeping, being woken)"),
    ("sys_kill", "kernel: kill (waking a sleeper: SetLatch)"),
    ("page_fault", "kernel: page faults"),
    ("pwrite", "kernel: pwrite, fdatasync (WAL, data files)"),
    ("fdatasync", "kernel: pwrite, fdatasync (WAL, data files)"),
    ("sendto", "kernel: send, recv (the client's socket)"),
    ("recvfrom", "kernel: send, recv (the client's socket)"),
    ("futex", "kernel: futex, semop (PostgreSQL's lightweight locks)"),
    ("semop", "kernel: futex, semop (PostgreSQL's lightweight locks)"),
    ("semtimedop", "kernel: futex, semop (PostgreSQL's lightweight locks)"),
]
KERNEL_OTHER = "kernel: other (interrupts, scheduling, other calls)"
ORDER = [
    "pgbench (the client, all of it)",
    "backends: PostgreSQL and libc",
    "backends: queuecast.so",
    "backends: sched_yield in libc",
] + list(dict.fromkeys(name for _, name in SYSCALLS)) + [
    KERNEL_OTHER,
    "WAL writer",
    "doorbell worker (queuecast doorbell)",
    "other server processes",
    "anything else on the machine",
]


def server_role(roles, pid):
    kind = roles.get(pid)
    if kind is None:
        return None
    if kind == "walwriter":
        return "WAL writer"
    if kind == "queuecast doorbell":
        return "doorbell worker (queuecast doorbell)"
    return "other server processes"


def backend_class(frames):
    """frames: (symbol, dso) leaf first, for a sample of a client backend."""
    if frames and "kernel" in frames[0][1]:
        for symbol, _ in frames:
            for key, name in SYSCALLS:
                if key in symbol:
                    return name
        return KERNEL_OTHER
    if frames and "queuecast.so" in frames[0][1]:
        return "backends: queuecast.so"
    if frames and "sched_yield" in frames[0][0]:
        return "backends: sched_yield in libc"
    return "backends: PostgreSQL and libc"


def classify(roles_path, lines):
    roles = {}
    with open(roles_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and parts[0].isdigit():
                roles[int(parts[0])] = parts[1]
    counts = collections.Counter()
    header, frames = None, []

    def flush():
        if header is None:
            return
        comm, pid = header
        if comm == "pgbench":
            counts[ORDER[0]] += 1
        elif comm == "postgres":
            counts[server_role(roles, pid) or backend_class(frames)] += 1
        else:
            counts["anything else on the machine"] += 1

    for line in lines:
        if not line.strip():
            flush()
            header, frames = None, []
            continue
        if header is None:
            # "comm pid" (a comm may hold spaces: the pid is the last field)
            fields = line.split()
            try:
                header = (" ".join(fields[:-1]), int(fields[-1]))
            except (ValueError, IndexError):
                header = (line.strip(), -1)
            continue
        # "ip symbol (dso)"
        text = line.strip().split(None, 1)
        rest = text[1] if len(text) == 2 else ""
        cut = rest.rfind(" (")
        frames.append((rest[:cut], rest[cut + 2:-1]) if cut >= 0 else (rest, ""))
    flush()
    for name, n in counts.items():
        print(f"{name}\t{n}")


def read_runs(directory, db, clients, rounds):
    samples, commits = collections.Counter(), 0
    for r in range(1, rounds + 1):
        base = os.path.join(directory, f"{db}.{clients}.{r}")
        with open(base + ".commits") as f:
            commits += int(f.read().split()[0])
        with open(base + ".classes") as f:
            for line in f:
                name, n = line.rstrip("\n").split("\t")
                samples[name] += int(n)
    return samples, commits


def table(directory, frequency, seconds, rounds, client_counts, library, options, pages):
    usec_per_sample = 1e6 / frequency
    out = [
        "## Where a capturing commit's CPU goes (issue 12)",
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores) by "
        f"`bench/commit_cpu_profile.sh {seconds} {rounds} \"{' '.join(map(str, client_counts))}\"`: "
        f"`perf record -a -g -F {frequency:.0f}` (cpu-clock) around each pgbench run, {seconds} s, "
        "one single-row UPDATE per transaction that changes its row, `synchronous_commit = off`, "
        f"fsync on, one preloaded cluster with `huge_pages = {pages}`, library md5 {library}"
        + (f", settings `{options}`" if options else "")
        + "; rounds alternate bare and capture and are summed. "
        "Each figure is CPU microseconds per commit (samples on all CPUs x sampling period / "
        "commits pgbench made), so bare and capture compare although their throughputs differ. "
        "Kernel time is split by the system call its call chain went through.",
        "",
    ]
    for clients in client_counts:
        bare, bare_commits = read_runs(directory, "bare", clients, rounds)
        cap, cap_commits = read_runs(directory, "capture", clients, rounds)
        per = lambda counts, commits, name: counts[name] * usec_per_sample / commits
        tps_bare = bare_commits / (seconds * rounds)
        tps_cap = cap_commits / (seconds * rounds)
        out += [
            f"**{clients} clients**: bare {tps_bare:.0f} tps, capture {tps_cap:.0f} tps "
            f"(capture / bare {tps_cap / tps_bare:.2f}).",
            "",
            "| CPU per commit (µs) | bare | capture | capture − bare |",
            "|---|---|---|---|",
        ]
        total_b = total_c = 0.0
        for name in ORDER:
            b, c = per(bare, bare_commits, name), per(cap, cap_commits, name)
            total_b, total_c = total_b + b, total_c + c
            if b < 0.05 and c < 0.05:
                continue
            out.append(f"| {name} | {b:.1f} | {c:.1f} | {c - b:+.1f} |")
        out.append(f"| **all** | **{total_b:.1f}** | **{total_c:.1f}** | **{total_c - total_b:+.1f}** |")
        out.append("")
    print("\n".join(out).rstrip())


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "classify":
        classify(sys.argv[2], sys.stdin)
    elif len(sys.argv) == 10 and sys.argv[1] == "table":
        table(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
              [int(c) for c in sys.argv[6].split()], sys.argv[7], sys.argv[8], sys.argv[9])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
