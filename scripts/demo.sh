#!/usr/bin/env bash
# The demo of the README: applies fixtures/demo/ — two machines, a web server rendering a
# templated page and a client fetching it by the server's IPv4 address — then re-applies
# (nothing changes) and shows the machines.
# On a Mac with OrbStack it uses the real `orbctl`; elsewhere it builds orbsim (Linux,
# root) and uses it as orbctl, with its state under target/demo-orbsim.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'demo: %s\n' "$*" >&2; }
say "two machines (demo-web serves a page rendered from a template, demo-client fetches it),"
say "then a re-apply, a plan, the inventory and the machines."
if [ ! -x target/release/orbdeploy ]; then
  say "the first run compiles orbdeploy (and on Linux orbsim) in release mode, once:"
  say "several minutes on a small machine, with cargo's progress below."
fi

if [ "$(uname -s)" = Darwin ] && command -v orbctl >/dev/null 2>&1; then
  orbctl=orbctl
  cargo build --release --bin orbdeploy
else
  say "no OrbStack here: orbsim (built with it) stands in for orbctl; it needs Linux and root."
  SETUP_FOR=demo
  . scripts/setup.sh
  # One build of both binaries: building orbdeploy again alone would compile it and some
  # dependencies a second time (the workspace unifies their features differently).
  cargo build --release --workspace --bins
  mkdir -p target/demo-bin
  ln -sf "$PWD/target/release/orbsim" target/demo-bin/orbctl
  orbctl="$PWD/target/demo-bin/orbctl"
  export ORBSIM_HOME="$PWD/target/demo-orbsim"
fi
bin=target/release/orbdeploy

inv=fixtures/demo/inventory.yaml
run() { echo "+ orbdeploy $*"; "$bin" --orbctl "$orbctl" "$@"; }

# Apply the demo: create both machines if missing, render the page on demo-web, serve it,
# fetch it from demo-client by demo-web's IPv4 address. Then show the re-apply (nothing
# changes), the inventory and the machines.
run apply "$inv" --report target/demo-report.json
run apply "$inv"
run plan "$inv" --exit-code
run inventory "$inv"
run machines list
run exec "$inv" --limit demo-client -- cat /tmp/index.html
echo "Report: target/demo-report.json"
# orbsim keeps the demo's machines in their own state home: the command must name it too.
home=${ORBSIM_HOME:+ORBSIM_HOME=$ORBSIM_HOME }
echo "Done. Remove the demo machines with: $home$bin --orbctl $orbctl machines delete demo-web demo-client"
