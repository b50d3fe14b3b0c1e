#!/usr/bin/env bash
# The ssh section of the benchmark (issue 18, BENCHMARKS.md "SSH (issue 18)"): on the same
# orbsim machines running OpenSSH's sshd (the ORBSIM_PACKAGES flavour, see orbsim/README.md),
# 1, 4 and 8 hosts x 50 steps (bench.sh's mix: shell, put, template, line, packages and a
# directory) for orbdeploy over ssh (an inventory with `ssh:` blocks), Ansible (ansible-core
# from PyPI, an equivalent playbook, pipelining, ControlPersist, forks = hosts) and pyinfra 3.x
# (@ssh, an equivalent deploy). For each: the first apply and the median no-change re-apply,
# the ssh client processes each started (a counting `ssh` wrapper first on PATH; pyinfra
# speaks SSH itself, through paramiko, and starts none) and the authentications sshd
# accepted ("Accepted publickey" lines of its VERBOSE log). Then the same with 20 ms added
# delay: tc netem on the host side of each machine's veth where the kernel has netem, else
# (said so in the output) scripts/bench-delay-relay.py, a TCP relay on the host that delays
# every client-to-server chunk by 20 ms.
#
# Before the tables: what one login costs in CPU, on the client (ssh) and on the host (sshd
# and what it started), with OpenSSH's default key exchange and with curve25519-sha256; and
# the logins alone at each host count, side by side: the floor under the 8 / 1 ratio of any
# tool that logs in on each run.
#
# Usage: scripts/bench-ssh.sh [RUNS]   (RUNS re-applies for the median, default 5)
#   BENCH_SSH_TOOLS="ansible pyinfra" measures only those (default: orbdeploy ansible pyinfra),
#   BENCH_SSH_SIZES="1 4" only those host counts (default: 1 4 8),
#   BENCH_SSH_KEX=curve25519-sha256 has orbdeploy and Ansible (both OpenSSH) offer only that
#   key exchange (default: OpenSSH's own list; pyinfra's paramiko has its own, printed),
#   BENCH_SSH_DELAY=no skips the 20 ms table (default: yes),
#   BENCH_SSH_PIPELINE_ONLY=yes measures only the pipelined-steps table (issue 33; no login
#   costs, no tool tables; Ansible and pyinfra in it only with BENCH_SSH_PIPELINE_PEERS=yes,
#   which is the default of a full run).
# Needs Linux, root, network access to PyPI (a venv in the temp dir) and what
# scripts/setup.sh installs. Deletes every machine and ends every ssh process it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. scripts/setup.sh >/dev/null
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
cargo build -q --release --workspace --bins
work=$(mktemp -d /tmp/orbdeploy-bench-ssh.XXXXXX)
chmod 755 "$work"
bin=$work/bin
mkdir -p "$bin"
ln -s "$PWD/target/release/orbsim" "$bin/orbctl"
export ORBSIM_HOME=$work/home
orbctl=$bin/orbctl
od="$PWD/target/release/orbdeploy"
tools=${BENCH_SSH_TOOLS:-orbdeploy ansible pyinfra}
sizes=${BENCH_SSH_SIZES:-1 4 8}
kex=${BENCH_SSH_KEX:-}
delay=${BENCH_SSH_DELAY:-yes}
only_pipeline=${BENCH_SSH_PIPELINE_ONLY:-no}
pipe_peers=${BENCH_SSH_PIPELINE_PEERS:-$([ "$only_pipeline" = yes ] && echo no || echo yes)}
# shellcheck disable=SC2086  # a list of words
hosts_max=$(printf '%s\n' $sizes | sort -n | tail -1)
flavour=openssh-server,python3,python3-apt   # python3-apt: Ansible's apt module needs it
delayed=()                                     # veths with a netem qdisc of ours
relay=""                                       # the delay relay's pid

