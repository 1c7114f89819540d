#!/usr/bin/env bash
# fresh-check.sh — `make check` as CI runs it: a clone of HEAD in a new temporary directory with
# nothing beside it (no shared/ folder next to the clone, no build/, no var/), CI=true, no
# standard input.  Prints the test summary and the time taken; exits with make's status.  Run
# it before each stop.
#
# Usage: tools/scripts/fresh-check.sh [MAKE-ARGS...]     e.g. tools/scripts/fresh-check.sh T="store tamper"
#   KEEP=1 keeps the clone (its path is printed); the full log is in the clone's check.log.
set -u
top=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel) || exit 2
head=$(git -C "$top" rev-parse --short HEAD)
[ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ] &&
	echo "fresh-check: note: uncommitted changes are not part of the check (HEAD $head is)"
dir=$(mktemp -d "${TMPDIR:-/tmp}/metrod-fresh.XXXXXX")
[ "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
git clone -q --no-local "$top" "$dir/metrod" || exit 2
cd "$dir/metrod" || exit 2
[ -e "$dir/shared" ] && { echo "fresh-check: $dir/shared exists"; exit 2; }
echo "fresh-check: HEAD $head in $dir/metrod"
t0=$SECONDS
CI=true make check "$@" </dev/null >check.log 2>&1
rc=$?
dt=$((SECONDS - t0))
sed -n '/^slowest:/,$p' check.log
[ $rc -ne 0 ] && { echo "--- failures ---"; grep -E '^FAIL|^make' check.log | head -n 40; }
echo "fresh-check: HEAD $head, make check exit $rc in $((dt / 60)) min $((dt % 60)) s"
[ "${KEEP:-}" ] && echo "fresh-check: kept $dir/metrod (log: check.log)"
exit $rc
