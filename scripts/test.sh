#!/usr/bin/env bash
# The test command of the README: sets up what is missing, checks the code's habits (format,
# lints, docs, shell scripts, function length), builds every binary and test of the workspace
# (the orbdeploy suite drives the built orbsim as its orbctl), then runs every test.
# Arguments are passed to the test binaries (e.g. a test name filter, or --test-threads N;
# RUST_TEST_THREADS sets the default, 4: the end-to-end tests mostly wait on processes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh   # sourced: a Rust it installs is then on PATH here too

# Each step says when it began (seconds since the script started), so a CI log shows
# where the time went: checks, compiling, tests.
step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS" >&2; }

step "format (cargo fmt --check)"
cargo fmt --all -- --check
# The operation kinds are declared inside the `kinds!` list, where cargo fmt does not look;
# a kind's own parts live in a folder named after it (src/ops/sync/).
rustfmt --edition 2021 --check src/ops/*.rs src/ops/*/*.rs
step "shell scripts (shellcheck)"
# The agent and the probe library are sh scripts sent to machines; scripts/ are bash.
shellcheck -s sh src/remote/channel/agent.sh src/remote/probe_lib.sh
shellcheck scripts/*.sh orbsim/scripts/*.sh .ci/run
step "function length (at most 100 lines in src/)"
MAX=100 TOP=5 python3 scripts/fn-lengths.py src
step "no import circle between modules"
python3 scripts/import-cycles.py src
step "lints (cargo clippy -D warnings)"
cargo clippy -q --workspace --all-targets -- -D warnings
step "docs (cargo doc -D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps
# `cargo test --no-run` builds the binaries with the features the tests build them with; a
# separate `cargo build --bins` compiled about 30 dependencies a second time (without the
# dev-dependencies' features). The binaries' own feature set is type-checked by `cargo doc`.
step "build (every binary and test)"
cargo test --workspace --no-run
step "tests"
RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}" cargo test --workspace -- "$@"