# our_ssh, end_ssh and root_sh.
# shellcheck source=scripts/bench-ssh-lib.sh
. "$(dirname "$0")/bench-ssh-lib.sh"
cleanup() {
  end_ssh
  [ -z "$relay" ] || kill "$relay" 2>/dev/null || true
  local d
  for d in "${delayed[@]}"; do tc qdisc del dev "$d" root 2>/dev/null || true; done
  "$orbctl" delete -f -a >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

# ---- the peers, from PyPI, in a venv of this run
versions=$(ssh -V 2>&1)
if [ "$only_pipeline" != yes ] || [ "$pipe_peers" = yes ]; then
  echo "installing ansible-core and pyinfra 3.x in a venv (pip's cache makes it quick)" >&2
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q ansible-core 'pyinfra>=3,<4' >&2
  versions="$("$work/venv/bin/ansible" --version | head -1), $("$work/venv/bin/pyinfra" --version), $(ssh -V 2>&1)"
fi

# ---- the hosts: sshd as root on ip4:22, LogLevel VERBOSE, a fresh key, real known_hosts
ssh_dir=$work/ssh
mkdir -p "$ssh_dir"
chmod 700 "$ssh_dir"
key=$ssh_dir/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench -f "$key"
known=$ssh_dir/known_hosts
: > "$known"
declare -A ip veth addr port
for i in $(seq 1 "$hosts_max"); do
  h=s$i
  ORBSIM_PACKAGES=$flavour "$orbctl" create debian "$h" >/dev/null
  ip[$h]=$("$orbctl" info "$h" -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip4"])')
  # shellcheck disable=SC2016  # expanded in the machine
  "$orbctl" run -m "$h" -u root -w / sh -c 'umask 077; for d in /root /home/dev; do mkdir -p $d/.ssh; cat "$1" > $d/.ssh/authorized_keys; done; chown -R dev: /home/dev/.ssh' sh "/mnt/mac$key.pub"
  root_sh "$h" "/usr/sbin/sshd -o ListenAddress=${ip[$h]}:22 -o LogLevel=VERBOSE -E /var/log/sshd.log"
  root_sh "$h" 'cat /etc/ssh/ssh_host_*_key.pub' | awk -v a="${ip[$h]}" '{print a, $1, $2}' >> "$known"
  # The host side of the machine's veth: the interface whose index is eth0's peer link.
  idx=$("$orbctl" run -m "$h" -w / cat /sys/class/net/eth0/iflink)
  veth[$h]=$(ip -o link | awk -F': ' -v i="$idx" '$1 == i {split($2, a, "@"); print a[1]}')
  addr[$h]=${ip[$h]}
  port[$h]=22
done

# ---- a counting ssh first on PATH (for orbdeploy and Ansible; pyinfra uses paramiko)
real_ssh=$(command -v ssh)
mkdir -p "$work/sshbin"
printf '#!/bin/sh\necho x >> %s/ssh-count\nexec %s "$@"\n' "$work" "$real_ssh" > "$work/sshbin/ssh"
chmod +x "$work/sshbin/ssh"
export PATH="$work/sshbin:$PATH"
ssh_count() { [ -f "$work/ssh-count" ] && wc -l < "$work/ssh-count" || echo 0; }
auths() { # N -> accepted public keys on s1..sN so far
  local total=0 i c
  for i in $(seq 1 "$1"); do
    c=$(root_sh "s$i" 'grep -c "Accepted publickey" /var/log/sshd.log || true')
    total=$((total + c))
  done
  echo "$total"
}

# ---- the 50 steps, for each tool (bench.sh's mix, in its order)
ops=$work/ops
mkdir -p "$ops/files" "$ops/templates"
head -c 4096 /dev/urandom > "$ops/files/blob"
printf 'host={{ machine }}\nn={{ n }}\n' > "$ops/templates/t.j2"
{
  echo "steps:"
  echo "  - { name: bench dir, directory: { path: /srv/bench }, become: true }"
  for i in $(seq 1 10); do
    [ "$i" = 10 ] || echo "  - { name: shell $i, shell: \"echo $i > /dev/null\" }"
    echo "  - { name: put $i, put: { src: files/blob, dest: /srv/bench/blob$i }, become: true }"
    echo "  - { name: template $i, template: { src: templates/t.j2, dest: /srv/bench/t$i.conf }, become: true }"
    echo "  - { name: line $i, line: { path: /srv/bench/lines, line: \"key$i=value$i\" }, become: true }"
    echo "  - { name: packages $i, packages: { names: [procps] } }"
  done
} > "$ops/ops.yaml"
test "$(grep -c 'name:' "$ops/ops.yaml")" = 50
{
  echo "- hosts: all"
  echo "  gather_facts: false"
  echo "  vars: { n: 1, machine: \"{{ inventory_hostname }}\" }"
  echo "  tasks:"
  echo "    - { name: bench dir, file: { path: /srv/bench, state: directory }, become: true }"
  for i in $(seq 1 10); do
    [ "$i" = 10 ] || echo "    - { name: shell $i, shell: \"echo $i > /dev/null\" }"
    echo "    - { name: put $i, copy: { src: files/blob, dest: /srv/bench/blob$i }, become: true }"
    echo "    - { name: template $i, template: { src: templates/t.j2, dest: /srv/bench/t$i.conf }, become: true }"
    echo "    - { name: line $i, lineinfile: { path: /srv/bench/lines, line: \"key$i=value$i\", create: true }, become: true }"
    echo "    - { name: packages $i, apt: { name: procps, state: present } }"
  done
} > "$ops/playbook.yml"
test "$(grep -c 'name:' "$ops/playbook.yml")" = 50
cat > "$ops/deploy.py" <<'PY'
from pyinfra import host
from pyinfra.operations import apt, files, server

files.directory(name="bench dir", path="/srv/bench", _sudo=True)
for i in range(1, 11):
    if i != 10:
        server.shell(name=f"shell {i}", commands=[f"echo {i} > /dev/null"])
    files.put(name=f"put {i}", src="files/blob", dest=f"/srv/bench/blob{i}", _sudo=True)
    files.template(name=f"template {i}", src="templates/t.j2", dest=f"/srv/bench/t{i}.conf",
                   machine=host.name, n=1, _sudo=True)
    files.line(name=f"line {i}", path="/srv/bench/lines", line=f"key{i}=value{i}", _sudo=True)
    apt.packages(name=f"packages {i}", packages=["procps"])
PY
test "$(grep -c 'name=' "$ops/deploy.py")" = 6
mkdir -p "$ops/cp"
cat > "$ops/ansible.cfg" <<CFG
[defaults]
forks = $hosts_max
host_key_checking = True
interpreter_python = /usr/bin/python3
remote_user = dev
private_key_file = $key
stdout_callback = default
[ssh_connection]
pipelining = True
control_path_dir = $ops/cp
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$known -o IdentitiesOnly=yes${kex:+ -o KexAlgorithms=$kex}
CFG

inventories() { # N -> the three inventories for s1..sN
  local n=$1 i
  {
    echo "vars: { n: 1 }"
    echo "defaults:"
    echo "  ssh: { host_key: strict, user: dev, identity: $key, options: { UserKnownHostsFile: $known${kex:+, KexAlgorithms: $kex} } }"
    echo "machines:"
    for i in $(seq 1 "$n"); do echo "  s$i: { ssh: { host: ${addr[s$i]}, port: ${port[s$i]} } }"; done
    echo "operations: ops.yaml"
  } > "$ops/od$n.yaml"
  { echo "[all]"; for i in $(seq 1 "$n"); do echo "s$i ansible_host=${addr[s$i]} ansible_port=${port[s$i]}"; done; } > "$ops/ansible$n.ini"
  {
    echo "hosts = ["
    for i in $(seq 1 "$n"); do
      echo "    (\"s$i\", {\"ssh_hostname\": \"${addr[s$i]}\", \"ssh_port\": ${port[s$i]}, \"ssh_user\": \"dev\", \"ssh_key\": \"$key\","
      echo "             \"ssh_known_hosts_file\": \"$known\", \"ssh_strict_host_key_checking\": \"yes\"}),"
    done
    echo "]"
  } > "$ops/pyinfra$n.py"
}

apply_cmd() { # TOOL N -> the command line, in words
  case $1 in
    orbdeploy) echo "$od --orbctl $orbctl apply $ops/od$2.yaml --progress never" ;;
    ansible) echo "$work/venv/bin/ansible-playbook -i $ops/ansible$2.ini $ops/playbook.yml" ;;
    pyinfra) echo "$work/venv/bin/pyinfra -y --parallel $2 $ops/pyinfra$2.py $ops/deploy.py" ;;
  esac
}

