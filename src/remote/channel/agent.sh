# orbdeploy channel agent: POSIX sh, started as `sh -c AGENT orbdeploy-agent NONCE [PID]`
# (after the probe library, see src/remote/probe_lib.sh). PID, given over ssh, is the sshd
# process serving the session: see the watcher below.
# Requests on stdin:  x ID SCRIPT_LINES SCRIPT_BYTES STDIN_LEN TIMEOUT_S MODE  then the
#                     script and the stdin bytes;  q  ends the agent.
# Replies on stdout:  MODE b (bytes) or f (bytes, as many as a file's):  p ID PID (the
#                                      request started), then r ID STATUS OUT_LEN ERR_LEN
#                                      TIMED_OUT, then stdout and stderr bytes.
#                     MODE t (text, orbdeploy's own probes):  t ID, then the text (stdout
#                                      and stderr together), a newline and the line
#                                      `@@end NONCE ID STATUS`. A probe runs in the agent
#                                      itself, its output going straight to orbdeploy: no
#                                      fork (a fork, and the pages it copies, cost half a
#                                      millisecond on a VM), no exec, no file. It has no
#                                      watchdog (TIMEOUT_S is 0): orbdeploy abandons the
#                                      session if a probe hangs. Probes are orbdeploy's own
#                                      scripts (mostly probe library calls; a few kinds'
#                                      probes set a plain variable or two), which never exit
#                                      and cannot fail in a special builtin (which would end
#                                      the agent, and fail the step at once as unreachable:
#                                      the request is not sent again); __od_reset clears
#                                      what a previous probe left.
#                     MODE s (a probe with user code, a `shell` step's `unless:`): the same
#                                      reply from a subshell (syntax errors and `exit` end
#                                      only that), the text captured by command substitution
#                                      (no NUL bytes, trailing newlines dropped).
# A short script is read with the `read` builtin (one byte per system call, so no exec), a
# long one with dd (dd costs what reading about 1.7 KB byte by byte costs, measured on a
# machine of scripts/bench.sh); a command without a time limit runs in a subshell (no exec),
# one with a limit in `[setsid] sh` with a watchdog (docs/channel-protocol.md). A byte request costs
# two more execs on the machine (stat, cat), none when it printed nothing. Neither `read`
# nor `dd iflag=fullblock` reads past what it needs (busybox `head -c` does, on a pipe), so
# binary stdin shares the pipe with the header lines. Files live in private directories
# (0700, so the files in them are private whatever the umask, which requests inherit
# unchanged), made on the first request that needs one (a session that only probes makes
# none) and removed on exit: a command's reply in /dev/shm when it has room (a file made
# there costs a few microseconds, one on an overlay /tmp a quarter of a millisecond), stdin
# payloads and file-sized replies (mode f) under $TMPDIR or /tmp. Each request has its own
# output files, so a daemon it leaves running cannot write into a later reply. The agent
# starts no process of its own until a request needs one, except over ssh its watcher.
# Agent variables start with `__od_`.
# Chains (pipelined steps, docs/channel-protocol.md §3.3): orbdeploy may write several
# requests at once, each with an eighth header word: `n`/`N` starts a chain, `c`/`i`
# continues it. A request of a chain whose earlier request failed (a command's non-zero
# status or timeout, unless it was `N`/`i`: ignore_errors) or whose guard found the facts
# stale is not run: its reply is `n ID`. MODE g (a guard): orbdeploy's own script, run in
# the agent, whose status says whether what a step was decided on still holds; reply
# `g ID STATUS`.
__od_d=
__od_m=
__od_p=
__od_w=
__od_n=0
__od_brk=
__od_S=
if command -v setsid >/dev/null 2>&1; then __od_S=setsid; fi
__od_dir() { # the private directory (mktemp makes it 0700), made when first needed
  [ -n "$__od_d" ] || __od_d=$(mktemp -d "${TMPDIR:-/tmp}/orbdeploy.XXXXXX") || exit 97
}
__od_mem() { # a private directory in memory (/dev/shm) for command replies, else the other
  [ -n "$__od_m" ] && return 0
  # Only a /dev/shm with room (256 MiB free: a container's 64 MiB one would cut a long output).
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    # shellcheck disable=SC2046  # df's fields, split on purpose
    set -- $(df -Pk /dev/shm 2>/dev/null)
    if [ $# -ge 11 ] && [ "${11}" -ge 262144 ] 2>/dev/null; then
      __od_m=$(mktemp -d /dev/shm/orbdeploy.XXXXXX 2>/dev/null) || __od_m=
    fi
  fi
  if [ -z "$__od_m" ]; then __od_dir; __od_m=$__od_d; fi
}
__od_take() { # copy exactly $1 bytes from stdin to stdout
  __od_q=$(($1 / 65536))
  __od_r=$(($1 % 65536))
  if [ "$__od_q" -gt 0 ]; then dd bs=65536 count="$__od_q" iflag=fullblock 2>/dev/null || return 1; fi
  if [ "$__od_r" -gt 0 ]; then dd bs="$__od_r" count=1 iflag=fullblock 2>/dev/null || return 1; fi
  return 0
}
__od_stop() {
  # A timed request has its own session (setsid): its whole group goes. An untimed one is a
  # subshell in our group, so only its pid can be named here (what it started goes with
  # the session's end, __od_end).
  if [ -n "$__od_p" ]; then
    if [ -n "$__od_S" ] && [ -n "$__od_to" ] && [ "$__od_to" -gt 0 ]; then kill -s KILL -- "-$__od_p" 2>/dev/null; else kill -s KILL "$__od_p" 2>/dev/null; fi
  fi
  if [ -n "$__od_w" ]; then kill -s KILL -- "-$__od_w" 2>/dev/null || kill -s KILL "$__od_w" 2>/dev/null; fi
}
__od_clean() {
  __od_stop
  if [ -n "$__od_g" ]; then kill -s KILL -- "-$__od_g" 2>/dev/null || kill -s KILL "$__od_g" 2>/dev/null; fi
  if [ -n "$__od_m" ] && [ "$__od_m" != "$__od_d" ]; then rm -rf "$__od_m"; fi
  if [ -n "$__od_d" ]; then rm -rf "$__od_d"; fi
}
__od_end() { # $1: the signal that ends the session, $2: the exit status
  # Everything we started is asked to end with the same signal first, so that a request's
  # own traps run (a write removes its temporary file); what does not end within 2 s is
  # killed. Then our directories go.
  trap '' TERM HUP INT
  if [ -n "$__od_p" ] && [ -n "$__od_S" ] && [ "${__od_to:-0}" -gt 0 ]; then kill -s "$1" -- "-$__od_p" 2>/dev/null; fi
  kill -s "$1" 0 2>/dev/null
  if [ -n "$__od_p" ]; then
    # The killer has a session of its own (where setsid exists), so that its sleep goes too.
    # shellcheck disable=SC2016  # expanded by the killer's shell
    $__od_S sh -c 'sleep 2; kill -s KILL -- "-$1" 2>/dev/null || kill -s KILL "$1"' killer "$__od_p" > /dev/null 2>&1 &
    __od_k=$!
    wait "$__od_p" 2>/dev/null
    kill -s KILL -- "-$__od_k" 2>/dev/null || kill -s KILL "$__od_k" 2>/dev/null
    __od_p=
  fi
  __od_clean
  trap - EXIT
  exit "$2"
}
trap '__od_clean' EXIT
trap '__od_end TERM 143' TERM
trap '__od_end HUP 129' HUP
trap '__od_end INT 130' INT
trap 'exit 141' PIPE
__od_nonce=$1
# Over ssh, sshd signals nothing to a session without a terminal when its connection closes:
# a running request would go on, and the agent with it. A watcher (its own session, no pipe of
# ours) ends the agent with TERM once sshd's process is gone; __od_end then ends the request
# and everything it started. Its only cost is a `sleep` every 2 s. It starts with the first
# request that runs outside the agent (a command, mode s): an idle agent ends by itself when
# the connection closes its stdin, and a probe (mode t) runs in the agent, so a session that
# only probes (a root session in a re-apply that changes nothing) starts no process (setsid,
# sh and sleep: three execs). The price: a connection lost during a probe ends that agent only
# when the probe's own process (a sha256sum, an awk) is done and its reply cannot be written.
# Where this user cannot see that process in /proc (no /proc, hidepid), there is no watcher.
__od_g=
__od_sshd=
if [ -n "${2:-}" ] && [ -e "/proc/$2" ]; then __od_sshd=$2; fi
__od_watch() {
  [ -z "$__od_g" ] && [ -n "$__od_sshd" ] || return 0
  # shellcheck disable=SC2016  # expanded by the watcher's shell
  $__od_S sh -c 'while [ -e "/proc/$1" ]; do sleep 2; done; kill -s TERM "$2"' watcher "$__od_sshd" "$$" < /dev/null > /dev/null 2>&1 &
  __od_g=$!
}
printf '\n%s\n' "ORBDEPLOY-READY $1"
while IFS=' ' read -r __od_op __od_id __od_lines __od_bytes __od_ilen __od_to __od_mode __od_ch; do
  case $__od_op in
  x)
    __od_s=
    if [ "$__od_bytes" -gt 1536 ]; then
      __od_s=$(__od_take "$__od_bytes") || exit 98
    else
      __od_i=0
      while [ "$__od_i" -lt "$__od_lines" ]; do
        IFS= read -r __od_l || exit 98
        __od_s="$__od_s$__od_l
