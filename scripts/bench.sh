#!/usr/bin/env bash
# orbdeploy's performance benchmark (BENCHMARKS.md): 1, 4 and 8 machines x 50 steps
# (10 each of shell, put, template, line, packages), on orbsim with ORBSIM_FAULTS=latency=20
# so that every orbctl call costs what a real one roughly does. For each size it prints
# the orbctl processes started (orbsim's call log) and the wall time of the first apply and
# of the no-change re-apply: with the channel, with --no-channel, and for a plain shell loop
# of one `orbctl run` per command (the floor of any one-shot tool). Then the per-step
# overhead on the channel and orbdeploy's peak memory, also with a 100 MB put.
# Then pipelined steps: scripts/bench-pipeline.sh (BENCHMARKS.md "Pipelined steps"); last,
# the ssh section: scripts/bench-ssh.sh (BENCHMARKS.md "SSH (issue 18)").
#
# Usage: scripts/bench.sh [RUNS]   (RUNS re-applies per size for the median, default 5)
# Needs Linux, root, and what scripts/setup.sh installs. Deletes every machine it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. scripts/setup.sh >/dev/null
{ command -v /usr/bin/time && command -v bc; } >/dev/null || { apt-get update -qq && apt-get install -y -qq time bc >/dev/null; }
cargo build -q --release --workspace --bins
work=$(mktemp -d /tmp/orbdeploy-bench.XXXXXX)
chmod 755 "$work"   # the replay script is read inside the machines as their default user
bin=$work/bin
mkdir -p "$bin"
ln -s "$PWD/target/release/orbsim" "$bin/orbctl"
export ORBSIM_HOME=$work/home
orbctl=$bin/orbctl
od="$PWD/target/release/orbdeploy"
cleanup() { ORBSIM_FAULTS="" "$orbctl" delete -f -a >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

# The operations: 50 steps.
ops=$work/ops
mkdir -p "$ops/files" "$ops/templates"
head -c 4096 /dev/urandom > "$ops/files/blob"
printf 'host={{ machine }}\nn={{ n }}\n' > "$ops/templates/t.j2"
{
  echo "steps:"
  for i in $(seq 1 10); do
    echo "  - { name: shell $i, shell: \"echo $i > /dev/null\" }"
    echo "  - { name: put $i, put: { src: files/blob, dest: /srv/bench/blob$i }, become: true }"
    echo "  - { name: template $i, template: { src: templates/t.j2, dest: /srv/bench/t$i.conf }, become: true }"
    echo "  - { name: line $i, line: { path: /srv/bench/lines, line: \"key$i=value$i\" }, become: true }"
    echo "  - { name: packages $i, packages: { names: [procps] } }"
  done
} > "$ops/ops.yaml"
sed -i '1a\  - { name: bench dir, directory: { path: /srv/bench }, become: true }' "$ops/ops.yaml"
# That is 51 steps with the directory; drop the last shell to keep 50.
sed -i '/name: shell 10,/d' "$ops/ops.yaml"
test "$(grep -c 'name:' "$ops/ops.yaml")" = 50

inventory() { # N -> inventory file for machines b1..bN
  local f=$ops/inv$1.yaml
  { echo "vars: { n: 1 }"; echo "machines:"; for i in $(seq 1 "$1"); do echo "  b$i: {}"; done; echo "operations: ops.yaml"; } > "$f"
  echo "$f"
}

calls() { [ -f "$work/log" ] && wc -l < "$work/log" || echo 0; }

# One measured run: prints "seconds calls".
measure() { # label command...
  shift
  rm -f "$work/log"
  local t0 t1
  t0=$(now)
  ORBSIM_FAULTS=latency=20 ORBSIM_LOG=$work/log "$@" > "$work/out" 2>&1 || { cat "$work/out"; echo "FAILED: $*" >&2; exit 1; }
  t1=$(now)
  echo "$(elapsed "$t0" "$t1") $(calls)"
}

reset_machines() { # remove what the operations made, so the next apply is a first apply
  for i in $(seq 1 "$1"); do ORBSIM_FAULTS="" "$orbctl" run -m "b$i" -u root -w / rm -rf /srv/bench; done
}

printf '\nMachine: %s, %s cores, %s\n' "$(uname -sr)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf 'orbsim latency per orbctl call: 20 ms; re-apply figures are medians of %s runs\n\n' "$runs"
printf '%-8s %-12s %10s %10s %12s %10s\n' machines path "first (s)" "calls" "re-apply (s)" calls
declare -A reapply
for n in 1 4 8; do
  for i in $(seq 1 "$n"); do
    ORBSIM_FAULTS="" "$orbctl" list -q | grep -x "b$i" >/dev/null || ORBSIM_FAULTS="" "$orbctl" create debian "b$i" >/dev/null
  done
  inv=$(inventory "$n")
  for path in channel no-channel; do
    flag=""; [ $path = no-channel ] && flag=--no-channel
    reset_machines "$n"
    read -r first first_calls < <(measure first "$od" --orbctl "$orbctl" apply "$inv" $flag --progress never)
    times=(); re_calls=0
    for r in $(seq 1 "$runs"); do
      read -r t c < <(measure re "$od" --orbctl "$orbctl" apply "$inv" $flag --progress never)
      times+=("$t"); re_calls=$c
    done
    med=$(printf '%s\n' "${times[@]}" | median)
    reapply[$n-$path]=$med
    printf '%-8s %-12s %10s %10s %12s %10s\n' "$n" "$path" "$first" "$first_calls" "$med" "$re_calls"
  done
  # The floor of the one-shot approach: one `orbctl run` per command, machines in parallel.
  loop() {
    for i in $(seq 1 "$n"); do
      ( for _ in $(seq 1 50); do "$orbctl" run -m "b$i" -w / true; done ) &
    done
    wait
  }
  read -r t c < <(measure loop bash -c "$(declare -f loop); n=$n; orbctl=$orbctl; loop")
  printf '%-8s %-12s %10s %10s %12s %10s\n' "$n" "shell loop" "-" "-" "$t" "$c"
done

# Per-step overhead on the channel: (re-apply wall time - the remote commands' own time) / 50
# on one machine. The remote commands' own time is measured by replaying, on the machine,
# every script the re-apply sent (ORBDEPLOY_TRACE_DIR keeps them), each run like the agent
# runs it (a subshell, with the probe library defined), timed inside the machine; the
# replay does the same remote work.
inv1=$(inventory 1)
cat > "$work/replay.sh" <<'REPLAY'
. "$3"   # the probe library, which the agent defines once per session
t0=$(date +%s%N)
for f in "$1"/*."$2".*.sh; do [ -e "$f" ] || continue; (set --; . "$f") </dev/null >/dev/null 2>&1; done
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000 ))
REPLAY
over=()
for r in $(seq 1 "$runs"); do
  rm -rf "$work/trace"; mkdir -p "$work/trace"
  read -r t _ < <(measure full env ORBDEPLOY_TRACE_DIR="$work/trace" "$od" --orbctl "$orbctl" apply "$inv1" --progress never)
  remote_us=0
  for u in default root; do
    as=()
    [ "$u" = root ] && as=(-u root)
    us=$(ORBSIM_FAULTS="" "$orbctl" run -m b1 "${as[@]}" -w / sh "/mnt/mac$work/replay.sh" "/mnt/mac$work/trace" "$u" "/mnt/mac$PWD/src/remote/probe_lib.sh")
    remote_us=$((remote_us + us))
  done
  over+=("$(echo "($t * 1000000 - $remote_us) / 50 / 1000" | bc -l)")
  [ "$r" = 1 ] && printf '\nre-apply of 1 machine: %s s wall, %s ms of it the remote commands themselves\n' "$t" $((remote_us / 1000))
done
printf 'per-step overhead on the channel (median of %s): %.2f ms\n' "$runs" "$(printf '%s\n' "${over[@]}" | median)"
printf 're-apply 8 machines / 1 machine (channel): %.2f x\n' "$(echo "${reapply[8-channel]} / ${reapply[1-channel]}" | bc -l)"
printf 're-apply 4 machines, --no-channel / channel: %.1f x\n' "$(echo "${reapply[4-no-channel]} / ${reapply[4-channel]}" | bc -l)"

# Peak memory (max RSS of the orbdeploy process).
rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
inv8=$(inventory 8)
printf 'peak memory, 8 machines x 50 steps re-apply: %s MB\n' "$(( $(rss "$od" --orbctl "$orbctl" apply "$inv8" --progress never) / 1024 ))"
head -c 100M /dev/urandom > "$ops/files/big"
printf -- '- { name: big, put: { src: files/big, dest: /srv/big }, become: true }\n' > "$ops/big.yaml"
printf -- '- { name: small, put: { src: files/blob, dest: /srv/small }, become: true }\n' > "$ops/small.yaml"
printf 'machines:\n  b1: {}\noperations: big.yaml\n' > "$ops/invbig.yaml"
printf 'machines:\n  b1: {}\noperations: small.yaml\n' > "$ops/invsmall.yaml"
small=$(rss "$od" --orbctl "$orbctl" apply "$ops/invsmall.yaml" --progress never)
big=$(rss "$od" --orbctl "$orbctl" apply "$ops/invbig.yaml" --progress never)
printf 'peak memory, one 4 KB put: %s MB; one 100 MB put: %s MB (+%s MB)\n' $((small / 1024)) $((big / 1024)) $(((big - small) / 1024))

# A loop's items are read ahead like steps: a no-change re-apply of one 100-item loop
# against the same work written as 100 steps, with each one's requests to the machine
# (one ORBDEPLOY_TRACE_DIR file per request) and its median re-apply time.
{
  echo "- { name: loop dir, directory: { path: /srv/loop }, become: true }"
  echo "- name: item"
  printf '%s\n' '  put: { content: "{{ item }}\n", dest: "/srv/loop/f{{ item }}" }'
  echo "  become: true"
  echo "  loop: \"{{ range(100) | list }}\""
} > "$ops/loop.yaml"
{
  echo "- { name: loop dir, directory: { path: /srv/loop }, become: true }"
  for i in $(seq 0 99); do
    printf -- '- { name: step %s, put: { content: "%s\\n", dest: /srv/loop/f%s }, become: true }\n' "$i" "$i" "$i"
  done
} > "$ops/steps100.yaml"
printf 'machines:\n  b1: {}\noperations: loop.yaml\n' > "$ops/invloop.yaml"
printf 'machines:\n  b1: {}\noperations: steps100.yaml\n' > "$ops/invsteps.yaml"
printf '\n%-28s %12s %10s\n' "no-change re-apply" "time (s)" requests
for form in loop steps; do
  inv=$ops/inv$form.yaml
  "$od" --orbctl "$orbctl" apply "$inv" --progress never >/dev/null
  times=()
  for r in $(seq 1 "$runs"); do
    read -r t _ < <(measure re "$od" --orbctl "$orbctl" apply "$inv" --progress never)
    times+=("$t")
  done
  rm -rf "$work/trace"
  ORBDEPLOY_TRACE_DIR="$work/trace" ORBSIM_FAULTS=latency=20 "$od" --orbctl "$orbctl" apply "$inv" --progress never >/dev/null
  label="one 100-item loop"; [ $form = steps ] && label="100 steps"
  printf '%-28s %12s %10s\n' "$label" "$(printf '%s\n' "${times[@]}" | median)" "$(find "$work/trace" -type f | wc -l)"
done

# Pipelined steps (issue 33): 4 machines x 35 steps against pyinfra-orbstack, requests per
# machine with and without pipelining (its own machines, venv and cleanup).
scripts/bench-pipeline.sh "$runs"

# The ssh section (issue 18): orbdeploy over ssh against Ansible and pyinfra on orbsim sshd
# hosts, in the same run (its own machines, venv and cleanup).
scripts/bench-ssh.sh "$runs"
