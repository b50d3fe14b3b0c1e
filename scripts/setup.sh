#!/usr/bin/env bash
# Installs what orbdeploy's tests and the Linux demo need on a Debian/Ubuntu machine:
# debootstrap (orbsim's machine images), nftables + iproute2 (orbsim's network), and the
# tools the tests use, and Rust when cargo is missing. `SETUP_FOR=demo` installs only what
# the demo uses (no linters, no browser). Idempotent: installs only what is missing. Needs
# root for apt-get. Callers source it, so PATH changes reach them.
set -euo pipefail

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ "${SETUP_FOR:-tests}" != demo ]; then
  command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)   # tests/suite/ansible_diff.rs: ansible-core in a venv (when its recorded outcomes are stale, or ORBDEPLOY_ANSIBLE_DIFF=live)
  command -v ssh >/dev/null 2>&1 || need+=(openssh-client)   # the ssh transport and its tests (the sshd runs in orbsim machines)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)   # tests/suite/html_report.rs: the HTML report in a browser
  command -v tmux >/dev/null 2>&1 || need+=(tmux)           # tests/suite/live_display.rs: the progress display in a real terminal
fi
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# (shellcheck and python3: the lint checks of scripts/test.sh.)

# Rust: cargo on PATH, or rustup's default place, or installed with rustup (Debian's own
# rustc is too old for the dependencies), with Debian's cargo as the last resort.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: cargo is missing; install Rust (https://rustup.rs)" >&2
    exit 1
  fi
  echo "setup: installing Rust with rustup" >&2
  command -v curl >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
  }
  # rustup-init decides what it is from its own file name: keep that name.
  init=$(mktemp -d)/rustup-init
  if curl -sSf -o "$init" "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init" \
    && chmod +x "$init" && "$init" -y --profile minimal >/dev/null 2>&1; then
    rm -rf "$(dirname "$init")"
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    rm -rf "$(dirname "$init")"
    echo "setup: rustup is not reachable; trying Debian's cargo (it may be too old)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cargo rustc >/dev/null
  fi
fi

# The test command also runs rustfmt and clippy: rustup's minimal profile has neither.
for tool in rustfmt clippy; do
  if ! cargo "${tool#rust}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    echo "setup: adding the $tool component" >&2
    rustup component add "$tool" >/dev/null 2>&1 || echo "setup: could not add $tool with rustup" >&2
  fi
done
