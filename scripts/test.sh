#!/usr/bin/env bash
# The test command of the README: sets up what is missing, builds every binary of the
# workspace (the orbdeploy suite drives the built orbsim as its orbctl), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh   # sourced: a Rust it installs is then on PATH here too
cargo build --workspace --bins
cargo test --workspace -- "$@"