# One measured apply: prints "seconds ssh-processes authentications".
measure() { # TOOL N
  local a0 c0 t0 t1 cmd
  read -r -a cmd <<< "$(apply_cmd "$1" "$2")"
  a0=$(auths "$2"); c0=$(ssh_count)
  t0=$(now)
  (cd "$ops" && ANSIBLE_CONFIG=$ops/ansible.cfg "${cmd[@]}") > "$work/out" 2>&1 || { tail -40 "$work/out" >&2; echo "FAILED: ${cmd[*]}" >&2; exit 1; }
  t1=$(now)
  echo "$(elapsed "$t0" "$t1") $(($(ssh_count) - c0)) $(($(auths "$2") - a0))"
}

check_hosts() { # N: every host got the work (a tool that did nothing would look fast)
  local i out
  for i in $(seq 1 "$1"); do
    out=$(root_sh "s$i" 'ls /srv/bench | wc -l; wc -l < /srv/bench/lines; cat /srv/bench/t3.conf')
    [ "$out" = "$(printf '21\n10\nhost=s%s\nn=1' "$i")" ] || { echo "s$i after $2: $out" >&2; exit 1; }
  done
}

table() { # LABEL
  printf '\n%s (%s; re-apply: median of %s runs)\n' "$1" "$versions" "$runs"
  printf 'load average at the start: %s (2 cores shared with other work make figures noisy)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-6s %-10s %9s %6s %6s %12s %6s %6s\n' hosts tool "first (s)" ssh auths "re-apply (s)" ssh auths
  local n tool first fp fa times t p a
  for n in $sizes; do
    inventories "$n"
    for tool in $tools; do
      end_ssh   # no master left from an earlier row: the first apply connects from scratch
      for i in $(seq 1 "$n"); do root_sh "s$i" 'rm -rf /srv/bench'; done
      read -r first fp fa < <(measure "$tool" "$n")
      check_hosts "$n" "$tool"
      times=()
      for _ in $(seq 1 "$runs"); do
        read -r t p a < <(measure "$tool" "$n")
        times+=("$t")
      done
      med=$(printf '%s\n' "${times[@]}" | median)
      reapply[$1-$n-$tool]=$med
      printf '%-6s %-10s %9s %6s %6s %12s %6s %6s\n' "$n" "$tool" "$first" "$fp" "$fa" "$med" "$p" "$a"
    done
  done
  end_ssh
  ratio() { # KEY-A KEY-B -> A's re-apply / B's, or "-" when one is missing
    local x=${reapply[$1]:-} y=${reapply[$2]:-}
    if [ -n "$x" ] && [ -n "$y" ]; then echo "$x / $y" | bc -l | xargs printf '%.2f'; else echo -; fi
  }
  printf 're-apply, 4 hosts: Ansible / orbdeploy %s x, pyinfra / orbdeploy %s x\n' \
    "$(ratio "$1-4-ansible" "$1-4-orbdeploy")" "$(ratio "$1-4-pyinfra" "$1-4-orbdeploy")"
  local t8
  for t8 in $tools; do
    printf 're-apply %s, 8 hosts / 1 host: %s x\n' "$t8" "$(ratio "$1-8-$t8" "$1-1-$t8")"
  done
}

