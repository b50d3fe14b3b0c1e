#!/usr/bin/env bash
# A smoke test of what orbdeploy assumes about orbctl and cannot confirm from its sources:
# the [GUESS] and third-party ([3P]) items of docs/orbctl.md, above all the 2026 machine
# settings (§11) and what other clients rely on (§12, every row). Run it on a real Mac before
# a release (scripts/test-macos.sh does); it prints one line per item, `held`, `did not hold`
# or `not checked`, so that docs/orbctl.md can be corrected. It has never been run on a Mac
# (there is none where it was written). It makes machines named orbdeploy-smoke-* (debian,
# a debian:trixie for the tmpfs /tmp of §12.8 and an ubuntu:24.04 for §12.15, so it downloads
# those images once), writes about 2 GiB in one to reach its disk quota (§12.5;
# SMOKE_SKIP_QUOTA=1 skips that), and deletes them all at the end.
#
# Usage: scripts/orbctl-smoke.sh            (real orbctl on a Mac)
#        ORBCTL=PATH scripts/orbctl-smoke.sh (another orbctl, e.g. orbsim on Linux as root,
#                                             which checks this script and orbsim's model)
# shellcheck disable=SC2016  # single-quoted scripts are expanded in the machine, on purpose
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
chmod 755 "$src" # the machine's user reads it through the mounts
echo smoke > "$src/file"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for m in "$m1" "$m2" "$m1-c1" "$m1-c2" "$m1-c3" "$m1-q" "$m1-t" "$m1-u"; do
    "$orbctl" config set "machine.$m.disk_bytes" 0 >/dev/null 2>&1
    "$orbctl" delete -f "$m" >/dev/null 2>&1
  done
  rm -rf "$src"
}
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

