#!/usr/bin/env bash
# make bench: every benchmark against a baseline measured in the same run.  Each program in
# $BUILD/bench/ prints one JSON object per figure:
#   {"figure":..,"metrod":..,"baseline":..,"ratio":..,"target":">= X","baseline_is":..}
# (ratio is metrod / baseline, or baseline / metrod where lower is better, as the program says).
# A figure measured in rounds (metrod's loop and the baseline's in turn, tests/bench/rounds.h)
# adds "rounds":N,"quartiles":"Q1..Q3","spread":"MIN..MAX": its ratio is the median of the
# rounds' ratios, its metrod and baseline the medians of the rounds' values, and the table
# shows the middle half and the whole range of the rounds' ratios.
# The table goes to the terminal and to build/bench.md.  Nothing here is hard-coded: every
# number is measured in this run.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
export METRO_BUILD=$B
out=build/bench.md
mkdir -p build
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for b in "$B"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "running $(basename "$b") ..." >&2
	"$b" >>"$results"
done
/usr/bin/python3 - "$results" "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lines = ["| figure | metrod | baseline | ratio (median of rounds: middle half; all) | target |",
         "|---|---|---|---|---|"]
for r in rows:
    def fmt(v):
        return f"{v:,.0f}" if isinstance(v, (int, float)) and abs(v) >= 100 else str(v)
    ratio = str(r['ratio'])
    if 'rounds' in r:
        ratio += f" ({r['quartiles']}; {r['spread']}; {r['rounds']} rounds)"
    lines.append(f"| {r['figure']} | {fmt(r['metrod'])} | {fmt(r['baseline'])} "
                 f"({r.get('baseline_is', '')}) | {ratio} | {r['target'].replace('>=', '≥').replace('<=', '≤')} |")
text = "\n".join(lines) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
echo "written to $out"