# ---- what one login costs: 10 logins to s1 (`ssh HOST true`, no master), the client's CPU
# (bash's `times` of a subshell: its children, the ssh processes) and the host's (the
# listening sshd's reaped children: every connection's sshd and what it started).
sshd_children_ticks() { # the listening sshd of s1: utime+stime of its reaped children
  local pid
  pid=$(pgrep -f "sshd -o ListenAddress=${ip[s1]}:22" | head -1)
  awk '{print $16 + $17}' "/proc/$pid/stat"
}
login_cost() { # KEX ("" = OpenSSH's default list) -> "CLIENT_MS HOST_MS" per login
  local opts=(-T -o BatchMode=yes -o IdentitiesOnly=yes -i "$key" -o "UserKnownHostsFile=$known")
  [ -z "$1" ] || opts+=(-o "KexAlgorithms=$1")
  local h0 h1 c
  h0=$(sshd_children_ticks)
  c=$( (for _ in $(seq 1 10); do "$real_ssh" "${opts[@]}" "dev@${ip[s1]}" true; done; times) | tail -1)
  h1=$(sshd_children_ticks)
  # `times`' second line: children's user and system time, as 0m0.123s.
  echo "$c" | awk -v h=$((h1 - h0)) -v hz="$(getconf CLK_TCK)" '{
    t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    printf "%.1f %.1f\n", t * 100, h * 1000 / hz / 10 }'
}
if [ "$only_pipeline" != yes ]; then
printf '\nOne login (ssh HOST true, 10 times, %s), CPU per login:\n' "$(ssh -V 2>&1 | cut -d, -f1)"
printf '  %-42s %10s %10s\n' "key exchange" "client ms" "host ms"
negotiated=$("$real_ssh" -v -T -o BatchMode=yes -o IdentitiesOnly=yes -i "$key" -o "UserKnownHostsFile=$known" "dev@${ip[s1]}" true 2>&1 | sed -n 's/.*kex: algorithm: //p' | tr -d '\r' | head -1)
read -r lc lh < <(login_cost "")
printf '  %-42s %10s %10s\n' "OpenSSH's default ($negotiated)" "$lc" "$lh"
read -r lc lh < <(login_cost curve25519-sha256)
printf '  %-42s %10s %10s\n' "curve25519-sha256" "$lc" "$lh"
if [[ " $tools " == *" pyinfra "* ]]; then
  printf '  pyinfra (paramiko %s) offers: %s\n' "$("$work/venv/bin/python" -c 'import paramiko; print(paramiko.__version__)')" \
    "$("$work/venv/bin/python" -c 'import paramiko; print(" ".join(paramiko.Transport._preferred_kex[:3]))')"
