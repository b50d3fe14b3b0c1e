#!/usr/bin/env bash
# Pipelined steps (issue 33, BENCHMARKS.md "Pipelined steps"): 4 orbsim machines x 35 steps
# (20 commands, 5 puts, 5 directories, 5 lines; ORBSIM_FAULTS=latency=20, so every orbctl
# call costs 20 ms), a first apply and the median of RUNS no-change re-applies: orbdeploy
# with pipelining, with --no-pipeline and with --no-channel, and pyinfra with the
# pyinfra-orbstack connector (installed into a venv under target/) doing the same 35
# operations. For orbdeploy it prints the requests per machine (the report's
# `timings.requests`, the most of the machines), for every tool the orbctl processes
# started (orbsim's call log) and the wall time.
#
# Usage: scripts/bench-pipeline.sh [RUNS]   (default 5; scripts/bench.sh runs it too)
# Needs Linux, root, and what scripts/setup.sh installs. Deletes every machine it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. scripts/setup.sh >/dev/null
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build -q --release --workspace --bins
venv=$PWD/target/bench-pyinfra-orbstack
[ -x "$venv/bin/pyinfra" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'pyinfra-orbstack==0.11.0'; }
work=$(mktemp -d /tmp/orbdeploy-pipe.XXXXXX)
bin=$work/bin
mkdir -p "$bin"
ln -s "$PWD/target/release/orbsim" "$bin/orbctl"
export ORBSIM_HOME=$work/home
export PATH=$bin:$PATH   # pyinfra-orbstack runs `orbctl` from PATH
orbctl=$bin/orbctl
od="$PWD/target/release/orbdeploy"
cleanup() { ORBSIM_FAULTS="" "$orbctl" delete -f -a >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
calls() { [ -f "$work/log" ] && wc -l < "$work/log" || echo 0; }

# The mix: per group of 7 steps a directory, a put and a line, with 4 commands between them.
ops=$work/ops
mkdir -p "$ops/files"
{
  echo "machines:"
  for i in 1 2 3 4; do echo "  b$i: {}"; done
  echo "operations: ops.yaml"
} > "$ops/inv.yaml"
{
  for g in 1 2 3 4 5; do
    echo "- { name: dir $g, directory: { path: /tmp/pbench/d$g } }"
    echo "- { name: cmd $g a, shell: \"echo $g > /dev/null\" }"
    echo "- { name: put $g, put: { content: \"file $g\\n\", dest: /tmp/pbench/d$g/f } }"
    echo "- { name: cmd $g b, shell: \"test -d /tmp/pbench\" }"
    echo "- { name: line $g, line: { path: /tmp/pbench/lines, line: \"key$g=value$g\" } }"
    echo "- { name: cmd $g c, command: [true] }"
    echo "- { name: cmd $g d, shell: \"uname > /dev/null\" }"
  done
} > "$ops/ops.yaml"
test "$(grep -c 'name:' "$ops/ops.yaml")" = 35
for g in 1 2 3 4 5; do printf 'file %s\n' "$g" > "$ops/files/f$g"; done
{
  echo "from pyinfra.operations import files, server"
  for g in 1 2 3 4 5; do
    echo "files.directory(name='dir $g', path='/tmp/pbench/d$g')"
    echo "server.shell(name='cmd $g a', commands=['echo $g > /dev/null'])"
    echo "files.put(name='put $g', src='$ops/files/f$g', dest='/tmp/pbench/d$g/f')"
    echo "server.shell(name='cmd $g b', commands=['test -d /tmp/pbench'])"
    echo "files.line(name='line $g', path='/tmp/pbench/lines', line='key$g=value$g')"
    echo "server.shell(name='cmd $g c', commands=['true'])"
    echo "server.shell(name='cmd $g d', commands=['uname > /dev/null'])"
  done
} > "$ops/deploy.py"
echo "hosts = ['@orbstack/b1', '@orbstack/b2', '@orbstack/b3', '@orbstack/b4']" > "$ops/inventory.py"

for i in 1 2 3 4; do ORBSIM_FAULTS="" "$orbctl" create debian "b$i" >/dev/null; done
reset() { for i in 1 2 3 4; do ORBSIM_FAULTS="" "$orbctl" run -m "b$i" -w / rm -rf /tmp/pbench; done; }

# One measured run: prints "seconds calls requests-per-machine".
measure() { # command...
  rm -f "$work/log" "$work/report.json"
  local t0 t1 req=-
  t0=$(now)
  ORBSIM_FAULTS=latency=20 ORBSIM_LOG=$work/log "$@" > "$work/out" 2>&1 || { cat "$work/out"; echo "FAILED: $*" >&2; exit 1; }
  t1=$(now)
  [ -f "$work/report.json" ] && req=$(jq '[.machines[].timings.requests] | max' "$work/report.json")
  echo "$(elapsed "$t0" "$t1") $(calls) $req"
}

printf '\nMachine: %s, %s cores, load average %s\n' "$(uname -sr)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '4 machines x 35 steps (20 commands, 5 puts, 5 directories, 5 lines); 20 ms per orbctl call; re-apply: median of %s runs\n\n' "$runs"
printf '%-22s %10s %8s %10s %12s %8s %10s\n' tool "first (s)" calls "req/mach" "re-apply (s)" calls "req/mach"
declare -A med
for tool in pipelined no-pipeline no-channel pyinfra-orbstack; do
  case $tool in
    pipelined) cmd=("$od" --orbctl "$orbctl" apply "$ops/inv.yaml" --progress never --report "$work/report.json") ;;
    no-pipeline) cmd=("$od" --orbctl "$orbctl" apply "$ops/inv.yaml" --progress never --no-pipeline --report "$work/report.json") ;;
    no-channel) cmd=("$od" --orbctl "$orbctl" apply "$ops/inv.yaml" --progress never --no-channel --report "$work/report.json") ;;
    pyinfra-orbstack) cmd=(env -C "$ops" "$venv/bin/pyinfra" -y --parallel 4 inventory.py deploy.py) ;;
  esac
  reset
  read -r first first_calls first_req < <(measure "${cmd[@]}")
  times=(); re_calls=0; re_req=-
  for _ in $(seq 1 "$runs"); do
    read -r t c q < <(measure "${cmd[@]}")
    times+=("$t"); re_calls=$c; re_req=$q
  done
  med[$tool]=$(printf '%s\n' "${times[@]}" | median)
  printf '%-22s %10s %8s %10s %12s %8s %10s\n' "$tool" "$first" "$first_calls" "$first_req" "${med[$tool]}" "$re_calls" "$re_req"
done
printf '\nre-apply, pyinfra-orbstack / orbdeploy pipelined: %.1fx; / orbdeploy --no-pipeline: %.1fx\n' \
  "$(echo "${med[pyinfra-orbstack]} / ${med[pipelined]}" | bc -l)" "$(echo "${med[pyinfra-orbstack]} / ${med[no-pipeline]}" | bc -l)"
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
