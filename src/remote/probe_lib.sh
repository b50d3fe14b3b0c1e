# orbdeploy's probe library: shell functions the probes (the read-only scripts that tell
# whether a step is done) call. The channel agent defines them once per session; the
# one-shot path puts them in front of every probe. So a batch of probes is a few short
# calls instead of kilobytes of script, which is cheaper to send and to parse, and small
# enough for the agent to read with the `read` builtin instead of starting dd.
# POSIX sh; every name starts with __od_. The channel agent runs probes in its own process
# (mode t, docs/channel-protocol.md), so a probe's variables are the agent's: the library
# keeps to __od_ names and __od_reset clears what a batch set. Facts are printed as
# `.KEY VALUE` lines.

# __od_reset: forget what an earlier batch left. The channel agent runs probes in its own
# process, one batch after another (see agent.sh); every answer a batch sets is listed in
# __od_set, so that none is taken for the answer of a later batch.
__od_set=
__od_reset() {
  # shellcheck disable=SC2086  # a list of names, split on purpose
  if [ -n "$__od_set" ]; then unset $__od_set; fi
  __od_set=
  __od_sums=
  __od_spec=
  __od_files=
  __od_dspec=
  __od_dnames=
  __od_mo=
  __od_m1=
}

# __od_fb KEY / __od_fe KEY STATUS: the lines that frame one step's facts in a batch
# (`$__od_tok` is the batch's token: unique, not random).
# `$__od_key` is the step's key while its probe runs (for __od_lx and __od_pkgs).
# shellcheck disable=SC2154  # __od_tok is set by each batch
__od_fb() { __od_key=$1; printf '\n%s %s\n' "$__od_tok" "$1"; }
__od_fe() { printf '\n%s %s end %s\n' "$__od_tok" "$1" "$2"; }
# __od_1 KEY COMMAND ARG...: the same frame around one call of this library, in fewer bytes
# of script (a batch of a few hundred bytes is read without starting dd).
__od_1() {
  __od_k1=$1
  __od_fb "$1"
  shift
  { "$@"; } 2>&1 </dev/null
  __od_fe "$__od_k1" "$?"
}

# __od_guard STATUS TEXT COMMAND ARG...: the guard of a speculative step whose probe is one call
# of this library (src/facts/gather.rs `guard`): the call runs again with the batch's state
# cleared, and the guard holds only when it prints TEXT (trailing newlines aside, as command
# substitution drops them) and exits with STATUS. In the channel agent its output goes to a
# file of the agent's private directory ($__od_m, made by the chain's first command) and is
# read back with `read`: no process, where capturing it by command substitution forked one
# per guard. Without that directory it is captured as before.
__od_guard() {
  __od_gs=$1
  __od_gw=$2
  shift 2
  __od_reset
  __od_key=g
  if [ -n "${__od_m:-}" ] && [ -d "$__od_m" ]; then
    "$@" > "$__od_m/g" 2>&1 < /dev/null
    __od_grc=$?
    __od_gt=
    __od_gl=
    while IFS= read -r __od_gl; do __od_gt="$__od_gt$__od_gl$__od_nl"; done < "$__od_m/g"
    __od_gt="$__od_gt$__od_gl"
    while :; do
      case $__od_gt in *"$__od_nl") __od_gt=${__od_gt%"$__od_nl"} ;; *) break ;; esac
    done
  else
    __od_gt=$("$@" 2>&1 < /dev/null)
    __od_grc=$?
  fi
  [ "$__od_grc" = "$__od_gs" ] && [ "$__od_gt" = "$__od_gw" ]
}

# __od_stat PATH FORMAT: `.stat TYPE|MODE|OWNER|GROUP|UID|GID|SIZE` (stat -c FORMAT, not
# following a final symbolic link) or `.stat missing`.
__od_stat() {
  if [ -e "$1" ] || [ -L "$1" ]; then printf '.stat '; stat -c "$2" -- "$1" 2>&1; else echo .stat missing; fi
}

# __od_kind PATH TEST WORD FORMAT: `.kind WORD` when `[ TEST PATH ]` holds and PATH is not
# a symbolic link (no process started), else what __od_stat says.
__od_kind() {
  if test "$2" "$1" && [ ! -L "$1" ]; then echo ".kind $3"; else __od_stat "$1" "$4"; fi
}

