#!/usr/bin/env bash
# The short version of `make fuzz` inside `make check`: every fuzz harness (tests/fuzz/)
# runs its seed corpus and every crash regression ever found (tests/fuzz/regress/<harness>/)
# once, in the sanitized build.  A harness asserts its properties (re-encoding is exact,
# refusals say why, every request gets a reply), so a replay can fail without a crash.
set -u
B=${METRO_BUILD:-build/san}
export METRO_SRCDIR=${METRO_SRCDIR:-$PWD}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
pass=0 fail=0
for h in tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	bin=$B/fuzz/$name
	dirs=("tests/fuzz/corpus/$name")
	[ -d "tests/fuzz/regress/$name" ] && dirs+=("tests/fuzz/regress/$name")
	if [ ! -x "$bin" ]; then
		fail=$((fail + 1)); echo "FAIL $name: $bin not built"; continue
	fi
	if out=$("$bin" "${dirs[@]}" 2>&1); then
		pass=$((pass + 1)); echo "ok   $name: $(echo "$out" | tail -n 1)"
	else
		fail=$((fail + 1)); echo "FAIL $name:"; echo "$out" | tail -n 30
	fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -ge 7 ]
