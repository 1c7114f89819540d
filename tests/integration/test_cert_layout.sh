#!/usr/bin/env bash
# What certificates and notices say (#18, JJF 1069 practice; docs/reports.md "Certificates and
# notices"), read off the PDF text of the fixture's documents (tests/integration/
# test_store_fixture.c: water run 1 — positions 1 and 2 pass, 3 fails Q1 — and electricity
# run 2, class 1):
#   - the validity that the procedure's `certificate.validity` rules give the meter: a DN15
#     water meter a service life of at most 6 years and no valid-until date; a class 1
#     electricity meter a valid-until date 96 months less a day after the date of
#     verification (computed here from the verdict's recorded time);
#   - the nameplate as people read it ("Q3 2.5 m³/h R100 DN15", "220 V 5(60) A 1200 imp/kWh"),
#     units after values (±2 %), the judged value's column;
#   - the layout: date of issue (the issued step's date for a signed certificate), signature
#     lines, the seal area, place of verification, humidity, the statements;
#   - a notice lists every item of the procedure, those without a point as 未检 / not run.
set -u
BUILD=${METRO_BUILD:-build/san}
B=$BUILD
FIXTURE=$BUILD/tests/test_store_fixture
. tests/lib/need.sh
need_cmd pdftotext poppler-utils
TMP=$(mktemp -d "${TMPDIR:-/tmp}/metrod-certlayout.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { # name got want
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1)); echo "ok   $1"
	else
		fail=$((fail + 1)); echo "FAIL $1: got '$2', want '$3'"
	fi
}
has() { grep -q -- "$2" "$1" && echo yes || echo "no '$2'"; }
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
R() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" "$B/metroctl" "$@"; }

