#!/usr/bin/env bash
# The demo of the README: makes the two machines of fixtures/demo/ exist (a web server and
# a client), shows their groups, variables and state, and runs a command on both.
# On a Mac with OrbStack it uses the real `orbctl`; elsewhere it builds orbsim (Linux,
# root) and uses it as orbctl, with its state under target/demo-orbsim.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" = Darwin ] && command -v orbctl >/dev/null 2>&1; then
  orbctl=orbctl
else
  scripts/setup.sh
  cargo build --release --workspace --bins
  mkdir -p target/demo-bin
  ln -sf "$PWD/target/release/orbsim" target/demo-bin/orbctl
  orbctl="$PWD/target/demo-bin/orbctl"
  export ORBSIM_HOME="$PWD/target/demo-orbsim"
fi
cargo build --release --bin orbdeploy
bin=target/release/orbdeploy

inv=fixtures/demo/inventory.yaml
run() { echo "+ orbdeploy $*"; "$bin" --orbctl "$orbctl" "$@"; }

# `apply` (operations, reports) is not built yet: the demo makes the machines exist with
# `machines create --if-missing`, then shows what orbdeploy sees and runs a command on both.
for m in demo-web demo-client; do
  run machines create "$m" --image debian:bookworm --if-missing
done
run inventory "$inv" --explain
run machines list
run exec "$inv" -- sh -c 'echo "$(hostname): $(id -un), $(uname -sr)"'
echo "Done. Remove the demo machines with: $bin --orbctl $orbctl machines delete demo-web demo-client"
