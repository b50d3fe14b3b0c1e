#!/usr/bin/env bash
# Soak test: 8 machines x 200 steps x 3 applies on orbsim (release build). Prints, for each
# apply, its exit code, wall time and peak memory, and before/after counts of processes and
# open file descriptors on the host and inside the machines. A healthy run: every apply
# exits 0, the last two change nothing, memory stays flat, counts return to where they were.
#
# Usage: scripts/soak.sh [MACHINES] [STEPS] [APPLIES]   (defaults 8 200 3)
# Needs Linux, root, and what scripts/setup.sh installs. Deletes every machine it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
machines=${1:-8}; steps=${2:-200}; applies=${3:-3}
. scripts/setup.sh >/dev/null
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build -q --release --workspace --bins
work=$(mktemp -d /tmp/orbdeploy-soak.XXXXXX)
mkdir -p "$work/bin" "$work/files" "$work/templates"
ln -s "$PWD/target/release/orbsim" "$work/bin/orbctl"
export ORBSIM_HOME=$work/home
orbctl=$work/bin/orbctl
od="$PWD/target/release/orbdeploy"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { "$orbctl" delete -f -a >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

head -c 65536 /dev/urandom > "$work/files/blob"
printf '{{ machine }} {{ n }}\n' > "$work/templates/t.j2"
{
  echo "- { name: dir, directory: { path: /srv/soak }, become: true }"
  for i in $(seq 2 "$steps"); do
    case $((i % 5)) in
      0) echo "- { name: put $i, put: { src: files/blob, dest: /srv/soak/b$i }, become: true }" ;;
      1) echo "- { name: template $i, template: { src: templates/t.j2, dest: /srv/soak/t$i }, become: true }" ;;
      2) echo "- { name: line $i, line: { path: /srv/soak/lines, line: \"k$i=v\" }, become: true }" ;;
      3) echo "- { name: file $i, file: { path: /srv/soak/f$i, mode: \"0640\" }, become: true }" ;;
      4) echo "- { name: shell $i, shell: \"test -d /srv/soak\" }" ;;
    esac
  done
} > "$work/ops.yaml"
{ echo "vars: { n: 1 }"; echo "machines:"; for i in $(seq 1 "$machines"); do echo "  s$i: {}"; done; echo "operations: ops.yaml"; } > "$work/inv.yaml"
for i in $(seq 1 "$machines"); do "$orbctl" create debian "s$i" >/dev/null; done

host_procs() { ps -e --no-headers | wc -l; }
host_fds() { awk '{print $1}' /proc/sys/fs/file-nr; }
machine_counts() { # processes and open fds inside every machine, summed
  local p=0 f=0 out
  for i in $(seq 1 "$machines"); do
    # Builtins only, and the measuring shell itself left out, so the count is not disturbed.
    # shellcheck disable=SC2016  # the script is expanded by the machine's shell
    out=$("$orbctl" run -m "s$i" -u root -w / sh -c 'n=0; f=0; for d in /proc/[0-9]*; do [ "${d#/proc/}" = "$$" ] && continue; n=$((n+1)); set -- $d/fd/*; [ -e "$1" ] && f=$((f+$#)); done; echo $n; echo $f')
    p=$((p + $(echo "$out" | sed -n 1p))); f=$((f + $(echo "$out" | sed -n 2p)))
  done
  echo "$p $f"
}

read -r mp0 mf0 < <(machine_counts)
hp0=$(host_procs); hf0=$(host_fds)
printf 'soak: %s machines x %s steps x %s applies\n' "$machines" "$steps" "$applies"
printf 'before: host processes %s, host open files %s, machine processes %s, machine fds %s\n' "$hp0" "$hf0" "$mp0" "$mf0"
status=0
for a in $(seq 1 "$applies"); do
  /usr/bin/time -o "$work/time" -f '%e %M' "$od" --orbctl "$orbctl" apply "$work/inv.yaml" --progress never --report "$work/r$a.json" > "$work/out$a" 2>&1 && code=0 || code=$?
  read -r secs kb < "$work/time"
  printf 'apply %s: exit %s, %ss, peak memory %s MB — %s\n' "$a" "$code" "$secs" $((kb / 1024)) "$(tail -1 "$work/out$a")"
  [ "$code" = 0 ] || { status=1; tail -30 "$work/out$a"; }
done
sleep 3   # let the last sessions finish their cleanup on the machines
read -r mp1 mf1 < <(machine_counts)
hp1=$(host_procs); hf1=$(host_fds)
printf 'after:  host processes %s, host open files %s, machine processes %s, machine fds %s\n' "$hp1" "$hf1" "$mp1" "$mf1"
left=$(pgrep -fc "orbdeploy-agent" || true)
printf 'channel agents still running: %s\n' "$left"
[ "$left" = 0 ] || status=1
exit $status
