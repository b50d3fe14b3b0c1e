#!/usr/bin/env bash
# The fleet benchmark (issue 30, BENCHMARKS.md "A fleet"): the pyinfra-performance
# harness's four tasks (a user, a touched file, a copied file, a shell echo) on N orbsim
# hosts running OpenSSH's sshd, a first and a second run, for
#   orbdeploy          over ssh, fresh logins on every run (the default),
#   orbdeploy-persist  over ssh with --persist 60s (the second run reuses the masters),
#   ansible            ansible-core, pipelining, ControlPersist 60s, forks = min(N, 50),
#   pyinfra            pyinfra 3.x, @ssh inventory (paramiko), --parallel N,
# in the same run on the same hosts. For each run: wall time, CPU time (user + system of
# the tool and every process it waited for), peak memory of the largest process of the
# tool (GNU time's maximum resident set), ssh client processes per host (a counting `ssh`
# first on PATH; pyinfra speaks SSH itself and starts none) and logins per host (sshd's
# "Accepted publickey" lines). Before each tool's first run its hosts are reset (the user,
# the files) and no master of an earlier tool is left.
#
# Usage: scripts/bench-fleet.sh [SIZE...]   host counts, default: 1 10 50 100
#   BENCH_FLEET_TOOLS="orbdeploy ansible" measures only those,
#   BENCH_FLEET_PROFILE=debug measures the debug build of orbdeploy and orbsim,
#   BENCH_FLEET_PARALLEL="10 25 50 100" then measures orbdeploy's second run (fresh logins)
#     at the largest size with each --parallel, BENCH_FLEET_REPEAT times each (default 3),
#   BENCH_FLEET_FIRST_REPEAT=N then measures orbdeploy's first run, fresh logins and
#     --persist alternately, N times each at the largest size (hosts reset before each),
#   BENCH_FLEET_KEX=ALGORITHMS gives orbdeploy's inventory that KexAlgorithms (e.g.
#     curve25519-sha256: BENCHMARKS.md, "SSH", on what the default key exchange costs),
#   BENCH_FLEET_VENV=DIR keeps the venv of Ansible and pyinfra there for the next run,
#   BENCH_FLEET_OUT=DIR keeps every run's output there (the extra runs' with --timings),
#   BENCH_FLEET_PERF=yes (with BENCH_FLEET_OUT) records each tool's second run at the
#     largest size with `perf record -a` (every process on the machine, the hosts' too)
#     and writes where its CPU went, by kind of process (scripts/bench-perf-kinds.py),
#     to DIR/perf-TOOL.txt; the table's figures are of those recorded runs.
# Needs Linux, root, network access to PyPI (a venv in the temp dir) and what
# scripts/setup.sh installs. Deletes every machine and ends every ssh process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-1 10 50 100}
tools=${BENCH_FLEET_TOOLS:-orbdeploy orbdeploy-persist ansible pyinfra}
. scripts/setup.sh >/dev/null
# BENCH_FLEET_PROFILE=debug uses the debug build (when a release build is out of reach).
profile=${BENCH_FLEET_PROFILE:-release}
# BENCH_FLEET_BUILD=no measures the binaries as they are built (no cargo build first).
if [ "${BENCH_FLEET_BUILD:-yes}" = no ]; then
  :
elif [ "$profile" = release ]; then
  cargo build -q --release --workspace --bins
else
  cargo build -q --workspace --bins
fi
work=$(mktemp -d /tmp/orbdeploy-bench-fleet.XXXXXX)
chmod 755 "$work"
bin=$work/bin
mkdir -p "$bin"
ln -s "$PWD/target/$profile/orbsim" "$bin/orbctl"
export ORBSIM_HOME=$work/home
# The persisted masters of this run live here, apart from the user's own.
export ORBDEPLOY_SSH_CONTROL_DIR=$work/ctl
orbctl=$bin/orbctl
od="$PWD/target/$profile/orbdeploy"
# shellcheck disable=SC2086  # a list of words
hosts_max=$(printf '%s\n' $sizes | sort -n | tail -1)
flavour=openssh-server,python3

