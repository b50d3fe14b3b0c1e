#!/usr/bin/env bash
# Measures orbsim's two headline timings on this machine: `create` with the image cached,
# and `run -m M true`. Needs root, hyperfine (apt-get install hyperfine) and a built image
# (the first create builds it). Uses a throw-away state home and deletes what it makes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p orbsim
bin=$(mktemp -d)
trap 'ORBSIM_HOME=$bin/home "$bin/orbctl" delete -f -a >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
ln -s "$PWD/target/release/orbsim" "$bin/orbctl"
export ORBSIM_HOME=$bin/home
"$bin/orbctl" create debian warm >/dev/null   # builds the image if it is not cached
echo "create (image cached), 5 times:"
for i in 1 2 3 4 5; do
  /usr/bin/time -f "  %e s" "$bin/orbctl" create debian "m$i"
done
echo "run -m warm true:"
hyperfine -N --warmup 5 --runs 100 "$bin/orbctl run -m warm -w / true"
