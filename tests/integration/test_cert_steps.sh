#!/usr/bin/env bash
# The certificate workflow as the offline tools see it (#17; docs/reports.md "Certificates and
# notices", docs/records.md "Certificate steps"), on the fixture's store
# (tests/integration/test_store_fixture.c: certificate 1 issued when numbered, voided by
# li.manager and reissued as 8, which zhang.wei verified, wang.fang checked, li.manager approved
# and issued; `draft` numbers one more that only zhang.wei has signed):
#   - the issued reissue prints, with each signer's name, qualification and the voided number
#     it replaces; names given by hand (--checker) are refused for it (exit 2);
#   - the voided certificate and the draft are refused (exit 1) saying why, nothing written;
#   - a certificate issued when numbered still prints with --checker / --approver;
#   - report run --certificates refuses the whole set while one certificate is a draft;
#   - metroctl records run and trace list the steps.
set -u
BUILD=${METRO_BUILD:-build/san}
B=$BUILD
FIXTURE=$BUILD/tests/test_store_fixture
. tests/lib/need.sh
need_cmd pdftotext poppler-utils
TMP=$(mktemp -d "${TMPDIR:-/tmp}/metrod-certsteps.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { # name got want
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1)); echo "ok   $1"
	else
		fail=$((fail + 1)); echo "FAIL $1: got '$2', want '$3'"
	fi
}
has() { grep -q -- "$2" "$1" && echo yes || echo no; }
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
R() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" "$B/metroctl" "$@"; }

mkdir "$TMP/s"
"$FIXTURE" build "$TMP/s" >"$TMP/fixture.out" 2>"$TMP/fixture.log"
check "fixture built" "$?" "0"
OLD=$(sed -n 's/^certificate \(.*\) voided, reissued as .*/\1/p' "$TMP/fixture.out")
NEW=$(sed -n 's/^certificate .* voided, reissued as \(.*\)/\1/p' "$TMP/fixture.out")
LEGACY=$(sed -n 's/^certificate \(.*\) run 1 position 2$/\1/p' "$TMP/fixture.out")
"$FIXTURE" draft "$TMP/s" >"$TMP/draft.out" 2>>"$TMP/fixture.log"
check "a draft numbered and verified" "$?" "0"
DRAFT=$(sed -n 's/^draft //p' "$TMP/draft.out")
DB=$TMP/s/records.db PUB=$TMP/s/records.pub
mkdir -p "$TMP/out"

R report certificate --db "$DB" --pubkey "$PUB" --number "$NEW" -o "$TMP/out/new.pdf" >/dev/null 2>"$TMP/new.err"
check "the issued reissue prints" "$?" "0"
pdftotext -layout "$TMP/out/new.pdf" "$TMP/new.txt" 2>/dev/null
check "... its number" "$(has "$TMP/new.txt" "$NEW")" "yes"
check "... the verifier who signed, with the qualification" "$(has "$TMP/new.txt" '张伟 · 证号 Qualification JDY-2026-0451')" "yes"
check "... the checker who signed" "$(has "$TMP/new.txt" '王芳 · 证号 Qualification JDY-2026-0452')" "yes"
check "... the approver" "$(has "$TMP/new.txt" '李经理')" "yes"
check "... the voided number it replaces" "$(has "$TMP/new.txt" "$OLD (作废 voided)")" "yes"
check "... the signed steps in the record section" "$(has "$TMP/new.txt" 'checked by wang.fang')" "yes"

R report certificate --db "$DB" --pubkey "$PUB" --number "$NEW" --checker 李工 -o "$TMP/out/x.pdf" >/dev/null 2>"$TMP/x.err"
check "names by hand refused for a certificate with signed steps (exit 2)" "$?" "2"
check "... saying why" "$(has "$TMP/x.err" 'carries signed steps')" "yes"

R report certificate --db "$DB" --pubkey "$PUB" --number "$OLD" -o "$TMP/out/old.pdf" >/dev/null 2>"$TMP/old.err"
check "the voided certificate is refused (exit 1)" "$?" "1"
check "... naming who voided it, why and its replacement" \
	"$(has "$TMP/old.err" "$OLD was voided by li.manager at .* (nameplate Q3 recorded as 2.5 instead of 4); it is replaced by $NEW")" "yes"

R report certificate --db "$DB" --pubkey "$PUB" --number "$DRAFT" -o "$TMP/out/draft.pdf" >/dev/null 2>"$TMP/draft.err"
check "a certificate not issued is refused (exit 1)" "$?" "1"
check "... listing the steps signed so far" "$(has "$TMP/draft.err" "$DRAFT is not issued (verified by zhang.wei at ")" "yes"
R report certificate --db "$DB" --pubkey "$PUB" --run 4 --position 1 -o "$TMP/out/draft.pdf" >/dev/null 2>&1
check "... also when chosen by run and position (its latest)" "$?" "1"

R report certificate --db "$DB" --pubkey "$PUB" --number "$LEGACY" --checker 李工 --approver 赵主任 -o "$TMP/out/legacy.pdf" >/dev/null 2>"$TMP/legacy.err"
check "a certificate issued when numbered prints with names by hand" "$?" "0"
pdftotext -layout "$TMP/out/legacy.pdf" "$TMP/legacy.txt" 2>/dev/null
check "... the checker's name given" "$(has "$TMP/legacy.txt" '李工')" "yes"

R report run --db "$DB" --pubkey "$PUB" --run 4 -o "$TMP/out/run4.pdf" --certificates "$TMP/out" >/dev/null 2>"$TMP/run4.err"
check "report run --certificates with a draft among them is refused (exit 1)" "$?" "1"
check "... and writes nothing" "$(ls "$TMP/out" | grep -c -e run4 -e "$DRAFT")" "0"
check "nothing else was written by the refusals" "$(ls "$TMP/out" | sort | tr '\n' ' ')" "legacy.pdf new.pdf "

R records run --db "$DB" 1 >"$TMP/run1.txt" 2>&1
check "records run lists the run" "$?" "0"
check "... the voided certificate's step with its reason" \
	"$(has "$TMP/run1.txt" 'voided   李经理 (li.manager) as approver.*: nameplate Q3 recorded as 2.5 instead of 4')" "yes"
check "... the reissue's four steps" "$(grep -cE '^    (verified|checked|approved|issued) ' "$TMP/run1.txt")" "4"
check "... and what replaced what" "$(has "$TMP/run1.txt" "replaced by $NEW")" "yes"
R trace --db "$DB" --pubkey "$PUB" "$NEW" >"$TMP/trace.txt" 2>&1
check "trace of the reissue shows its steps" "$(grep -cE '^    (verified|checked|approved|issued) ' "$TMP/trace.txt")" "4"
R records run --db "$DB" x >/dev/null 2>&1
check "records run refuses a run id that is not a number (exit 2)" "$?" "2"

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