# our_ssh, end_ssh and root_sh.
# shellcheck source=scripts/bench-ssh-lib.sh
. "$(dirname "$0")/bench-ssh-lib.sh"
cleanup() {
  "$od" ssh close >/dev/null 2>&1 || true
  end_ssh
  "$orbctl" delete -f -a >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# An interrupted benchmark still cleans up (bash runs the EXIT trap on `exit`).
trap 'exit 130' INT TERM HUP
out_dir=${BENCH_FLEET_OUT:-}
[ -z "$out_dir" ] || mkdir -p "$out_dir"

# BENCH_FLEET_VENV=DIR: a venv of an earlier run (made there when missing), so that separate
# invocations per size do not install again.
venv=${BENCH_FLEET_VENV:-$work/venv}
if [ ! -x "$venv/bin/pyinfra" ] || [ ! -x "$venv/bin/ansible-playbook" ]; then
  echo "installing ansible-core and pyinfra 3.x in a venv (pip's cache makes it quick)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core 'pyinfra>=3,<4' >&2
fi
versions="$("$venv/bin/ansible" --version | head -1), $("$venv/bin/pyinfra" --version), $(ssh -V 2>&1)"

# ---- the hosts: a prepared one (sshd, the key, dev's sudo), cloned for the rest
ssh_dir=$work/ssh
mkdir -p "$ssh_dir"
chmod 700 "$ssh_dir"
key=$ssh_dir/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench -f "$key"
known=$ssh_dir/known_hosts
: > "$known"
declare -A ip
echo "making $hosts_max hosts" >&2
made_from=$(date +%s.%N)
ORBSIM_PACKAGES=$flavour "$orbctl" create debian s1 >/dev/null
# shellcheck disable=SC2016  # expanded in the machine
"$orbctl" run -m s1 -u root -w / sh -c 'umask 077; for d in /root /home/dev; do mkdir -p $d/.ssh; cat "$1" > $d/.ssh/authorized_keys; done; chown -R dev: /home/dev/.ssh' sh "/mnt/mac$key.pub"
if [ "$hosts_max" -gt 1 ]; then
  "$orbctl" stop s1 >/dev/null
  for i in $(seq 2 "$hosts_max"); do "$orbctl" clone s1 "s$i" >/dev/null; done
fi
for i in $(seq 1 "$hosts_max"); do
  h=s$i
  "$orbctl" start "$h" >/dev/null 2>&1 || true
  ip[$h]=$("$orbctl" info "$h" -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip4"])')
  root_sh "$h" "/usr/sbin/sshd -o ListenAddress=${ip[$h]}:22 -o LogLevel=VERBOSE -E /var/log/sshd.log"
  root_sh "$h" 'cat /etc/ssh/ssh_host_*_key.pub' | awk -v a="${ip[$h]}" '{print a, $1, $2}' >> "$known"
done
made_secs=$(awk -v a="$made_from" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

# ---- a counting ssh first on PATH (orbdeploy and Ansible; pyinfra uses paramiko)
real_ssh=$(command -v ssh)
mkdir -p "$work/sshbin"
printf '#!/bin/sh\necho x >> %s/ssh-count\nexec %s "$@"\n' "$work" "$real_ssh" > "$work/sshbin/ssh"
chmod +x "$work/sshbin/ssh"
export PATH="$work/sshbin:$PATH"
ssh_count() { if [ -f "$work/ssh-count" ]; then wc -l < "$work/ssh-count"; else echo 0; fi; }
auths() { # N -> accepted public keys on s1..sN so far
  local total=0 i c
  for i in $(seq 1 "$1"); do
    c=$(root_sh "s$i" 'grep -c "Accepted publickey" /var/log/sshd.log || true')
    total=$((total + c))
  done
  echo "$total"
}

# ---- the four tasks, for each tool
ops=$work/ops
mkdir -p "$ops/files"
echo "a file to copy" > "$ops/files/file.txt"
cat > "$ops/ops.yaml" <<'YAML'
- { name: a user, user: { name: perfuser, home: /home/perfuser } }
- { name: a touched file, file: { path: /var/log/perf.log, state: touch, owner: perfuser, group: perfuser, mode: "0644" }, become: true }
- { name: a copied file, put: { src: files/file.txt, dest: /home/perfuser/file.txt }, become: true }
- { name: a shell echo, shell: "echo hello" }
YAML
cat > "$ops/playbook.yml" <<'YAML'
- hosts: all
  gather_facts: false
  tasks:
    - { name: a user, user: { name: perfuser, home: /home/perfuser }, become: true }
    - { name: a touched file, file: { path: /var/log/perf.log, state: touch, owner: perfuser, group: perfuser, mode: "0644" }, become: true }
    - { name: a copied file, copy: { src: files/file.txt, dest: /home/perfuser/file.txt }, become: true }
    - { name: a shell echo, shell: "echo hello" }
YAML
cat > "$ops/deploy.py" <<'PY'
from pyinfra.operations import files, server

server.user(name="a user", user="perfuser", home="/home/perfuser", _sudo=True)
files.file(name="a touched file", path="/var/log/perf.log", touch=True, user="perfuser",
           group="perfuser", mode="644", _sudo=True)
files.put(name="a copied file", src="files/file.txt", dest="/home/perfuser/file.txt", _sudo=True)
server.shell(name="a shell echo", commands=["echo hello"])
PY
mkdir -p "$ops/cp"
ansible_cfg() { # N
  cat > "$ops/ansible.cfg" <<CFG
[defaults]
forks = $(( $1 < 50 ? $1 : 50 ))
host_key_checking = True
interpreter_python = /usr/bin/python3
remote_user = dev
private_key_file = $key
stdout_callback = default
[ssh_connection]
pipelining = True
control_path_dir = $ops/cp
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$known -o IdentitiesOnly=yes
CFG
}
inventories() { # N -> the three inventories for s1..sN
  local n=$1 i
  {
    echo "defaults:"
    echo "  ssh: { host_key: strict, user: dev, identity: $key, options: { UserKnownHostsFile: $known${BENCH_FLEET_KEX:+, KexAlgorithms: $BENCH_FLEET_KEX} } }"
    echo "machines:"
    for i in $(seq 1 "$n"); do echo "  s$i: { ssh: { host: ${ip[s$i]} } }"; done
    echo "operations: ops.yaml"
  } > "$ops/od$n.yaml"
  { echo "[all]"; for i in $(seq 1 "$n"); do echo "s$i ansible_host=${ip[s$i]}"; done; } > "$ops/ansible$n.ini"
  {
    echo "hosts = ["
    for i in $(seq 1 "$n"); do
      echo "    (\"s$i\", {\"ssh_hostname\": \"${ip[s$i]}\", \"ssh_user\": \"dev\", \"ssh_key\": \"$key\","
      echo "             \"ssh_known_hosts_file\": \"$known\", \"ssh_strict_host_key_checking\": \"yes\"}),"
    done
    echo "]"
  } > "$ops/pyinfra$n.py"
  ansible_cfg "$n"
}

run_cmd() { # TOOL N [PARALLEL] -> the command line, in words
  local parallel=${3:-$(( $2 < 50 ? $2 : 50 ))}
  case $1 in
    orbdeploy) echo "$od apply $ops/od$2.yaml --progress never --parallel $parallel${timings:+ --timings}" ;;
    orbdeploy-persist) echo "$od apply $ops/od$2.yaml --progress never --parallel $parallel --persist 60s${timings:+ --timings}" ;;
    ansible) echo "$venv/bin/ansible-playbook -i $ops/ansible$2.ini $ops/playbook.yml" ;;
    pyinfra) echo "$venv/bin/pyinfra -y --parallel $2 $ops/pyinfra$2.py $ops/deploy.py" ;;
  esac
}