fi
# ---- the floor under every tool that logs in afresh on each run: the logins alone, side by
# side (`ssh HOST true` to s1..sN at once, no master), median of RUNS for each host count.
# Two cores run them; where the login is CPU (sntrup761's key generation), N logins cost
# about N times one over 2 cores, whatever the tool does after logging in.
logins_at_once() { # N KEX -> seconds for N logins side by side
  local opts=(-T -o BatchMode=yes -o IdentitiesOnly=yes -i "$key" -o "UserKnownHostsFile=$known")
  [ -z "$2" ] || opts+=(-o "KexAlgorithms=$2")
  local t0 t1 i pids=()
  t0=$(now)
  for i in $(seq 1 "$1"); do "$real_ssh" "${opts[@]}" "dev@${ip[s$i]}" true & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || { echo "a login to a host failed" >&2; exit 1; }; done
  t1=$(now)
  elapsed "$t0" "$t1"
}
printf '\nLogins alone, side by side (ssh HOST true to each host at once, no master; median of %s):\n' "$runs"
printf '  %-42s' "key exchange"
for n in $sizes; do printf ' %8s' "$n host$([ "$n" = 1 ] || echo s)"; done
printf ' %8s\n' "max / 1"
declare -A floor
for kx in "" curve25519-sha256; do
  printf '  %-42s' "${kx:-OpenSSH default ($negotiated)}"
  for n in $sizes; do
    floor[$n]=$(for _ in $(seq 1 "$runs"); do logins_at_once "$n" "$kx"; done | median)
    printf ' %8s' "${floor[$n]}"
  done
  if [ -n "${floor[1]:-}" ]; then
    printf ' %7sx\n' "$(echo "${floor[$hosts_max]} / ${floor[1]}" | bc -l | xargs printf '%.2f')"
  else
    printf ' %8s\n' -
  fi
done
fi
printf 'key exchange in the tables: %s\n' "${kex:-OpenSSH default for orbdeploy and Ansible}"

