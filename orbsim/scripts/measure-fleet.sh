#!/usr/bin/env bash
# What N running orbsim machines with sshd cost on this host (orbsim/README.md, "A fleet of
# machines"): time to make them (one prepared `openssh-server,python3` machine, stopped and
# cloned N-1 times, then all started and sshd started in each), and their memory — the
# resident set (RSS) and proportional set (PSS, shared pages divided among their users) of
# every process of the machines (orbsim's init and sshd), the machines' memory cgroups
# (`memory.usage_in_bytes` on v1, `memory.current` on v2: page cache of their layers
# included) and the host's MemAvailable before and after.
#
# Usage: orbsim/scripts/measure-fleet.sh [N]   (default 100). Needs root and a built
# image (the first create builds it). Uses a throw-away state home, so it never touches
# machines of another state home, and deletes what it makes, also on failure.
# MEASURE_FLEET_PROFILE=debug measures the debug build, MEASURE_FLEET_BIN=PATH that binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100}
profile=${MEASURE_FLEET_PROFILE:-release}
# MEASURE_FLEET_BIN=PATH measures that orbsim binary as it is (no cargo build).
bin=${MEASURE_FLEET_BIN:-}
if [ -z "$bin" ]; then
  if [ "$profile" = release ]; then cargo build -q --release -p orbsim; else cargo build -q -p orbsim; fi
  bin=$PWD/target/$profile/orbsim
fi
work=$(mktemp -d /tmp/orbsim-measure-fleet.XXXXXX)
ln -s "$bin" "$work/orbctl"
export ORBSIM_HOME=$work/home
orbctl=$work/orbctl
trap '"$orbctl" delete -f -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

avail_kb() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

sync
echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
before=$(avail_kb)
t0=$(now)
ORBSIM_PACKAGES=openssh-server,python3 "$orbctl" create debian m1 >/dev/null
t1=$(now)
"$orbctl" stop m1 >/dev/null
for i in $(seq 2 "$n"); do "$orbctl" clone m1 "m$i" >/dev/null; done
t2=$(now)
for i in $(seq 1 "$n"); do "$orbctl" start "m$i" >/dev/null 2>&1 || "$orbctl" start "m$i" >/dev/null; done
t3=$(now)
for i in $(seq 1 "$n"); do
  ip4=$("$orbctl" info "m$i" -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip4"])')
  "$orbctl" run -m "m$i" -u root -w / /usr/sbin/sshd -o "ListenAddress=$ip4:22"
done
t4=$(now)
sleep 2
after=$(avail_kb)

# The machines' inits and their memory cgroups, from the state home's state file.
read_state() { # FIELD -> one line per machine
  python3 - "$ORBSIM_HOME" "$1" <<'PY'
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/*.json"):
    for m in json.load(open(p)).get("machines", []):
        if sys.argv[2] == "pid" and m.get("init_pid"):
            print(m["init_pid"])
        elif sys.argv[2] == "cgroups":
            print("\n".join(c for c in m.get("cgroups", []) if "memory" in c or "/orbsim/" in c))
PY
}
inits=$(read_state pid)
# shellcheck disable=SC2086  # one pid a word
python3 - "$n" $inits <<'PY'
import os, sys
n = int(sys.argv[1])
inits = {int(p) for p in sys.argv[2:]}
children = {}
comm = {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        stat = open(f"/proc/{d}/stat").read()
    except OSError:
        continue
    rest = stat[stat.rindex(")") + 2:].split()
    children.setdefault(int(rest[1]), []).append(int(d))
    comm[int(d)] = stat[stat.index("(") + 1:stat.rindex(")")]
seen, todo = [], list(inits)
while todo:
    p = todo.pop()
    seen.append(p)
    todo.extend(children.get(p, []))
def rollup(p):
    out = {}
    try:
        for line in open(f"/proc/{p}/smaps_rollup"):
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1]] = int(parts[1])
    except OSError:
        pass
    return out
by = {}
for p in seen:
    r = rollup(p)
    b = by.setdefault(comm.get(p, "?"), [0, 0, 0])
    b[0] += 1; b[1] += r.get("Rss", 0); b[2] += r.get("Pss", 0)
print(f"machines: {n}, inits found: {len(inits)}, processes: {len(seen)}")
tr = tp = 0
for c, (k, r, s) in sorted(by.items()):
    print(f"  {c:<10} {k:4d} processes  RSS {r / 1024:7.1f} MB  PSS {s / 1024:7.1f} MB")
    tr += r; tp += s
print(f"  total RSS {tr / 1024:.1f} MB ({tr / n / 1024:.2f} MB per machine), "
      f"PSS {tp / 1024:.1f} MB ({tp / n / 1024:.2f} MB per machine)")
PY
cg=0
for d in $(read_state cgroups); do
  for f in "$d/memory.usage_in_bytes" "$d/memory.current"; do
    [ -f "$f" ] && cg=$((cg + $(cat "$f")))
  done
done
echo "  memory cgroups of the machines (their page cache included): $((cg / 1048576)) MB, $((cg / n / 1024)) kB per machine"
echo "  host MemAvailable: $((before / 1024)) MB before, $((after / 1024)) MB after: $(((before - after) / 1024)) MB used, $(((before - after) / n)) kB per machine"
echo "time: create the prepared machine $(secs "$t0" "$t1") s, $((n - 1)) clones $(secs "$t1" "$t2") s, $n starts $(secs "$t2" "$t3") s, $n sshd starts $(secs "$t3" "$t4") s"
du -sh "$ORBSIM_HOME" 2>/dev/null | awk '{ print "state home on disk: " $1 }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
