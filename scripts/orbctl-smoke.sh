#!/usr/bin/env bash
# A smoke test of what orbdeploy assumes about orbctl and cannot confirm from its sources:
# the [GUESS] and third-party ([3P]) items of docs/orbctl.md, above all the 2026 machine
# settings (§11). Run it on a real Mac before a release (scripts/test-macos.sh does); it
# prints one line per item, `held`, `did not hold` or `not checked`, so that docs/orbctl.md
# can be corrected. It makes two machines named orbdeploy-smoke-* and deletes them at the end.
#
# Usage: scripts/orbctl-smoke.sh            (real orbctl on a Mac)
#        ORBCTL=PATH scripts/orbctl-smoke.sh (another orbctl, e.g. orbsim on Linux as root,
#                                             which checks this script and orbsim's model)
set -uo pipefail
orbctl=${ORBCTL:-orbctl}
if [ -z "${ORBCTL:-}" ] && [ "$(uname -s)" != Darwin ]; then
  echo "orbctl-smoke: run it on a Mac with OrbStack, or set ORBCTL to another orbctl" >&2
  exit 2
fi
"$orbctl" status >/dev/null 2>&1 || { echo "orbctl-smoke: $orbctl status: OrbStack is not running" >&2; exit 2; }

tag=$$
m1=orbdeploy-smoke-$tag-a
m2=orbdeploy-smoke-$tag-b
src=$(mktemp -d)
echo smoke > "$src/file"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { "$orbctl" delete -f "$m1" >/dev/null 2>&1; "$orbctl" delete -f "$m2" >/dev/null 2>&1; rm -rf "$src"; }
trap cleanup EXIT

held=0 failed=0 skipped=0
report() { # ITEM VERDICT [DETAIL]
  printf '%-14s %-62s %s\n' "$2" "$1" "${3:-}"
  case $2 in held) held=$((held + 1)) ;; "did not hold") failed=$((failed + 1)) ;; *) skipped=$((skipped + 1)) ;; esac
}
check() { # ITEM DETAIL COMMAND... : held when the command succeeds
  local item=$1 detail=$2
  shift 2
  if "$@" >/dev/null 2>&1; then report "$item" held "$detail"; else report "$item" "did not hold" "$detail"; fi
}
inside() { "$orbctl" run -m "$1" -w / sh -c "$2"; }
get() { "$orbctl" config get "machine.$1.$2" 2>/dev/null; }

echo "orbctl-smoke: $("$orbctl" version 2>/dev/null | head -n 1)"
printf '%-14s %-62s %s\n' verdict item detail

# §11.2: the create flags as third-party scripts spell them.
if "$orbctl" create --cpus 2 --memory 2G --disk 16G debian "$m1" >/dev/null 2>&1; then
  report "§11.2 create --cpus/--memory/--disk" held
  check "§11.2 config get machine.N.cpu is the core count" "$(get "$m1" cpu)" test "$(get "$m1" cpu)" = 2
  check "§11.2 config get machine.N.memory_mib is MiB" "$(get "$m1" memory_mib)" test "$(get "$m1" memory_mib)" = 2048
  check "§11.2 config get machine.N.disk_bytes is bytes" "$(get "$m1" disk_bytes)" test "$(get "$m1" disk_bytes)" = 17179869184
  check "§11.2 the machine sees 2 CPUs at once" "$(inside "$m1" nproc 2>/dev/null)" test "$(inside "$m1" nproc 2>/dev/null)" = 2
  if "$orbctl" config set "machine.$m1.disk_bytes" 8589934592 >/dev/null 2>&1; then
    report "§11.2 [GUESS] a disk cannot shrink" "did not hold" "the shrink was accepted"
  else
    report "§11.2 [GUESS] a disk cannot shrink" held
  fi
  "$orbctl" config set "machine.$m1.cpu" 1 >/dev/null 2>&1
  check "§11.2 [3P] cpu takes effect without a restart" "nproc $(inside "$m1" nproc 2>/dev/null)" test "$(inside "$m1" nproc 2>/dev/null)" = 1
  check "§11.2 [GUESS] info -f json has no cpu/memory fields" "" sh -c "! '$orbctl' info '$m1' -f json | grep -q memory"
  check "§11.2 config set machine.N.username" "" "$orbctl" config set "machine.$m1.username" smoke
else
  report "§11.2 create --cpus/--memory/--disk" "did not hold"
fi

# §11.2: isolation flags.
if "$orbctl" create --isolated --mount "$src:/smoke" --isolate-network debian "$m2" >/dev/null 2>&1; then
  report "§11.2 create --isolated --mount --isolate-network" held
  check "§11.2 an isolated machine has no /mnt/mac" "" inside "$m2" '! test -e /mnt/mac/Users'
  check "§11.2 --mount SRC:DEST is visible at DEST" "" inside "$m2" 'grep -qx smoke /smoke/file'
  check "§11.2 isolate_network reads back true" "$(get "$m2" isolate_network)" test "$(get "$m2" isolate_network)" = true
  check "§11.2 [3P] mounts reads back as SRC:DEST" "$(get "$m2" mounts)" test "$(get "$m2" mounts)" = "$src:/smoke"
else
  report "§11.2 create --isolated --mount --isolate-network" "did not hold"
fi

# §11.4 / §5: names of running machines resolve inside machines.
check "§11.4 NAME.orb.local resolves inside another machine" "" inside "$m1" "getent hosts $m2.orb.local"
report "§11.3 [3P] list/info block while OrbStack is stopped" "not checked" "stopping OrbStack would end every other user's work"

printf '\n%s held, %s did not hold, %s not checked\n' "$held" "$failed" "$skipped"
[ "$failed" -eq 0 ]
