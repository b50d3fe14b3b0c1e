#!/usr/bin/env bash
# Loads an orbdeploy HTML report (--report-html) in headless Chromium, with the network
# cut off, and keeps what a test or a person needs to judge it:
#
#   scripts/report-browser.sh REPORT.html OUTDIR [#FRAGMENT]
#
# writes OUTDIR/dom.html (the DOM after the page's script ran, --dump-dom),
# OUTDIR/screenshot.png (1400x900), OUTDIR/chromium.log (Chromium's log, console messages
# included) and OUTDIR/netlog.json (every network event Chromium recorded), and prints
# `dom_ms=N screenshot_ms=N`, the wall time of each Chromium run. A fragment is passed to
# the page: `#s-R-K` opens step K of machine R in its table, `#t-R-K` focuses its bar on
# the timeline (its tooltip shows in the screenshot).
#
# Every request goes to the proxy in REPORT_BROWSER_PROXY (default 127.0.0.1:9, where
# nothing listens), loopback included, so nothing can be fetched; what was attempted is in
# the net log (tests/suite/html_report.rs checks that the page itself asked for nothing).
# CHROMIUM names the browser (default: the first of chromium, chromium-browser,
# google-chrome on PATH). Exit 1 when there is none.
set -euo pipefail

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 REPORT.html OUTDIR [#FRAGMENT]" >&2
  exit 2
fi
report=$(realpath "$1")
url="file://$report${3:-}"
out=$2
mkdir -p "$out"
out=$(realpath "$out")

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then
      browser=$b
      break
    fi
  done
fi
if [ -z "$browser" ] || ! command -v "$browser" >/dev/null 2>&1; then
  echo "report-browser: no Chromium found (install it: apt-get install chromium, or set CHROMIUM)" >&2
  exit 1
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(
  --headless --disable-gpu
  --user-data-dir="$profile"
  --proxy-server="${REPORT_BROWSER_PROXY:-127.0.0.1:9}" --proxy-bypass-list="<-loopback>"
  --no-first-run --no-default-browser-check --disable-background-networking
  --disable-features=NetworkTimeServiceQuerying
  --disable-component-update --disable-sync --disable-default-apps --disable-extensions
  --enable-logging=stderr --v=0
  "--window-size=1400,900" --hide-scrollbars
)
# Chromium's sandbox refuses to run as root.
if [ "$(id -u)" -eq 0 ]; then
  flags+=(--no-sandbox)
fi

now_ms() { date +%s%3N; }

t0=$(now_ms)
"$browser" "${flags[@]}" --log-net-log="$out/netlog.json" --dump-dom "$url" \
  >"$out/dom.html" 2>"$out/chromium.log"
t1=$(now_ms)
"$browser" "${flags[@]}" --screenshot="$out/screenshot.png" "$url" \
  >/dev/null 2>>"$out/chromium.log"
t2=$(now_ms)
echo "dom_ms=$((t1 - t0)) screenshot_ms=$((t2 - t1))"
