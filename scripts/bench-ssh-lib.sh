# shellcheck shell=bash
# shellcheck disable=SC2154  # $work and $orbctl are the sourcing script's
# Shared by scripts/bench-ssh.sh and scripts/bench-fleet.sh (sourced, after they set $work,
# the directory of their run, and $orbctl).

# Every ssh client process of this run (their argv names $work: key, config, ControlPath).
our_ssh() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = ssh ] || continue
    tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$work" && echo "${p#/proc/}"
  done
  return 0
}
end_ssh() { # TERM, then KILL, the ssh processes of this run, by pid
  local pids
  pids=$(our_ssh)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  sleep 0.3
  pids=$(our_ssh)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}
root_sh() { "$orbctl" run -m "$1" -u root -w / sh -c "$2"; }