# ---- pipelined steps (issue 33): a 50-step no-change re-apply of s1 as the login user (30
# commands, 7 directories, 7 puts, 6 lines), with and without pipelining: the wall time and
# the round trips after login (the report's `timings.requests`: requests sent to the agent
# once its session was open; opening it, the login included, is not one).
# The same 50 steps for Ansible (file, shell, copy, lineinfile, command), written beside
# orbdeploy's by one helper so that the two lists cannot drift apart; pyinfra's below.
for g in $(seq 1 7); do printf 'file %s\n' "$g" > "$ops/files/pf$g"; done
printf -- '- hosts: all\n  gather_facts: false\n  tasks:\n' > "$ops/pipe.yml"
step() { # NAME ORBDEPLOY-OPERATION ANSIBLE-TASK
  printf -- '- { name: %s, %s }\n' "$1" "$2" >> "$ops/pipe.yaml"
  printf -- '    - { name: %s, %s }\n' "$1" "$3" >> "$ops/pipe.yml"
}
: > "$ops/pipe.yaml"
for g in $(seq 1 7); do
  step "dir $g" "directory: { path: /tmp/pbench/d$g }" "file: { path: /tmp/pbench/d$g, state: directory }"
  step "cmd $g a" "shell: \"echo $g > /dev/null\"" "shell: \"echo $g > /dev/null\""
  step "put $g" "put: { content: \"file $g\\n\", dest: /tmp/pbench/d$g/f }" "copy: { src: files/pf$g, dest: /tmp/pbench/d$g/f }"
  step "cmd $g b" "shell: \"test -d /tmp/pbench\"" "shell: \"test -d /tmp/pbench\""
  [ "$g" = 7 ] || step "line $g" "line: { path: /tmp/pbench/lines, line: \"key$g=value$g\" }" \
    "lineinfile: { path: /tmp/pbench/lines, line: \"key$g=value$g\", create: true }"
  step "cmd $g c" "command: [\"true\"]" "command: \"true\""
  step "cmd $g d" "shell: \"uname > /dev/null\"" "shell: \"uname > /dev/null\""
  [ "$g" -gt 2 ] || step "cmd $g e" "shell: \"test -e /tmp/pbench/lines\"" "shell: \"test -e /tmp/pbench/lines\""
done
test "$(grep -c 'name:' "$ops/pipe.yaml")" = 50
test "$(grep -c 'name: cmd' "$ops/pipe.yaml")" = 30
test "$(grep -c 'name:' "$ops/pipe.yml")" = 50
cat > "$ops/pipe.py" <<'PY'
from pyinfra.operations import files, server

for g in range(1, 8):
    files.directory(name=f"dir {g}", path=f"/tmp/pbench/d{g}")
    server.shell(name=f"cmd {g} a", commands=[f"echo {g} > /dev/null"])
    files.put(name=f"put {g}", src=f"files/pf{g}", dest=f"/tmp/pbench/d{g}/f")
    server.shell(name=f"cmd {g} b", commands=["test -d /tmp/pbench"])
    if g != 7:
        files.line(name=f"line {g}", path="/tmp/pbench/lines", line=f"key{g}=value{g}")
    server.shell(name=f"cmd {g} c", commands=["true"])
    server.shell(name=f"cmd {g} d", commands=["uname > /dev/null"])
    if g <= 2:
        server.shell(name=f"cmd {g} e", commands=["test -e /tmp/pbench/lines"])
PY
pipeline_table() { # LABEL
  {
    echo "defaults:"
    echo "  ssh: { host_key: strict, user: dev, identity: $key, options: { UserKnownHostsFile: $known${kex:+, KexAlgorithms: $kex} } }"
    echo "machines:"
    echo "  s1: { ssh: { host: ${addr[s1]}, port: ${port[s1]} } }"
    echo "operations: pipe.yaml"
  } > "$ops/odpipe.yaml"
  printf '\nPipelined steps, %s: 1 host x 50 steps (30 commands) as the login user; re-apply: median of %s runs\n(%s)\n' "$1" "$runs" "$versions"
  printf 'load average at the start: %s (2 cores shared with other work make figures noisy)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-24s %9s %9s %12s %9s\n' tool "first (s)" requests "re-apply (s)" requests
  local mode flag first fr t r times modes=(pipelined no-pipeline)
  [ "$pipe_peers" = yes ] && modes+=(ansible pyinfra)
  inventories 1
  for mode in "${modes[@]}"; do
    flag=(); [ "$mode" = pipelined ] || flag=(--no-pipeline)
    end_ssh
    root_sh s1 'rm -rf /tmp/pbench'
    read -r first fr < <(pipe_measure "$mode" "${flag[@]}")
    pipe_check "$mode"
    times=()
    for _ in $(seq 1 "$runs"); do
      read -r t r < <(pipe_measure "$mode" "${flag[@]}")
      times+=("$t")
    done
    printf '%-24s %9s %9s %12s %9s\n' "$(pipe_label "$mode")" "$first" "$fr" "$(printf '%s\n' "${times[@]}" | median)" "$r"
  done
  end_ssh
}
pipe_label() { # MODE -> the row's name
  case $1 in
    pipelined) echo "orbdeploy" ;;
    no-pipeline) echo "orbdeploy --no-pipeline" ;;
    ansible) echo "Ansible (ControlPersist)" ;;
    pyinfra) echo "pyinfra" ;;
  esac
}
pipe_check() { # MODE: the host got the work (a tool that did nothing would look fast)
  local out
  out=$(root_sh s1 'ls /tmp/pbench | wc -l; wc -l < /tmp/pbench/lines; cat /tmp/pbench/d7/f')
  [ "$out" = "$(printf '8\n6\nfile 7')" ] || { echo "s1 after $1: $out" >&2; exit 1; }
}
pipe_measure() { # MODE [--no-pipeline] -> "seconds requests" (requests: orbdeploy's only)
  local t0 t1 mode=$1 cmd
  shift
  case $mode in
    ansible) cmd=("$work/venv/bin/ansible-playbook" -i "$ops/ansible1.ini" "$ops/pipe.yml") ;;
    pyinfra) cmd=("$work/venv/bin/pyinfra" -y "$ops/pyinfra1.py" "$ops/pipe.py") ;;
    *) cmd=("$od" --orbctl "$orbctl" apply "$ops/odpipe.yaml" --progress never --report "$work/pipe.json" "$@") ;;
  esac
  rm -f "$work/pipe.json"
  t0=$(now)
  (cd "$ops" && ANSIBLE_CONFIG=$ops/ansible.cfg "${cmd[@]}") > "$work/out" 2>&1 || { tail -40 "$work/out" >&2; echo "FAILED: ${cmd[*]}" >&2; exit 1; }
  t1=$(now)
  if [ -f "$work/pipe.json" ]; then
    echo "$(elapsed "$t0" "$t1") $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["machines"][0]["timings"]["requests"])' "$work/pipe.json")"
  else
    echo "$(elapsed "$t0" "$t1") -"
  fi
}