mkdir "$TMP/s" "$TMP/out"
"$FIXTURE" build "$TMP/s" >"$TMP/fixture.out" 2>"$TMP/fixture.log"
check "fixture built" "$?" "0"
DB=$TMP/s/records.db PUB=$TMP/s/records.pub
num() { sed -n "s/^certificate \(.*\) run $1 position $2\$/\1/p" "$TMP/fixture.out"; }
NEW=$(sed -n 's/^certificate .* voided, reissued as \(.*\)/\1/p' "$TMP/fixture.out")
pdf() { # NUMBER NAME: the document's text in $TMP/out/NAME.txt
	R report certificate --db "$DB" --pubkey "$PUB" --number "$1" -o "$TMP/out/$2.pdf" >/dev/null 2>"$TMP/$2.err"
	local rc=$?
	pdftotext -raw "$TMP/out/$2.pdf" "$TMP/out/$2.txt" 2>/dev/null
	echo "$rc"
}
# a date from the records (UTC) as the local date the documents print
localdate() { python3 -c "import datetime,sys; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).astimezone().date())" "$1"; }
sq() { python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$DB?mode=ro',uri=True); print(c.execute(sys.argv[1]).fetchone()[0])" "$1"; }

# ---- water: service life by DN -------------------------------------------------------------
check "water certificate prints" "$(pdf "$(num 1 2)" w)" "0"
W=$TMP/out/w.txt
check "water: the nameplate as read" "$(has "$W" 'Q3 2.5 m³/h R100 DN15')" "yes"
check "water: no key dump of the nameplate" "$(grep -c 'q3 2.5' "$W")" "0"
check "water: DN15, Q3 2.5: a service life of at most 6 years" "$(has "$W" '使用期限 Service life *自检定日期起不超过 6 年')" "yes"
check "water: ... and no valid-until date" "$(grep -c '^有效期至 Valid until [0-9]' "$W")" "0"
check "water: the rule's note" "$(has "$W" '首次强制检定，限期使用，到期更换')" "yes"
D=$(localdate "$(sq 'select decided from verdicts where run = 1 and position = 2 order by id desc limit 1')")
check "water: the date of verification" "$(has "$W" "检定日期 Date of verification *$D")" "yes"
I=$(localdate "$(sq "select issued from certificates where number = '$(num 1 2)'")")
check "water: the date of issue (numbered and issued, no workflow)" "$(has "$W" "签发日期 Date of issue *$I")" "yes"
check "water: signature lines" "$(grep -c '签名 ____________' "$W")" "3"
check "water: the seal area" "$(has "$W" '检定专用章（盖章）')" "yes"
check "water: the statement on the item verified" "$(has "$W" '检定结果仅对所检定的计量器具有效')" "yes"
check "water: the statement on copying" "$(has "$W" 'may not be reproduced in part without the written approval')" "yes"
check "water: the place of verification" "$(has "$W" '检定地点 Place of verification: Demonstration verification station, 1 Example Road, 装置 rig water-1')" "yes"
check "water: the humidity recorded with the points" "$(has "$W" '相对湿度 relative humidity 48 %RH')" "yes"
check "water: the ambient temperature, unit after the value" "$(has "$W" '环境温度 ambient 21.5 °C')" "yes"
check "water: the MPE with its unit" "$(grep -c '±2 %' "$W" | awk '{print ($1 > 0)}')" "1"
tr '\n' ' ' <"$W" >"$TMP/out/w.joined"
check "water: the bench with an assessment certificate is the measurement standard" "$(has "$TMP/out/w.joined" '计量标准装置 Measurement standard .*WB-2023-117 .*\[2024\]国量标E证字第0117')" "yes"
check "water: the standard's measuring range, recorded with the run" "$(has "$TMP/out/w.joined" '测量范围 Range: (0.025-8) m³/ \?h')" "yes"
check "water: the institution's postcode and phone" "$(has "$TMP/out/w.joined" '地址 Address: 1 Example Road 邮编 Postcode: 000000 电话 Phone: 0000-1234567')" "yes"
check "water: ... and no standard instrument besides it" "$(grep -c '标准器 Standard instrument' "$W")" "0"
check "water: the judged value's column" "$(has "$W" '判定值 Judged')" "yes"
check "water: the error with its unit" "$(has "$W" '0.42 %')" "yes"

# the reissue, signed through the workflow: issued on the issued step's date
check "signed certificate prints" "$(pdf "$NEW" s)" "0"
I=$(localdate "$(sq "select time from certificate_steps where certificate = '$NEW' and step = 'issued'")")
check "signed: the date of issue is the issued step's" "$(has "$TMP/out/s.txt" "签发日期 Date of issue *$I")" "yes"
check "signed: a signature line per signer" "$(grep -c '签名 ____________' "$TMP/out/s.txt")" "4"

# ---- electricity: valid until by class -----------------------------------------------------
check "electricity certificate prints" "$(pdf "$(num 2 1)" e)" "0"
E=$TMP/out/e.txt
check "electricity: the nameplate as read" "$(has "$E" '220 V 5(60) A 1200 imp/kWh 单相 single-phase 直接接入 direct')" "yes"
D=$(localdate "$(sq 'select decided from verdicts where run = 2 and position = 1 order by id desc limit 1')")
U=$(python3 -c "
import datetime, sys
d = datetime.date.fromisoformat(sys.argv[1]); m = d.month + 96
print(datetime.date(d.year + (m - 1) // 12, (m - 1) % 12 + 1, 1) + datetime.timedelta(days=d.day - 2))" "$D")
check "electricity: class 1 is valid 96 months less a day ($D → $U)" "$(has "$E" "有效期至 Valid until *$U")" "yes"
check "electricity: no service life" "$(grep -c '使用期限 Service life' "$E")" "0"

# ---- a notice: every item, the ones not run as 未检 -----------------------------------------
check "water notice prints" "$(pdf "$(num 1 3)" n)" "0"
N=$TMP/out/n.txt
check "notice: visual inspection not run (no point recorded)" "$(has "$N" '外观检查 / Visual inspection .*未检 / not run')" "yes"
check "notice: leak tightness not run" "$(has "$N" '密封性检查 / Leak tightness .*未检 / not run')" "yes"
check "notice: no validity" "$(grep -c '^有效期至 Valid until [0-9]\|^使用期限 Service life' "$N")" "0"

# ---- a pass that no validity rule covers is refused, nothing written ------------------------
# The fixture built again where its electricity procedure's rules leave class 1 out (as a
# procedure edited after the batch was checked would): the class 1 meter's certificate.
mkdir -p "$TMP/alt/procedures" "$TMP/alt/s"
sed 's/- when: {class: \["1", "2"\]}/- when: {class: ["2"]}/' procedures/jjg596-electricity-initial.yaml \
	>"$TMP/alt/procedures/jjg596-electricity-initial.yaml"
check "the edited procedure leaves class 1 out" "$(grep -c 'class: \["2"\]' "$TMP/alt/procedures/jjg596-electricity-initial.yaml")" "1"
(cd "$TMP/alt" && "$OLDPWD/$FIXTURE" build "$TMP/alt/s" >"$TMP/alt/fixture.out" 2>"$TMP/alt/fixture.log")
check "second fixture built" "$?" "0"
ALT=$(sed -n 's/^certificate \(.*\) run 2 position 1$/\1/p' "$TMP/alt/fixture.out")
R report certificate --db "$TMP/alt/s/records.db" --pubkey "$TMP/alt/s/records.pub" --number "$ALT" -o "$TMP/out/alt.pdf" >/dev/null 2>"$TMP/alt.err"
check "a class 1 pass with no rule for class 1: refused (exit 1)" "$?" "1"
check "... saying why" "$(has "$TMP/alt.err" "refused: $ALT: no certificate validity rule of procedure jjg596-electricity-initial applies to meter EM-2026-0001")" "yes"
check "... and nothing written" "$(ls "$TMP/out/alt.pdf" 2>/dev/null | wc -l)" "0"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
