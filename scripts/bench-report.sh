#!/usr/bin/env bash
# Size and rendering time of the HTML report at 100 machines x 200 steps:
#
#   scripts/bench-report.sh [RUNS]
#
# builds the synthetic report (tests/suite/html_report.rs
# `report_of_100_machines_by_200_steps_is_small_and_renders`, which also checks it in
# Chromium) into target/report-100x200.html, then loads it RUNS times (default 5) with
# scripts/report-browser.sh, and as many times a blank page with the same flags, and
# prints the file's size and the medians: Chromium's wall time to dump the DOM and to
# take a screenshot (load, script, layout, paint), the same for the blank page (what
# starting Chromium costs), their difference (what the report costs), and when the
# page's script had finished, after navigation start.
set -euo pipefail

runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"

cargo test --quiet --test html_report report_of_100_machines_by_200_steps_is_small_and_renders \
  -- --exact >/dev/null
report=$target/report-100x200.html
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '<!DOCTYPE html><title>blank</title><p>blank\n' >"$work/blank.html"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Prints "dom_ms screenshot_ms ready_ms" for one load of a page.
load() {
  local times dom shot ready
  times=$(scripts/report-browser.sh "$1" "$work/out")
  dom=${times#dom_ms=}
  dom=${dom%% *}
  shot=${times##*screenshot_ms=}
  ready=$(grep -o 'data-ready="[0-9]*"' "$work/out/dom.html" | grep -o '[0-9]*' || echo 0)
  echo "$dom $shot $ready"
}

: >"$work/report.times"
: >"$work/blank.times"
for _ in $(seq "$runs"); do
  load "$report" >>"$work/report.times"
  load "$work/blank.html" >>"$work/blank.times"
done

bytes=$(wc -c <"$report")
r_dom=$(awk '{ print $1 }' "$work/report.times" | median)
r_shot=$(awk '{ print $2 }' "$work/report.times" | median)
r_ready=$(awk '{ print $3 }' "$work/report.times" | median)
b_dom=$(awk '{ print $1 }' "$work/blank.times" | median)
b_shot=$(awk '{ print $2 }' "$work/blank.times" | median)

echo "report: $report (100 machines x 200 steps)"
awk -v b="$bytes" 'BEGIN { printf "size: %d bytes (%.2f MB)\n", b, b / 1048576 }'
echo "chromium --dump-dom, median of $runs: report ${r_dom} ms, blank page ${b_dom} ms, report's own $((r_dom - b_dom)) ms"
echo "chromium --screenshot 1400x900, median of $runs: report ${r_shot} ms, blank page ${b_shot} ms, report's own $((r_shot - b_shot)) ms"
echo "page script finished ${r_ready} ms after navigation start (median)"