declare -A reapply
printf '\nMachine: %s, %s cores, %s\n' "$(uname -sr)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf 'ssh processes: started by the apply (a counting wrapper); auths: "Accepted publickey" in the hosts'"'"' sshd logs\n'
[ "$only_pipeline" = yes ] || table "links as they are"
pipeline_table "links as they are"

# ---- 20 ms more on each link: tc netem where the kernel has it, else the relay
if [ "$delay" = no ]; then
  printf '\n20 ms added delay: skipped (BENCH_SSH_DELAY=no)\n'
elif tc qdisc add dev "${veth[s1]}" root netem delay 20ms 2>"$work/tc.err"; then
  delayed+=("${veth[s1]}")
  for i in $(seq 2 "$hosts_max"); do
    tc qdisc add dev "${veth[s$i]}" root netem delay 20ms
    delayed+=("${veth[s$i]}")
  done
  [ "$only_pipeline" = yes ] || table "20 ms added delay (tc netem on each host-side veth)"
  pipeline_table "20 ms added delay (tc netem on each host-side veth)"
else
  printf '\n20 ms added delay: this kernel has no netem ("tc qdisc add dev %s root netem delay 20ms": %s);\n' \
    "${veth[s1]}" "$(tr -d '\n' < "$work/tc.err")"
  printf 'measured instead through scripts/bench-delay-relay.py (a TCP relay on 127.0.0.1 that delays every chunk towards the host by 20 ms)\n'
  relay_args=()
  for i in $(seq 1 "$hosts_max"); do
    relay_args+=(127.0.0.1 $((22000 + i)) "${ip[s$i]}" 22)
    addr[s$i]=127.0.0.1
    port[s$i]=$((22000 + i))
    grep "^${ip[s$i]} " "$known" | sed "s/^${ip[s$i]} /[127.0.0.1]:$((22000 + i)) /" >> "$known.relay"
  done
  cat "$known.relay" >> "$known"
: > "$work/relay.out"
  python3 scripts/bench-delay-relay.py 20 "${relay_args[@]}" > "$work/relay.out" 2>&1 &
  relay=$!
  for _ in $(seq 1 50); do grep -q ready "$work/relay.out" && break; sleep 0.1; done
  grep -q ready "$work/relay.out" || { cat "$work/relay.out" >&2; exit 1; }
  [ "$only_pipeline" = yes ] || table "20 ms added delay (userspace relay, not netem)"
  pipeline_table "20 ms added delay (userspace relay, not netem)"
  kill "$relay"
  relay=""
fi
