#!/usr/bin/env bash
# Runs the test binaries of one build tree: unit tests first, then integration tests.
# Usage: BUILD=build/san tests/run.sh [unit|integration]
# Every binary is run even when an earlier one fails; the last line is the plain total.
set -u
BUILD=${BUILD:-build/san}
which=${1:-all}
export METRO_BUILD="$BUILD" METRO_SRCDIR="$(pwd)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
pass=0 fail=0 skip=0 failed=()
run() {
	local bin=$1 name
	name=$(basename "$bin")
	local log="$BUILD/tests/$name.log"
	local t0=$SECONDS
	if "$bin" >"$log" 2>&1; then
		rc=0
	else
		rc=$?
	fi
	if [ $rc -eq 77 ]; then
		skip=$((skip + 1)); echo "SKIP  $name ($(grep -m1 -i skip "$log"))"
	elif [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "PASS  $name ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1)); failed+=("$name"); echo "FAIL  $name (exit $rc), log follows:"
		tail -n 60 "$log" | sed 's/^/    /'
	fi
	# cmocka prints its own summary per binary; keep the numbers visible in our output too.
	grep -E '^\[  (PASSED|FAILED|SKIPPED) \]' "$log" | sed "s/^/      $name: /" || true
}
if [ "$which" = all ] || [ "$which" = unit ]; then
	for b in "$BUILD"/tests/test_*; do
		case "$b" in *.log|*.d) continue;; esac
		[ -f "tests/unit/$(basename "$b").c" ] && run "$b"
	done
fi
if [ "$which" = all ] || [ "$which" = integration ]; then
	for b in "$BUILD"/tests/test_*; do
		case "$b" in *.log|*.d) continue;; esac
		[ -f "tests/integration/$(basename "$b").c" ] && run "$b"
	done
	for s in tests/integration/*.sh tests/integration/*.py; do
		[ -f "$s" ] || continue
		run "$s"
	done
fi
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
