#!/usr/bin/env bash
# make fuzz: run every libFuzzer harness of BUILD/fuzz/ for FUZZ_SECONDS each, seeded with
# tests/fuzz/corpus/<harness>/ (read only) and growing BUILD/fuzz/corpus/<harness>/; crashes
# land in BUILD/fuzz/crashes/ (copy one into tests/fuzz/regress/<harness>/ once fixed: `make
# check` replays it forever).  Prints and writes BUILD/fuzz/report.md: executions, coverage
# (edges) and features per harness.
set -u
BUILD=${1:-build/fuzz}
SECS=${FUZZ_SECONDS:-60}
export METRO_SRCDIR=$PWD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
mkdir -p "$BUILD/crashes"
report=$BUILD/report.md
{
	echo "| harness | seconds | executions | exec/s | coverage (edges) | features | corpus | crashes |"
	echo "|---|---|---|---|---|---|---|---|"
} >"$report"
status=0
for h in tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	mkdir -p "$BUILD/corpus/$name"
	log=$BUILD/$name.log
	echo "== $name ($SECS s)"
	"$BUILD/fuzz/$name" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$BUILD/crashes/$name-" "$BUILD/corpus/$name" "tests/fuzz/corpus/$name" \
		>"$log" 2>&1
	rc=$?
	execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log")
	rate=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log")
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
	corpus=$(find "$BUILD/corpus/$name" -type f | wc -l)
	crashes=$(find "$BUILD/crashes" -name "$name-*" -type f | wc -l)
	echo "| $name | $SECS | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $corpus | $crashes |" >>"$report"
	if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then
		status=1
		echo "   FAILED (exit $rc); log: $log"
		grep -m 5 -E 'ERROR|property failed|SUMMARY' "$log" | sed 's/^/   /'
	else
		echo "   ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}"
	fi
done
echo
cat "$report"
exit $status
