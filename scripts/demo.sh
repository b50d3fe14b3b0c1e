#!/usr/bin/env bash
# The demo of the README: applies fixtures/demo/ (two machines: a web server with a
# templated page, and a client that fetches it by the server's IPv4 address).
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

echo "== orbdeploy apply fixtures/demo/inventory.yaml (using $orbctl)"
"$bin" --orbctl "$orbctl" apply fixtures/demo/inventory.yaml "$@"
echo "== machines"
"$bin" --orbctl "$orbctl" machines list
echo "== second apply: nothing should change"
"$bin" --orbctl "$orbctl" apply fixtures/demo/inventory.yaml "$@"
echo "Done. Remove the demo machines with: $bin --orbctl $orbctl machines delete demo-web demo-client"
