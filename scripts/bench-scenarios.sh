#!/usr/bin/env bash
# What `orbdeploy test`'s templates save, on orbsim:
#
#   scripts/bench-scenarios.sh [RUNS] [PROFILE]
#
# runs the webapp role's scenario (fixtures/roles/roles/webapp/tests/default.yaml: two
# platforms, a one-step prepare, the role, four verify steps) RUNS times (default 5) as a
# first run (`--rebuild`: both templates made from their images) and as a second run (the
# templates cached), alternating, then times `orbctl create` of a machine against `orbctl
# clone` of a template followed by `orbctl start`, and prints the medians in seconds.
# PROFILE is the cargo profile whose binaries are used (default debug; build them first).
# Everything runs in a private orbsim state home, removed at the end. Run as root.
set -euo pipefail

runs=${1:-5}
profile=${2:-debug}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/$profile
work=$(mktemp -d)
export ORBSIM_HOME=$work/home
mkdir -p "$work/bin"
ln -s "$bin/orbsim" "$work/bin/orbctl"
orbctl=$work/bin/orbctl
cleanup() {
  for m in $("$orbctl" list -q 2>/dev/null); do "$orbctl" delete -f "$m" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
scenario=$root/fixtures/roles/roles/webapp

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Seconds one command takes, to the millisecond.
took() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}

test_run() { "$bin/orbdeploy" --orbctl "$orbctl" test "$scenario" "$@"; }
template=
for i in $(seq "$runs"); do
  took test_run --rebuild >>"$work/first"
  took test_run >>"$work/second"
  template=$("$orbctl" list -q | grep '^odt-tpl-' | head -n 1)
  took "$orbctl" create debian:bookworm "bench-create-$i" >>"$work/create"
  took sh -c "'$orbctl' clone '$template' 'bench-clone-$i' && '$orbctl' start 'bench-clone-$i'" >>"$work/clone"
  "$orbctl" delete -f "bench-create-$i" >/dev/null
  "$orbctl" delete -f "bench-clone-$i" >/dev/null
done
echo "runs: $runs, profile: $profile, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "first run (--rebuild):   $(median <"$work/first") s"
echo "second run (cached):     $(median <"$work/second") s"
echo "orbctl create:           $(median <"$work/create") s"
echo "orbctl clone + start:    $(median <"$work/clone") s"