# One measured run: "wall cpu peak_mb ssh_per_host logins_per_host"; OUT names the copy
# of its output kept in $BENCH_FLEET_OUT.
measure() { # TOOL N OUT [PARALLEL]
  local a0 c0 cmd
  read -r -a cmd <<< "$(run_cmd "$1" "$2" "${4:-}")"
  a0=$(auths "$2"); c0=$(ssh_count)
  local perf=()
  # shellcheck disable=SC2154  # perf_data is set by the caller, for one run
  [ -z "${perf_data:-}" ] || perf=(perf record -q -e cpu-clock -F 997 -a -o "$perf_data" --)
  (cd "$ops" && ANSIBLE_CONFIG=$ops/ansible.cfg "${perf[@]}" /usr/bin/time -f '%e %U %S %M' -o "$work/time" "${cmd[@]}") > "$work/out" 2>&1 \
    || { [ -z "$out_dir" ] || cp "$work/out" "$out_dir/$3.failed.txt"
         tail -40 "$work/out" >&2; echo "FAILED: ${cmd[*]}" >&2; exit 1; }
  [ -z "$out_dir" ] || cp "$work/out" "$out_dir/$3.txt"
  read -r wall user sys rss < "$work/time"
  awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v p="$(($(ssh_count) - c0))" -v a="$(($(auths "$2") - a0))" -v n="$2" \
    'BEGIN { printf "%.2f %.2f %.0f %.1f %.1f\n", w, u + s, r / 1024, p / n, a / n }'
}