# __od_sums_of PATH...: hash the regular files among PATHs with one sha256sum, for
# __od_sum (only when there are two or more; see src/ops/sums.rs).
__od_sums_of() {
  __od_sums=
  __od_c=$#
  for __od_x do
    if [ -f "$__od_x" ] && [ ! -L "$__od_x" ]; then set -- "$@" "$__od_x"; fi
  done
  shift "$__od_c"
  if [ $# -gt 1 ]; then __od_sums=$(sha256sum -- "$@" 2>/dev/null); fi
}

# __od_known PATH: the SHA-256 of PATH in $__od_h when __od_sums_of hashed it (its
# `HASH  PATH` lines), else false; no process either way.
__od_nl='
'
__od_sums=
__od_known() {
  __od_rest=$__od_sums
  while [ -n "$__od_rest" ]; do
    __od_line=${__od_rest%%"$__od_nl"*}
    case $__od_rest in *"$__od_nl"*) __od_rest=${__od_rest#*"$__od_nl"} ;; *) __od_rest= ;; esac
    if [ "${__od_line#*  }" = "$1" ]; then __od_h=${__od_line%%  *}; return 0; fi
  done
  return 1
}

# __od_sum PATH: the SHA-256 of PATH in $__od_h, from __od_sums_of when PATH is there, else
# by hashing it now.
__od_sum() {
  __od_known "$1" && return 0
  __od_h=$(sha256sum < "$1")
  __od_h=${__od_h%% *}
}

# __od_same PREFIX: $__od_h (a SHA-256 in hex) starts with PREFIX, of 32 digits or more.
# Scripts carry 128 bits of an expected hash, not 256 (a batch is read a byte at a time):
# what a prefix decides here is only whether a process is worth starting, and orbdeploy
# compares whole hashes itself.
__od_same() {
  [ ${#1} -ge 32 ] || return 1
  case $__od_h in "$1"*) return 0 ;; esac
  return 1
}

# __od_put PATH SHA [FORMAT ATTRS]: for put and template. `.sha HASH` for a regular file;
# when no attribute is declared (ATTRS 0, or no FORMAT: then FORMAT is __od_fmt0) and the
# hash starts with SHA, `.kind file` and no stat; otherwise what __od_stat says (an existing
# file keeps its mode and owner when rewritten).
__od_fmt0='%F|%a|-|-|%u|%g|%s'
__od_put() {
  if [ -f "$1" ] && [ ! -L "$1" ]; then
    __od_sum "$1"
    printf '.sha %s\n' "$__od_h"
    if [ "${4:-0}" = 0 ] && __od_same "$2"; then echo .kind file; else __od_stat "$1" "${3:-$__od_fmt0}"; fi
  else
    __od_stat "$1" "${3:-$__od_fmt0}"
  fi
}

# __od_dpkg_direct NAME...: true when dpkg's status file alone is the truth for NAMEs, so
# it can be read directly (what apt's own library does) instead of starting dpkg-query,
# which costs twice as much because it loads the whole database: the default database,
# no pending journal (dpkg applies /var/lib/dpkg/updates/* on top of the status file), and
# plain package names (no :arch qualifier, no pattern).
__od_dpkg_direct() {
  [ -z "${DPKG_ADMINDIR:-}" ] && [ -r /var/lib/dpkg/status ] || return 1
  for __od_x in /var/lib/dpkg/updates/*; do [ -e "$__od_x" ] && return 1; done
  for __od_x do
    case $__od_x in '' | *[!a-z0-9+.-]*) return 1 ;; esac
  done
  command -v awk >/dev/null 2>&1
}

# __od_pkgs LATEST NAME...: `.pm MANAGER` (apt, apk, dnf, pacman or none), then what is
# installed: on apt `.dpkg NAME STATUS` lines (from the batch's scan, one read of the status
# file, or one dpkg-query, for all names; STATUS starts with `ii` when installed), on the
# others `.pkg NAME 1|0`. With LATEST 1 also `.old NAME` for each upgradable one (versions
# compared as text: awk would take "1.2" and "1.20" for the same number).
__od_pkgs() {
  __od_latest=$1
  shift
  if command -v apt-get >/dev/null 2>&1; then
    echo .pm apt
    # The batch's scan may have answered; else a scan of its own when the status file alone
    # is the truth (one reader of it: __od_scan), else dpkg-query.
    eval "__od_v=\${__od_sp_$__od_key+s}"
    if [ "$__od_v" != s ] && __od_dpkg_direct "$@"; then
      __od_spec=
      __od_files=
      __od_dspec=
      __od_dnames=
      __od_scan_dpkg "$__od_key" "$@"
      __od_scan
      eval "__od_v=\${__od_sp_$__od_key+s}"
    fi
    if [ "$__od_v" = s ]; then
      eval "printf '%s' \"\$__od_sp_$__od_key\""
    else
      dpkg-query -W -f='.dpkg ${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null
    fi
    if [ "$__od_latest" = 1 ]; then
      for __od_x do
        apt-cache policy "$__od_x" 2>/dev/null | awk -v p="$__od_x" '/Installed:/ {i=$2} /Candidate:/ {c=$2} END { if (i != "(none)" && c != "(none)" && i "" != c "") print ".old " p }'
      done
    fi
  elif command -v apk >/dev/null 2>&1; then
    echo .pm apk
    for __od_x do
      if apk info -e "$__od_x" >/dev/null 2>&1; then printf '.pkg %s 1\n' "$__od_x"; else printf '.pkg %s 0\n' "$__od_x"; fi
      if [ "$__od_latest" = 1 ] && apk version -l '<' "$__od_x" 2>/dev/null | grep -q "^$__od_x-"; then printf '.old %s\n' "$__od_x"; fi
    done
  elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
    echo .pm dnf
    for __od_x do
      if rpm -q --quiet "$__od_x"; then printf '.pkg %s 1\n' "$__od_x"; else printf '.pkg %s 0\n' "$__od_x"; fi
      if [ "$__od_latest" = 1 ]; then
        $(command -v dnf || command -v yum) -q check-update "$__od_x" >/dev/null 2>&1
        if [ $? = 100 ]; then printf '.old %s\n' "$__od_x"; fi
      fi
    done
  elif command -v pacman >/dev/null 2>&1; then
    echo .pm pacman
    for __od_x do
      if pacman -Q "$__od_x" >/dev/null 2>&1; then printf '.pkg %s 1\n' "$__od_x"; else printf '.pkg %s 0\n' "$__od_x"; fi
      if [ "$__od_latest" = 1 ] && pacman -Qu "$__od_x" >/dev/null 2>&1; then printf '.old %s\n' "$__od_x"; fi
    done
  else
    echo .pm none
  fi
}

# __od_lx PATH LINE: the probe of a line step without regexp: `.exists 1|0|notfile` and
# `.exact COUNT`, the number of lines equal to LINE (from the batch's scan, else grep).
__od_lx() {
  if [ -f "$1" ]; then
    echo .exists 1
    eval "__od_v=\${__od_sx_$__od_key-}"
    # grep's status 1 (no such line) is a count like any other: the status is the same
    # whether the scan or grep answered, which a guard compares (__od_guard).
    if [ -n "$__od_v" ]; then printf '.exact %s\n' "$__od_v"; else printf '.exact '; grep -c -x -F -e "$2" -- "$1" || [ $? -eq 1 ]; fi
  elif [ -e "$1" ]; then
    echo .exists notfile
  else
    echo .exists 0
  fi
}

# The scan of a batch (src/ops/scan.rs): one awk process answers the line probes above
# and the apt package probes of a batch together, instead of one grep or awk each.
# __od_scan_line KEY PATH LINE and __od_scan_dpkg KEY NAME... say what to answer;
# __od_scan runs awk once over the files (each read once) and dpkg's status file (only
# when __od_dpkg_direct holds) and sets __od_sx_<KEY> (a count) and __od_sp_<KEY> (`.dpkg`
# lines). Whatever it cannot answer (a file that is not a regular readable file, awk
# failing) is left unset, and the probe asks on its own. Lines are compared as text.
__od_spec=
__od_files=
__od_dspec=
__od_dnames=
__od_scan_line() {
  __od_spec="$__od_spec$1	$2	$3$__od_nl"
  case "$__od_nl$__od_files" in
  *"$__od_nl$2$__od_nl"*) ;;
  *) if [ -f "$2" ] && [ -r "$2" ] && [ "$2" != /var/lib/dpkg/status ]; then __od_files="$__od_files$2$__od_nl"; fi ;;
  esac
}
__od_scan_dpkg() {
  __od_c=$1
  shift
  __od_dspec="$__od_dspec$__od_c	$*$__od_nl"
  __od_dnames="$__od_dnames $*"
}
# What an earlier batch's scan found, kept by the hash of what it read (src/ops/memo.rs):
# __od_memo_line KEY PATH LINE HASH COUNT sets __od_sx_KEY to COUNT when PATH still hashes
# HASH (a prefix, see __od_same) in this batch's sha256sum, else asks the scan; __od_memo_dpkg KEY HASH ANSWER NAME...
# likewise sets __od_sp_KEY to ANSWER when dpkg's status file alone is the truth for NAMEs
# and hashes HASH. __od_ahead_line / __od_ahead_dpkg ask for later steps, only when the
# scan reads that file anyway.
__od_memo_line() {
  if __od_known "$2" && __od_same "$4"; then
    eval "__od_sx_$1=\$5"
    __od_set="$__od_set __od_sx_$1"
  else
    __od_scan_line "$1" "$2" "$3"
  fi
}
__od_memo_dpkg() {
  __od_c=$1
  __od_mh=$2
  __od_ma=$3
  shift 3
  if command -v apt-get >/dev/null 2>&1 && __od_dpkg_direct "$@" && __od_known /var/lib/dpkg/status && __od_same "$__od_mh"; then
    eval "__od_sp_$__od_c=\$__od_ma"
    __od_set="$__od_set __od_sp_$__od_c"
  else
    __od_scan_dpkg "$__od_c" "$@"
  fi
}
__od_ahead_line() {
  case "$__od_nl$__od_files" in *"$__od_nl$2$__od_nl"*) __od_spec="$__od_spec$1	$2	$3$__od_nl" ;; esac
}
__od_ahead_dpkg() {
  if [ -n "$__od_dspec" ]; then __od_scan_dpkg "$@"; fi
}
# shellcheck disable=SC2016  # an awk program
__od_scan_awk='BEGIN {
  n = 0; m = split(ENVIRON["__od_spec"], rows, "\n")
  for (r = 1; r <= m; r++) {
    if (rows[r] == "") continue
    t = index(rows[r], "\t"); k = substr(rows[r], 1, t - 1); rest = substr(rows[r], t + 1)
    t = index(rest, "\t"); n++
    lk[n] = k; lf[n] = substr(rest, 1, t - 1); ll[n] = substr(rest, t + 1) ""; lc[n] = 0
  }
  nd = 0; m = split(ENVIRON["__od_dspec"], rows, "\n")
  for (r = 1; r <= m; r++) {
    if (rows[r] == "") continue
    t = index(rows[r], "\t"); nd++; dk[nd] = substr(rows[r], 1, t - 1); dout[nd] = ""
    c = split(substr(rows[r], t + 1), names, " ")
    for (i = 1; i <= c; i++) want[names[i]] = want[names[i]] " " nd
  }
  status = 0; after = 0
  for (i = 1; i < ARGC; i++) {
    if (ARGV[i] == "ph=l") after = 1
    else if (ARGV[i] ~ /^(ph|RS|FS)=/) continue
    else if (after) given[ARGV[i]] = 1
    else status = 1
  }
}
ph == "s" {
  # One record per stanza (RS empty, a field per line); Package comes first in dpkg files.
  p = ""
  if (index($1, "Package: ") == 1) p = substr($1, 10)
  else for (i = 2; i <= NF; i++) if (index($i, "Package: ") == 1) p = substr($i, 10)
  if (!(p in want)) next
  st = ""
  for (i = 1; i <= NF; i++) if (index($i, "Status: ") == 1) st = substr($i, 9)
  split(st, w3, " ")
  st = (w3[1] == "install" && w3[3] == "installed") ? "ii" : w3[1] "-" w3[3]
  gsub(/[^a-z-]/, "", st)
  found[p] = (p in found) ? found[p] " " st : st   # one stanza per architecture
  c = split(want[p], js, " ")
  for (i = 1; i <= c; i++) dout[js[i]] = dout[js[i]] ".dpkg " p " " st "\n"
  next
}
ph == "l" { for (i = 1; i <= n; i++) if (lf[i] == FILENAME && ($0 "") == ll[i]) lc[i]++ }
END {
  set = ""
  for (i = 1; i <= n; i++) if (lf[i] in given) { printf "__od_sx_%s=%d\n", lk[i], lc[i]; set = set " __od_sx_" lk[i] }
  if (status) for (j = 1; j <= nd; j++) { printf "__od_sp_%s=\047%s\047\n", dk[j], dout[j]; set = set " __od_sp_" dk[j] }
  printf "__od_set=\"$__od_set%s\"\n", set
  # What the batch reports for src/ops/memo.rs: every count, every name asked and found.
  printf "__od_m1=\047"
  for (i = 1; i <= n; i++) if (lf[i] in given) printf ".ml %s %d\n", lk[i], lc[i]
  if (status) { for (p in want) printf ".mq %s\n", p; for (p in found) printf ".md %s %s\n", p, found[p] }
  printf "\047\n"
}'
__od_scan() {
  __od_st=
  set -f
  # shellcheck disable=SC2086  # package names, split on purpose
  if [ -n "$__od_dspec" ] && command -v apt-get >/dev/null 2>&1 && __od_dpkg_direct $__od_dnames; then
    __od_st=/var/lib/dpkg/status
  fi
  __od_ifs=$IFS
  IFS=$__od_nl
  # shellcheck disable=SC2086  # one file name a line (IFS is a newline here), split on purpose
  set -- $__od_files
  IFS=$__od_ifs
  set +f
  if [ -z "$__od_st" ] && [ $# -eq 0 ]; then return 0; fi
  # The status file is read a stanza at a time (RS empty, FS newline), the others by line.
  __od_out=$(__od_spec=$__od_spec __od_dspec=$__od_dspec awk "$__od_scan_awk" ph=s RS= 'FS=\n' $__od_st ph=l 'RS=\n' "$@" 2>/dev/null) || return 0
  eval "$__od_out"
  # For __od_memo_report: the hash of each file read (from this batch's sha256sum; a file
  # it did not hash is not kept), then what awk found in them.
  for __od_x in "$@" $__od_st; do
    if __od_known "$__od_x"; then __od_mo="${__od_mo-}.mh $__od_h $__od_x$__od_nl"; fi
  done
  __od_mo="${__od_mo-}$__od_m1"
}

# __od_memo_report: what the scans of this batch found, as `.mh HASH PATH`, `.ml KEY COUNT`,
# `.mq NAME` (asked of dpkg's status file) and `.md NAME STATUS...` (found there: a status
# per stanza, as a package has one per architecture) lines.
__od_memo_report() {
  printf '%s' "${__od_mo-}"
}

# __od_text PATH: a text file as facts, for the kinds that compute its new content in
# orbdeploy (block, replace): `.text missing|notfile|unreadable`, or `.text file`, then one
# `.l |LINE` per line (`.l ^LINE` for a line that ended in a carriage return, taken off
# here because the reply is read by lines) and `.eof nl|nonl` (whether the last line ended
# in a newline); `.big` instead past 1 MiB. Builtins only: no process on the machine (the
# carriage return is made once per session). NUL bytes are lost here, which the write
# notices: it replaces only a file whose SHA-256 is that of the text read.
__od_text() {
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo .text missing; return 0; fi
  if [ ! -f "$1" ]; then echo .text notfile; return 0; fi
  if [ ! -r "$1" ]; then echo .text unreadable; return 0; fi
  [ -n "${__od_cr-}" ] || __od_cr=$(printf '\r')
  echo .text file
  __od_txn=0
  __od_txe='nl'
  while IFS= read -r __od_txl || { [ -n "$__od_txl" ] && __od_txe='nonl'; }; do
    __od_txn=$((__od_txn + ${#__od_txl} + 1))
    if [ "$__od_txn" -gt 1048576 ]; then echo .big; return 0; fi
    case $__od_txl in
    *"$__od_cr") printf '.l ^%s\n' "${__od_txl%"$__od_cr"}" ;;
    *) printf '.l |%s\n' "$__od_txl" ;;
    esac
  done < "$1" && echo ".eof $__od_txe"
}
