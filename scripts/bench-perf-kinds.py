#!/usr/bin/env python3
"""Where a benchmark run's CPU went, by kind of process (BENCHMARKS.md, "A fleet").

Usage: bench-perf-kinds.py PERF_DATA HOSTS [FREQ]

PERF_DATA is a system-wide `perf record -e cpu-clock -F FREQ -a` of one run (every CPU
sampled FREQ times a second, idle included, so samples / FREQ are CPU seconds); processes
that started and ended during the run are in it too, which per-process accounting from
/proc misses. Prints CPU seconds and milliseconds per host for each kind, and how many
programs of that kind were started (exec) during the run. A process is known by its
command name only (perf's comm, 15 characters): the hosts are orbsim machines on the same
kernel, so a name says what a process is, not which machine it ran on.
"""

import collections
import re
import subprocess
import sys

# (kind, names or name prefixes ending in '*'); the first that matches wins.
KINDS = [
    ("orbdeploy (controller)", ["orbdeploy"]),
    ("ssh clients and masters (controller)", ["ssh"]),
    ("sshd (hosts)", ["sshd", "sshd-session"]),
    ("sudo (hosts)", ["sudo"]),
    ("sh: login shells, agents (hosts)", ["sh", "dash", "bash"]),
    ("Ansible (controller)", ["ansible-playboo", "ansible*"]),
    ("pyinfra (controller)", ["pyinfra"]),
    ("python3 (hosts: Ansible's modules)", ["python3*"]),
    ("idle", ["swapper"]),
    ("perf itself", ["perf", "perf-exec"]),
    ("kernel threads", ["kworker*", "ksoftirqd*", "rcu_*", "migration*", "kcompactd*", "khugepaged", "kswapd*", "jbd2*", "irq/*"]),
    ("not the benchmark (other engineers' builds and tests)",
     ["rustc", "cargo", "cc", "cc1", "ld", "collect2", "as", "lto*", "opt *", "clippy-driver", "rustdoc",
      "build-script-*", "rust-analyzer*", "ssh-keygen", "suite-*", "orbsim-*", "sccache"]),
]


def kind_of(name):
    if "::" in name:
        # A test harness's threads are named after their tests.
        return KINDS[-1][0]
    for kind, names in KINDS:
        for n in names:
            if (n.endswith("*") and name.startswith(n[:-1])) or name == n:
                return kind
    return "other processes (the steps' commands on the hosts, orbsim, ...)"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, hosts = sys.argv[1], int(sys.argv[2])
    freq = float(sys.argv[3]) if len(sys.argv) > 3 else 997.0
    report = subprocess.run(
        ["perf", "report", "-i", data, "--sort", "comm", "--stdio", "-n", "-q"],
        capture_output=True, text=True, check=True).stdout
    samples = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(.*?)\s*$", line)
        if m:
            samples[m.group(2)] += int(m.group(1))
    script = subprocess.run(
        ["perf", "script", "-i", data, "--show-task-events", "-F", "comm"],
        capture_output=True, text=True, check=True).stdout
    execs = collections.Counter()
    for line in script.splitlines():
        m = re.search(r"PERF_RECORD_COMM exec: (.*):\d+/\d+", line)
        if m:
            execs[m.group(1)] += 1
    by_kind = collections.Counter()
    started = collections.Counter()
    names = collections.defaultdict(collections.Counter)
    for name, n in samples.items():
        by_kind[kind_of(name)] += n
        names[kind_of(name)][name] += n
    for name, n in execs.items():
        started[kind_of(name)] += n
    total = sum(samples.values())
    print(f"{'kind':<56} {'cpu s':>7} {'ms/host':>8} {'execs':>6} {'/host':>6}  largest names")
    for kind, n in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        top = ", ".join(f"{nm} {c / freq:.2f}" for nm, c in names[kind].most_common(4))
        print(f"{kind:<56} {n / freq:7.2f} {1000 * n / freq / hosts:8.1f} {started[kind]:6d} "
              f"{started[kind] / hosts:6.1f}  {top}")
    print(f"{'all (2 CPUs x the run, idle included)':<56} {total / freq:7.2f}")


if __name__ == "__main__":
    main()