check_hosts() { # N TOOL: every host got the work (a tool that did nothing would look fast)
  local i out
  for i in $(seq 1 "$1"); do
    out=$(root_sh "s$i" 'id -u perfuser >/dev/null && stat -c %U /var/log/perf.log && cat /home/perfuser/file.txt')
    [ "$out" = "$(printf 'perfuser\na file to copy')" ] || { echo "s$i after $2: $out" >&2; exit 1; }
  done
}

printf '\nThe fleet benchmark (%s; orbdeploy %s build)\n' "$versions" "$profile"
printf 'load average at the start: %s (2 cores; figures are noisy when the machine is shared)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s hosts made (1 created, the rest cloned, all started, sshd in each) in %s s\n' "$hosts_max" "$made_secs"
load1() { cut -d' ' -f1 /proc/loadavg; }
printf '%-6s %-18s | %8s %7s %7s %7s %7s %5s | %8s %7s %7s %7s %7s %5s\n' hosts tool \
  "1st (s)" "cpu s" "MB" "ssh/h" "login/h" load "2nd (s)" "cpu s" "MB" "ssh/h" "login/h" load
for n in $sizes; do
  inventories "$n"
  for tool in $tools; do
    "$od" ssh close >/dev/null
    end_ssh   # no master left from an earlier row: the first run connects from scratch
    for i in $(seq 1 "$n"); do root_sh "s$i" 'userdel -r perfuser 2>/dev/null; rm -f /var/log/perf.log; true'; done
    load_first=$(load1)
    first=$(measure "$tool" "$n" "$tool-$n-first")
    check_hosts "$n" "$tool"
    load_second=$(load1)
    if [ "${BENCH_FLEET_PERF:-}" = yes ] && [ -n "$out_dir" ] && [ "$n" = "$hosts_max" ]; then
      second=$(perf_data=$out_dir/perf-$tool.data measure "$tool" "$n" "$tool-$n-second")
      python3 scripts/bench-perf-kinds.py "$out_dir/perf-$tool.data" "$n" > "$out_dir/perf-$tool.txt"
    else
      second=$(measure "$tool" "$n" "$tool-$n-second")
    fi
    # shellcheck disable=SC2086  # five words each
    printf '%-6s %-18s | %8s %7s %7s %7s %7s %5s | %8s %7s %7s %7s %7s %5s\n' "$n" "$tool" $first "$load_first" $second "$load_second"
  done
  printf 'load average after %s hosts: %s\n' "$n" "$(cut -d' ' -f1-3 /proc/loadavg)"
done

# ---- the --parallel sweep: orbdeploy's re-apply (fresh logins) at the largest size
if [ -n "${BENCH_FLEET_PARALLEL:-}" ]; then
  "$od" ssh close >/dev/null
  end_ssh
  printf '\n--parallel at %s hosts, orbdeploy second run (fresh logins, --timings), %s runs each\n' "$hosts_max" "${BENCH_FLEET_REPEAT:-3}"
  printf '%-9s | %8s %7s %7s %7s %5s\n' parallel "wall (s)" "cpu s" MB login/h load
  for p in $BENCH_FLEET_PARALLEL; do
    for r in $(seq 1 "${BENCH_FLEET_REPEAT:-3}"); do
      l=$(load1)
      read -r wall cpu mb _ logins <<< "$(timings=1 measure orbdeploy "$hosts_max" "parallel-$p-$r" "$p")"
      printf '%-9s | %8s %7s %7s %7s %5s\n' "$p" "$wall" "$cpu" "$mb" "$logins" "$l"
    done
  done
fi

# ---- first runs again: fresh logins against --persist (BENCHMARKS.md: the first --persist
# run was once slower than a fresh one)
if [ -n "${BENCH_FLEET_FIRST_REPEAT:-}" ]; then
  printf '\nfirst run at %s hosts (hosts reset, no master left before each; --timings)\n' "$hosts_max"
  printf '%-18s | %8s %7s %7s %7s %5s\n' tool "wall (s)" "cpu s" MB login/h load
  for r in $(seq 1 "$BENCH_FLEET_FIRST_REPEAT"); do
    for tool in orbdeploy orbdeploy-persist; do
      "$od" ssh close >/dev/null
      end_ssh
      for i in $(seq 1 "$hosts_max"); do root_sh "s$i" 'userdel -r perfuser 2>/dev/null; rm -f /var/log/perf.log; true'; done
      l=$(load1)
      read -r wall cpu mb _ logins <<< "$(timings=1 measure "$tool" "$hosts_max" "first-$tool-$r")"
      printf '%-18s | %8s %7s %7s %7s %5s\n' "$tool" "$wall" "$cpu" "$mb" "$logins" "$l"
    done
  done
fi