"
        __od_i=$((__od_i + 1))
      done
    fi
    if [ "$__od_ilen" -gt 0 ]; then
      __od_dir
      __od_take "$__od_ilen" > "$__od_d/i" || exit 98
      __od_in=$__od_d/i
    else
      __od_in=/dev/null
    fi
    __od_skip=
    case $__od_ch in
    n | N) __od_brk= ;;
    c | i) [ -z "$__od_brk" ] || __od_skip=1 ;;
    esac
    if [ -n "$__od_skip" ]; then
      printf 'n %s\n' "$__od_id"
    elif [ "$__od_mode" = g ]; then
      # The guard's probe runs in a subshell of its own script (it may carry user code).
      __od_watch
      { eval "$__od_s"; } < /dev/null > /dev/null 2>&1
      __od_rc=$?
      printf 'g %s %s\n' "$__od_id" "$__od_rc"
      [ "$__od_rc" -eq 0 ] || __od_brk=1
    elif [ "$__od_mode" = t ]; then
      printf 't %s\n' "$__od_id"
      __od_reset
      { eval "$__od_s"; } < "$__od_in" 2>&1
      printf '\n@@end %s %s %s\n' "$__od_nonce" "$__od_id" "$?"
    elif [ "$__od_mode" = s ]; then
      # `t ID` first, as in mode t: orbdeploy times the probes from it to the end line.
      __od_watch
      printf 't %s\n' "$__od_id"
      __od_out=$(trap - EXIT TERM HUP INT PIPE; set --; __od_reset; eval "$__od_s" < "$__od_in" 2>&1)
      printf '%s\n@@end %s %s %s\n' "$__od_out" "$__od_nonce" "$__od_id" "$?"
      __od_out=
    else
      # A reply as large as a file (mode f) waits on disk, a command's in memory.
      __od_watch
      if [ "$__od_mode" = f ]; then __od_dir; __od_rd=$__od_d; else __od_mem; __od_rd=$__od_m; fi
      __od_o=$__od_rd/o$__od_id
      __od_e=$__od_rd/e$__od_id
      if [ "$__od_to" -gt 0 ]; then
        # A time limit: its own session, so the watchdog can end everything it started. The
        # script goes by a file in the private directory, never in the new shell's argv,
        # which every user of the machine can read (a secret in it would show).
        __od_f=$__od_rd/s
        printf '%s' "$__od_s" > "$__od_f"
        # shellcheck disable=SC2016  # expanded by the new shell
        $__od_S sh -c 'f=$1; set --; . "$f"' sh "$__od_f" < "$__od_in" > "$__od_o" 2> "$__od_e" &
        __od_p=$!
        # The watchdog leaves a mark before it kills, so a timeout is told from a plain SIGKILL.
        # shellcheck disable=SC2016  # expanded by the watchdog's shell
        $__od_S sh -c 'sleep "$1"; : > "$3"; kill -s KILL -- "-$2" 2>/dev/null || kill -s KILL "$2"' watchdog "$__od_to" "$__od_p" "$__od_rd/t$__od_id" > /dev/null 2>&1 &
        __od_w=$!
      else
        (trap - EXIT TERM HUP INT PIPE; set --; eval "$__od_s") < "$__od_in" > "$__od_o" 2> "$__od_e" &
        __od_p=$!
      fi
      printf 'p %s %s\n' "$__od_id" "$__od_p"
      wait "$__od_p"
      __od_rc=$?
      __od_p=
      __od_t=0
      if [ -n "$__od_w" ]; then
        [ -e "$__od_rd/t$__od_id" ] && __od_t=1
        __od_stop
        __od_w=
        : > "$__od_f"
      fi
      # Silent requests (common for commands) cost no exec at all: `[ -s ]` is a builtin.
      if [ -s "$__od_o" ] || [ -s "$__od_e" ]; then
        # shellcheck disable=SC2046  # two sizes, split on purpose
        set -- $(stat -c %s "$__od_o" "$__od_e")
        printf 'r %s %s %s %s %s\n' "$__od_id" "$__od_rc" "$1" "$2" "$__od_t"
        cat "$__od_o" "$__od_e"
      else
        set -- 0 0
        printf 'r %s %s 0 0 %s\n' "$__od_id" "$__od_rc" "$__od_t"
      fi
      case $__od_ch in
      n | c) if [ "$__od_rc" -ne 0 ] || [ "$__od_t" = 1 ]; then __od_brk=1; fi ;;
      esac
      # Outputs are removed in batches (one rm per 32 requests), big ones and files at once.
      __od_n=$((__od_n + 1))
      if [ "$__od_n" -ge 32 ] || [ "$1" -gt 1048576 ] || [ "$__od_mode" = f ]; then
        rm -f "$__od_rd"/o* "$__od_rd"/e* "$__od_rd"/t*
        __od_n=0
      fi
    fi
    [ "$__od_ilen" -gt 0 ] && : > "$__od_d/i"
    ;;
  q) exit 0 ;;
  *) printf 'e %s bad-request\n' "$__od_id"; exit 99 ;;
  esac
done
