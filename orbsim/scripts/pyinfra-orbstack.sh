#!/usr/bin/env bash
# Runs pyinfra-orbstack's own test suite, unmodified, against orbsim as `orbctl` (a third-party
# check of orbsim's answers). Needs root, python3 with venv, and PyPI. The one thing changed is
# the suite's macOS gate: a pytest plugin makes platform.system() answer "Darwin" to callers in
# the test package only (pyinfra itself sees Linux). Everything goes in a temporary directory,
# and every machine the tests leave behind is deleted at the end.
#
#   orbsim/scripts/pyinfra-orbstack.sh [PYTEST ARGS...]   # default: the whole suite, --run-slow
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${PYINFRA_ORBSTACK_VERSION:-0.11.0}
cargo build -q -p orbsim
target=${CARGO_TARGET_DIR:-target}
case $target in
  /*) ;;
  *) target=$PWD/$target ;;
esac
bin=$target/debug/orbsim
work=$(mktemp -d)
export ORBSIM_HOME=$work/home
cleanup() {
  "$work/bin/orbctl" delete -f -a >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/gate"
ln -s "$bin" "$work/bin/orbctl"
ln -s "$bin" "$work/bin/orb"
# The suite skips everything when it cannot run orbctl: make sure it can.
"$work/bin/orbctl" version >/dev/null
cat >"$work/gate/darwin_gate.py" <<'EOF'
"""The test modules of pyinfra-orbstack see platform.system() == "Darwin"; nothing else does."""
import platform
import sys

_real_system = platform.system


def _system():
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller == "conftest" or caller.startswith(("tests.", "test_")):
        return "Darwin"
    return _real_system()


platform.system = _system
EOF
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "pyinfra-orbstack==$version" pytest pytest-cov pytest-timer \
  pytest-instafail pytest-progress pytest-timeout pytest-benchmark
"$work/venv/bin/pip" download -q --no-deps --no-binary :all: "pyinfra-orbstack==$version" -d "$work"
tar -xzf "$work/pyinfra_orbstack-$version.tar.gz" -C "$work"
cd "$work/pyinfra_orbstack-$version"
if [ "$#" -eq 0 ]; then
  set -- --run-slow tests/
fi
PATH="$work/bin:$work/venv/bin:$PATH" PYTHONPATH="$work/gate" \
  pytest -p darwin_gate -p no:cacheprovider --timeout=240 -rfEs "$@"