# §12: what other OrbStack clients rely on (docs/orbctl.md §12), every row [3P].
smoke_12() {
  local c1=$m1-c1 c2=$m1-c2 c3=$m1-c3 q=$m1-q t=$m1-t u=$m1-u arch t0 t1 d1 gap out
  now() { perl -MTime::HiRes=time -e 'printf "%.3f\n", time'; }
  state() { "$orbctl" info "$1" -f json 2>/dev/null | grep -Eo '"state": ?"[a-z]+"' | head -n 1 | grep -Eo '[a-z]+"$' | tr -d '"'; }
  # Longest gap between the ticker's lines, in seconds.
  longest_gap() { inside "$m1" 'awk "NR>1 && \$1-p>g {g=\$1-p} {p=\$1} END {printf \"%.3f\", g}" /var/tmp/smoke-ticks'; }
  inside "$m1" 'echo x > /tmp/smoke-tmp; echo y > /var/tmp/smoke-var; rm -f /var/tmp/smoke-ticks'
  inside "$m1" 'setsid sh -c "while :; do date +%s.%N >> /var/tmp/smoke-ticks; sleep 0.02; done" >/dev/null 2>&1 &'
  sleep 1

  # 12.3: the source pauses while it is cloned (a gap in its ticker as long as the clone).
  t0=$(now); "$orbctl" clone "$m1" "$c1" >/dev/null 2>&1; t1=$(now)
  d1=$(echo "$t1 - $t0" | bc); gap=$(longest_gap)
  if [ "$(echo "$d1 < 0.2" | bc)" = 1 ]; then
    report "§12.3 [3P] clone pauses its source" "not checked" "the clone took ${d1}s, too quick to tell"
  else
    check "§12.3 [3P] clone pauses its source" "clone ${d1}s, longest tick gap ${gap}s" test "$(echo "$gap >= 0.8 * $d1" | bc)" = 1
  fi
  # 12.3: two clones of one source at once end one after the other.
  ( "$orbctl" clone "$m1" "$c2" >/dev/null 2>&1; now > "$src/end2" ) &
  ( "$orbctl" clone "$m1" "$c3" >/dev/null 2>&1; now > "$src/end3" ) &
  wait
  out=$(echo "$(cat "$src/end2") - $(cat "$src/end3")" | bc | tr -d -)
  if [ "$(echo "$d1 < 0.2" | bc)" = 1 ]; then
    report "§12.3 [3P] concurrent clones of one source serialize" "not checked" "a clone takes ${d1}s"
  else
    check "§12.3 [3P] concurrent clones of one source serialize" "ends ${out}s apart, one clone ${d1}s" test "$(echo "$out >= 0.8 * $d1" | bc)" = 1
  fi

  # 12.2: a clone is stopped, inherits settings, takes its own before its first start.
  check "§12.2 [3P] a clone lands stopped" "$(state "$c1")" test "$(state "$c1")" = stopped
  # From `config show`: `config get` prints every key on some versions (docs/orbctl.md §2).
  shown() { "$orbctl" config show 2>/dev/null | sed -n "s/^machine\.$1\.$2: //p"; }
  check "§12.2 [3P] a clone inherits machine.N.cpu" "$(shown "$c1" cpu)" test "$(shown "$c1" cpu)" = "$(shown "$m1" cpu)"
  check "§12.2 [3P] config set on a clone before its first start" "" "$orbctl" config set "machine.$c1.memory_mib" 1024
  # 12.1: config add of a mount to the stopped clone.
  check "§12.1 [3P] config add machine.N.mounts SRC:DEST" "" "$orbctl" config add "machine.$c1.mounts" "$src:/smoke-add"
  check "§12.1 [3P] config add does not start the clone" "$(state "$c1")" test "$(state "$c1")" = stopped
  "$orbctl" start "$c1" >/dev/null 2>&1
  check "§12.1 [3P] the added mount is there at the first start" "" inside "$c1" 'grep -qx smoke /smoke-add/file'
  check "§12.2 [3P] a clone's hostname is its new name" "$(inside "$c1" hostname 2>/dev/null)" test "$(inside "$c1" hostname 2>/dev/null)" = "$c1"
  inside "$c1" 'echo mine > /var/tmp/smoke-own' >/dev/null 2>&1
  check "§12.2 [3P] clones share no writes" "" inside "$m1" '! test -e /var/tmp/smoke-own'
  # 12.9: /tmp does not survive a clone, or a stop.
  check "§12.9 [3P] /tmp does not survive a clone (/var/tmp does)" "" inside "$c1" '! test -e /tmp/smoke-tmp && test -e /var/tmp/smoke-var'
  "$orbctl" stop "$m1" >/dev/null 2>&1; "$orbctl" start "$m1" >/dev/null 2>&1
  check "§12.9 [3P] /tmp does not survive a stop (/var/tmp does)" "" inside "$m1" '! test -e /tmp/smoke-tmp && test -e /var/tmp/smoke-var'

  # 12.4: limits in the root cgroup; nproc is the VM's.
  "$orbctl" config set "machine.$m1.cpu" 1 >/dev/null 2>&1
  check "§12.4 [3P] cpu.max holds the CPU limit" "$(inside "$m1" 'cat /sys/fs/cgroup/cpu.max' 2>/dev/null)" inside "$m1" 'grep -q "^100000 " /sys/fs/cgroup/cpu.max'
  check "§12.4 [3P] nproc shows the VM's CPUs, not the limit" "nproc $(inside "$m1" nproc 2>/dev/null)" inside "$m1" 'test "$(nproc)" -gt 1'

  # 12.10: nohup'd processes end with their session, setsid'd ones survive.
  inside "$m1" 'nohup sleep 3001 >/dev/null 2>&1 & setsid sleep 3002 >/dev/null 2>&1 & sleep 0.5' >/dev/null 2>&1
  sleep 1
  check "§12.10 [3P] nohup … & ends with the run session" "" inside "$m1" '! pgrep -f "^sleep 3001" >/dev/null'
  check "§12.10 [3P] setsid … & sleep 0.5 survives it" "" inside "$m1" 'pgrep -f "^sleep 3002" >/dev/null'

  # 12.13, 12.7, 12.6.
  out=$("$orbctl" run -m "$m1" -- true 2>&1 | head -n 1)
  check "§12.13 [3P] run rejects a -- separator" "$out" sh -c "! '$orbctl' run -m '$m1' -- true >/dev/null 2>&1"
  out=$("$orbctl" version 2>/dev/null | head -n 1)
  check "§12.7 [3P] version line is 'Version: X.Y.Z (NNNNNNN)'" "$out" sh -c "echo '$out' | grep -Eq '^Version: [0-9]+\.[0-9]+\.[0-9]+ \([0-9]+\)\$'"
  out=$("$orbctl" list -f json 2>/dev/null)
  for key in variant builtin isolated forward_ssh_agent isolate_network default_username http_port https_port; do
    check "§12.7 [3P] list -f json records carry $key" "" sh -c "echo '$out' | grep -q '\"$key\"'"
  done
  out=$(env -u HOME "$orbctl" list 2>&1 | head -n 1)
  check "§12.6 [3P] orbctl panics without HOME" "$out" sh -c "env -u HOME '$orbctl' list >/dev/null 2>&1; test \$? -eq 2"

  # 12.14 and 12.8: flags after the positionals; a push into a tmpfs /tmp.
  case $(uname -m) in arm64 | aarch64) arch=arm64 ;; *) arch=amd64 ;; esac
  if "$orbctl" create debian:trixie "$t" -a "$arch" >/dev/null 2>&1; then
    report "§12.14 [3P] create takes flags after the positionals" held
    check "§12.8 (setup) /tmp is a tmpfs on debian:trixie" "" inside "$t" 'test "$(stat -f -c %T /tmp)" = tmpfs'
    if "$orbctl" push -m "$t" "$src/file" /tmp/smoke-push >/dev/null 2>&1; then
      check "§12.8 [3P] push into a tmpfs /tmp succeeds and leaves nothing" "" inside "$t" '! test -e /tmp/smoke-push'
    else
      report "§12.8 [3P] push into a tmpfs /tmp succeeds and leaves nothing" "did not hold" "the push failed"
    fi
    cp "$src/file" /tmp/orbdeploy-smoke-$tag
    "$orbctl" push -m "$t" /tmp/orbdeploy-smoke-$tag /var/tmp/smoke-hostsrc >/dev/null 2>&1
    check "§12.8 [3P] a host source under /tmp is not copied" "" inside "$t" '! test -e /var/tmp/smoke-hostsrc'
    rm -f /tmp/orbdeploy-smoke-$tag
  else
    report "§12.14 [3P] create takes flags after the positionals" "did not hold"
  fi

  # 12.12: pull from a stopped machine.
  "$orbctl" stop "$c1" >/dev/null 2>&1
  check "§12.12 [3P] pull works on a stopped machine" "" "$orbctl" pull -m "$c1" /etc/hostname "$src/pulled"
  report "§12.12 whether pull starts the machine" "not checked" "state after the pull: $(state "$c1")"

  # 12.15: ubuntu:24.04 has no cloud-init.
  if "$orbctl" create ubuntu:24.04 "$u" >/dev/null 2>&1; then
    check "§12.15 [3P] ubuntu:24.04 has no cloud-init" "" inside "$u" '! command -v cloud-init >/dev/null'
  else
    report "§12.15 [3P] ubuntu:24.04 has no cloud-init" "not checked" "create ubuntu:24.04 failed"
  fi

  # 12.5: a machine at its disk quota cannot be deleted until the quota is 0.
  if [ -n "${SMOKE_SKIP_QUOTA:-}" ]; then
    report "§12.5 [3P] a machine at its disk quota cannot be deleted" "not checked" "SMOKE_SKIP_QUOTA"
  elif "$orbctl" create --disk 2G debian "$q" >/dev/null 2>&1; then
    inside "$q" 'dd if=/dev/zero of=/var/tmp/fill bs=1M count=2112 2>/dev/null; sync' >/dev/null 2>&1
    out=$("$orbctl" delete -f "$q" 2>&1)
    check "§12.5 [3P] a machine at its disk quota cannot be deleted" "$out" sh -c "'$orbctl' info '$q' >/dev/null 2>&1"
    "$orbctl" config set "machine.$q.disk_bytes" 0 >/dev/null 2>&1
    check "§12.5 [3P] it can once the quota is set to 0" "" "$orbctl" delete -f "$q"
  else
    report "§12.5 [3P] a machine at its disk quota cannot be deleted" "not checked" "create --disk 2G failed"
  fi
  report "§12.11 [3P] rapid create/delete exhausts the DHCP pool" "not checked" "it takes hundreds of cycles and a day to recover"
  inside "$m1" 'pkill -f smoke-ticks; pkill -f "^sleep 3002"' >/dev/null 2>&1
}
smoke_12

printf '\n%s held, %s did not hold, %s not checked\n' "$held" "$failed" "$skipped"
[ "$failed" -eq 0 ]
