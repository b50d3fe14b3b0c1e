# orbdeploy channel agent: POSIX sh, started as `sh -c AGENT orbdeploy-agent NONCE`.
# Requests on stdin:  x ID SCRIPT_LEN STDIN_LEN TIMEOUT_S  followed by the script bytes
#                     and the stdin bytes;  q  ends the agent.
# Replies on stdout:  p ID PGID                   (the request started)
#                     r ID STATUS OUT_LEN ERR_LEN TIMED_OUT  then stdout and stderr bytes.
# `read` and `head -c` never read past what they need, so binary payloads share the pipe
# with the header lines. Everything lives in a private directory removed on exit; each
# request has its own output files so a daemon it leaves running cannot write into the next
# request's reply.
umask 077
d=$(mktemp -d "${TMPDIR:-/tmp}/orbdeploy.XXXXXX") || exit 97
p=
w=
S=$(command -v setsid 2>/dev/null)
stop_request() {
  if [ -n "$p" ]; then
    if [ -n "$S" ]; then kill -s KILL -- "-$p" 2>/dev/null; else kill -s KILL "$p" 2>/dev/null; fi
  fi
  if [ -n "$w" ]; then
    if [ -n "$S" ]; then kill -s KILL -- "-$w" 2>/dev/null; else kill -s KILL "$w" 2>/dev/null; fi
  fi
}
trap 'stop_request; rm -rf "$d"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE
printf '\n%s\n' "ORBDEPLOY-READY $1"
while IFS=' ' read -r op id slen ilen to; do
  case $op in
  x)
    head -c "$slen" > "$d/s" || exit 98
    if [ "$ilen" -gt 0 ]; then
      head -c "$ilen" > "$d/i" || exit 98
      in=$d/i
    else
      in=/dev/null
    fi
    o=$d/o$id
    e=$d/e$id
    $S sh "$d/s" < "$in" > "$o" 2> "$e" &
    p=$!
    printf 'p %s %s\n' "$id" "$p"
    if [ "$to" -gt 0 ]; then
      $S sh -c 'sleep "$1"; kill -s KILL -- "-$2" 2>/dev/null || kill -s KILL "$2"' watchdog "$to" "$p" > /dev/null 2>&1 &
      w=$!
    fi
    wait "$p"
    rc=$?
    p=
    t=0
    if [ -n "$w" ]; then
      if kill -0 "$w" 2>/dev/null; then
        stop_request
      else
        t=1
      fi
      w=
    fi
    [ -s "$d/i" ] && : > "$d/i"
    set -- $(stat -c %s "$o" "$e")
    printf 'r %s %s %s %s %s\n' "$id" "$rc" "$1" "$2" "$t"
    cat "$o" "$e"
    rm -f "$o" "$e"
    ;;
  q) exit 0 ;;
  *) printf 'e %s bad-request\n' "$id"; exit 99 ;;
  esac
done
