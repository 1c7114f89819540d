#!/usr/bin/env bash
# Line and branch coverage of the metrology module (lib/metrology/metrology.c, lib/base/decimal.c) with
# gcov, from a build tree made with COVERAGE=1 in which the unit tests have run:
#
#     make coverage                        # = the two steps below, then this script
#     make BUILD=build/cov COVERAGE=1 tests && BUILD=build/cov tests/run.sh unit
#     tools/scripts/coverage.sh build/cov [--check]
#
# Prints one line per file (lines, branches executed, branches taken at least once) and, for a
# file below 100 %, the source lines with a branch never taken.  The annotated sources are left
# in BUILDDIR/coverage/.  --check exits 1 unless every branch was taken (the module's target).
set -eu

usage() {
	echo "usage: tools/scripts/coverage.sh BUILDDIR [--check]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
check=0
[ "${2:-}" = "--check" ] && check=1
[ $# -le 2 ] || usage

root=$(pwd)
case "$build" in /*) ;; *) build="$root/$build" ;; esac
objdir="$build/obj/daemon"
out="$build/coverage"
files="lib/metrology/metrology.c lib/base/decimal.c"
command -v gcov >/dev/null || { echo "coverage: gcov not found (apt-get install gcc)" >&2; exit 2; }
mkdir -p "$out"
# gcov finds the sources by the relative names they were compiled with ("lib/base/decimal.c").
ln -sfn "$root/daemon" "$out/daemon"

short=0
for f in $files; do
	base=$(basename "$f" .c)
	if [ ! -f "$objdir/$base.gcno" ]; then
		echo "coverage: $objdir/$base.gcno missing: build with COVERAGE=1" >&2
		exit 2
	fi
	if [ ! -f "$objdir/$base.gcda" ]; then
		echo "coverage: $objdir/$base.gcda missing: run the unit tests of $build first" >&2
		exit 2
	fi
	# gcov writes its .gcov files into the current directory: keep them out of the source tree.
	report=$(cd "$out" && gcov -b -c -o "$objdir" "$root/$f" 2>/dev/null)
	# The summary block that follows "File '...<f>'" (gcov also lists headers it saw).
	summary=$(printf '%s\n' "$report" | awk -v f="$f" '
		/^File / { on = index($0, f "'\''") > 0; next }
		on && /^(Lines executed|Branches executed|Taken at least once|No branches)/ { print }
		on && /^$/ { on = 0 }')
	lines=$(printf '%s\n' "$summary" | sed -n 's/^Lines executed:\(.*\)$/\1/p')
	bexec=$(printf '%s\n' "$summary" | sed -n 's/^Branches executed:\(.*\)$/\1/p')
	taken=$(printf '%s\n' "$summary" | sed -n 's/^Taken at least once:\(.*\)$/\1/p')
	printf '%-20s lines %-16s branches executed %-16s taken at least once %s\n' \
		"$f" "${lines:-?}" "${bexec:-?}" "${taken:-?}"
	case "$taken" in
	100.00%*) ;;
	*)
		short=1
		gc="$out/$base.c.gcov"
		if [ -f "$gc" ]; then
			# Print "file:line: source" for every line with a branch taken 0 % or never
			# executed: the line a branch belongs to is the last source line above it.
			awk -v f="$f" '
				/^ *(-|#####|=====|[0-9]+\*?):/ {
					split($0, p, ":"); ln = p[2] + 0; src = $0
					sub(/^[^:]*:[^:]*:/, "", src); next }
				/^branch/ && (/taken 0(%| |$)/ || /never executed/) && !seen[ln]++ {
					printf "    %s:%d:%s\n", f, ln, src }' "$gc"
		fi
		;;
	esac
done
if [ $check -eq 1 ] && [ $short -eq 1 ]; then
	echo "coverage: not every branch of the metrology module was taken" >&2
	exit 1
fi
exit 0
