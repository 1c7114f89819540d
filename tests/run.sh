#!/usr/bin/env bash
# Runs the test programs of one build tree: unit tests first, then integration tests.
#
# Usage: BUILD=build/san tests/run.sh [unit|integration|all] [NAME...]
#   NAME selects tests by name (test_store, test_tamper.sh or just store, tamper); `make check
#   T="store tamper"` passes them here.  Every selected test runs even when an earlier one fails.
#
# Exit status of a test: 0 pass, 77 skip, anything else fail.  A skip counts as a skip only when
# the test is on tests/skips.allow (each entry says why it may skip); any other skip is a failure,
# and under CI=true every skip is a failure: CI runs on a machine where `make deps` installed every
# package a test needs, so a skip there would hide a capability that was never exercised.
#
# Output: one line per test with its time; the slowest tests; skips by name; the last line is
# the plain total "N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build/san}
which=all
case "${1:-}" in unit | integration | all) which=$1; shift ;; esac
want=("$@")
export METRO_BUILD="$BUILD" METRO_SRCDIR="$(pwd)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
ALLOW=tests/skips.allow
pass=0 fail=0 skip=0 failed=() skipped=() times=()

allowed_to_skip() { # NAME: on the allow-list (outside CI only)
	[ "${CI:-}" = true ] && return 1
	grep -qE "^$1([[:space:]]|$)" "$ALLOW" 2>/dev/null
}

selected() { # NAME: chosen by the NAME arguments (all when there are none)
	local n=$1 w
	[ ${#want[@]} -eq 0 ] && return 0
	for w in "${want[@]}"; do
		w=${w#test_}
		case "$n" in "test_$w" | "test_$w".*) return 0 ;; esac
	done
	return 1
}

run() {
	local bin=$1 name rc
	name=$(basename "$bin")
	selected "$name" || return 0
	local log="$BUILD/tests/$name.log"
	mkdir -p "$BUILD/tests"
	local t0
	t0=$(date +%s.%N)
	if "$bin" >"$log" 2>&1; then rc=0; else rc=$?; fi
	local dt
	dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	times+=("$dt $name")
	local why
	why=$(grep -m1 -iE '^(SKIP|skipped)' "$log" | cut -c1-160)
	if [ $rc -eq 77 ] && allowed_to_skip "$name"; then
		skip=$((skip + 1)); skipped+=("$name")
		echo "SKIP  $name (${dt} s) ${why:-(no reason printed)}"
	elif [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "PASS  $name (${dt} s)"
	else
		fail=$((fail + 1)); failed+=("$name")
		if [ $rc -eq 77 ]; then
			echo "FAIL  $name (${dt} s) skipped, and may not: ${why:-(no reason printed)}"
			[ "${CI:-}" = true ] && echo "      (under CI=true no test may skip; \`make deps\` installs every peer)"
		else
			echo "FAIL  $name (${dt} s, exit $rc), log follows:"
		fi
		tail -n 60 "$log" | sed 's/^/    /'
	fi
	# cmocka prints its own summary per binary; keep the numbers visible in our output too.
	grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]' "$log" | sed "s/^/      $name: /" || true
}

is_unit() { [ -f "tests/unit/$(basename "$1").c" ]; }
is_integ_bin() { [ -f "tests/integration/$(basename "$1").c" ]; }

if [ "$which" = all ] || [ "$which" = unit ]; then
	for b in "$BUILD"/tests/test_*; do
		case "$b" in *.log | *.d) continue ;; esac
		is_unit "$b" && run "$b"
	done
fi
if [ "$which" = all ] || [ "$which" = integration ]; then
	for b in "$BUILD"/tests/test_*; do
		case "$b" in *.log | *.d) continue ;; esac
		is_integ_bin "$b" && run "$b"
	done
	for s in tests/integration/*.sh tests/integration/*.py; do
		[ -f "$s" ] || continue
		run "$s"
	done
fi

echo
if [ $((pass + fail + skip)) -eq 0 ]; then
	echo "no test matched: ${want[*]:-(none built in $BUILD)}"
	fail=1
fi
if [ ${#times[@]} -gt 0 ]; then
	echo "slowest:"
	printf '%s\n' "${times[@]}" | sort -rn | head -n 8 | awk '{ printf "  %7.1f s  %s\n", $1, $2 }'
	total=$(printf '%s\n' "${times[@]}" | awk '{ s += $1 } END { printf "%.0f", s }')
	echo "  total ${total} s"
fi
[ ${#skipped[@]} -gt 0 ] && echo "skipped (allowed by $ALLOW): ${skipped[*]}"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
