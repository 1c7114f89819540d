#!/usr/bin/env bash
# Reports end to end: a simulated campaign on a bell prover (initial verification, supervision
# sampling of new and in-use meters, verification on complaint; position 2 reads +2.4 % and
# fails the verification limits), then certificates and notices (pdftotext finds the serial,
# the conclusion, the standard's certificate and the checkpoint), a batch report, the
# statistics table (openpyxl reads the XLSX; its counts are checked against an independent
# SQL count of the records), the CSV table and the exports, and the refusals: a tampered
# store, a bad side file, bad usage.  Output files: a missing output directory (or a
# certificate's name taken by a directory) is refused before anything is written, and a report
# whose writing fails or is killed midway (a file size limit) leaves nothing under its names.
set -u
. tests/lib/rigs.sh
PY=/usr/bin/python3
SCALE=120
gas_bench $SCALE
start_metrod "$TMP/metrod.yaml"

# batch NAME SERIAL-PREFIX PROCEDURE [VERIFICATION-TYPE [POSITIONS]]: the meters at POSITIONS
# (a bracket expression's inside, default 1-5: five meters; position 6 is empty)
batch() {
	{
		sed -n '/^meters:/q;p' config/batches/gas-initial.yaml | sed "s/^procedure: .*/procedure: $3/"
		[ -n "${4:-}" ] && echo "verification_type: $4"
		echo "meters:"
		grep -e "- {position: [${5:-1-5}]," config/batches/gas-initial.yaml | sed "s/G4-2024-/$2-/"
	} >"$TMP/$1.yaml"
	timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/$1.yaml" --wait --auto-answer pass \
		2>"$TMP/$1.err" | tail -n 1 >"$TMP/$1.json"
	check "batch $1 runs to its end" "$(json "d.get('result')" <"$TMP/$1.json")" "done"
}
batch initial G4-A jjg577-gas-initial
batch sampnew G4-N jjg577-gas-initial sampling-new
batch sampuse G4-U jjg577-gas-in-service sampling-in-use
batch complaint G4-C jjg577-gas-initial complaint
batch single G4-S jjg577-gas-initial "" 1 # run 5: one meter (a batch report smaller than a certificate)
kill -TERM "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
DB=$TMP/records.db
# cairo leaks inside cairo_surface_finish (tests/lsan.supp); the suppression names that
# function, which only a full unwind through libcairo's frames can see.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
R() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" "$B/metroctl" "$@"; }
sql() { $PY -c "import sqlite3,sys; c=sqlite3.connect('file:$DB?mode=ro',uri=True); print(c.execute(sys.argv[1]).fetchone()[0])" "$1"; }
check "the campaign recorded five runs" "$(sql 'select count(*) from runs')" "5"
check "certificate numbers are unique" "$(sql 'select count(*) = count(distinct number) from certificates')" "1"
check "a verdict for every meter" "$(sql 'select count(*) from positions where verdict is not null')" "21"
check "the batch's verification type is what the records count" \
	"$(sql "select group_concat(verification_type, ' ') from (select verification_type from runs order by id)")" \
	"initial sampling-new sampling-in-use complaint initial"

# ---- certificates and notices --------------------------------------------------------------
OUT=$TMP/out; mkdir -p "$OUT"
CP=$(sql 'select short_id from checkpoints order by epoch limit 1')
R report certificate --db "$DB" --run 1 --position 1 --checker 李工 --approver 赵主任 -o "$OUT/c1.pdf" >"$TMP/c1.log" 2>&1
check "certificate for run 1 position 1 is written" "$?" "0"
pdftotext -layout "$OUT/c1.pdf" "$OUT/c1.txt"
has() { grep -q -e "$2" "$1" && echo yes || echo "no '$2'"; }
N1=$(sql 'select number from certificates where run = 1 and position = 1')
check "certificate: title" "$(has "$OUT/c1.txt" '检 *定 *证 *书')" "yes"
check "certificate: its number" "$(has "$OUT/c1.txt" "$N1")" "yes"
check "certificate: the serial" "$(has "$OUT/c1.txt" 'G4-A-0001')" "yes"
check "certificate: the conclusion" "$(has "$OUT/c1.txt" '合格 / Pass')" "yes"
check "certificate: the standard's certificate" "$(has "$OUT/c1.txt" 'C-G-1')" "yes"
check "certificate: the standard's due date" "$(has "$OUT/c1.txt" '2099-01-01')" "yes"
check "certificate: the checkpoint that signs it" "$(has "$OUT/c1.txt" "id $CP")" "yes"
check "certificate: the regulation" "$(has "$OUT/c1.txt" 'JJG 577-2012')" "yes"
check "certificate: the service-life note of the procedure" "$(has "$OUT/c1.txt" '限期使用')" "yes"
check "certificate: the checker's name" "$(has "$OUT/c1.txt" '李工')" "yes"
check "certificate: marked as simulated" "$(has "$OUT/c1.txt" 'SIMULATED')" "yes"
check "certificate: institution and authorisation" "$(has "$OUT/c1.txt" 'T-0001')" "yes"
check "certificate: two pages" "$(pdfinfo "$OUT/c1.pdf" | awk '/^Pages:/ {print $2}')" "2"
check "certificate: the CJK font is embedded, subset" "$(pdffonts "$OUT/c1.pdf" | grep -c '^[A-Z]*+WenQuanYiMicroHei .* yes yes yes')" "2"
check "certificate: under 200 kB" "$(($(stat -c %s "$OUT/c1.pdf") < 200000))" "1"
pdftotext -raw "$OUT/c1.pdf" "$OUT/c1.raw"
check "certificate: the gas nameplate as read" "$(has "$OUT/c1.raw" 'G4 qmax 6 m³/h qmin 0.04 m³/h, 天然气 natural gas')" "yes"
check "certificate: natural gas, a service life of at most 10 years" "$(has "$OUT/c1.raw" '使用期限 Service life 自检定日期起不超过 10 年')" "yes"
tr '\n' ' ' <"$OUT/c1.raw" >"$OUT/c1.joined"
check "certificate: a standard without an assessment certificate is a standard instrument" "$(has "$OUT/c1.joined" '标准器 Standard instrument .*Bell prover')" "yes"
check "certificate: ... and no measurement standard is recorded, which it says" "$(has "$OUT/c1.joined" '计量标准装置 Measurement standard: 无考核证书记录')" "yes"
check "certificate: the humidity recorded with the points (the bell prover's room sensor)" "$(has "$OUT/c1.joined" '相对湿度 relative humidity[: ]*[0-9.]* *%RH')" "yes"
check "certificate: ... so it does not say it was not recorded" "$(has "$OUT/c1.joined" '相对湿度 relative humidity: 未记录')" "no '相对湿度 relative humidity: 未记录'"

R report certificate --db "$DB" --serial G4-A-0002 -o "$OUT/n2.pdf" >/dev/null 2>&1
check "notice by serial is written" "$?" "0"
pdftotext -layout "$OUT/n2.pdf" "$OUT/n2.txt"
check "notice: title" "$(has "$OUT/n2.txt" '检 *定 *结 *果 *通 *知 *书')" "yes"
check "notice: the conclusion" "$(has "$OUT/n2.txt" '不合格 / Fail')" "yes"
check "notice: names the failed item" "$(has "$OUT/n2.txt" '不合格项目 Failed items')" "yes"
check "notice: the failed test point" "$(grep -c '^ *qmax' "$OUT/n2.txt" | awk '{print ($1 > 0)}')" "1"
pdftotext -raw "$OUT/n2.pdf" "$OUT/n2.raw"
check "notice: no valid-until date" "$(grep -c '^有效期至 Valid until [0-9]' "$OUT/n2.raw")" "0"
check "notice: the points not run after qmax failed, as 未检" "$(grep -cE '^(0.2 qmax|qmin) — — — — 未检 / not run$' "$OUT/n2.raw")" "2"
check "notice: no service life" "$(grep -c '使用期限 Service life' "$OUT/n2.raw")" "0"

# ---- the batch report ----------------------------------------------------------------------
R report run --db "$DB" --run 1 -o "$OUT/run1.pdf" --certificates "$OUT" >"$TMP/run1.log" 2>&1
check "batch report and its certificates are written" "$?" "0"
pdftotext -layout "$OUT/run1.pdf" "$OUT/run1.txt"
for s in 1 2 3 4 5; do
	check "batch report: meter G4-A-000$s" "$(has "$OUT/run1.txt" "G4-A-000$s")" "yes"
done
check "batch report: an error curve per meter" "$(grep -c '误差曲线 Error curve' "$OUT/run1.txt")" "5"
check "batch report: the verdict summary" "$(has "$OUT/run1.txt" '5 meters: 4 passed, 1 failed')" "yes"
check "batch report: every error curve has its legend" \
	"$(grep -c '±MPE 最大允许误差' "$OUT/run1.txt") $(grep -o '误差 error\( %\)\?' "$OUT/run1.txt" | grep -vc '%')" "5 5"
check "batch report: the meter outside its MPE is marked in the legend" "$(grep -c '超差 outside MPE' "$OUT/run1.txt")" "1"
check "one certificate file per position" "$(ls "$OUT"/it-lab-*.pdf | wc -l)" "5"
pdftoppm -r 40 -png -f 2 -l 2 "$OUT/run1.pdf" "$OUT/page" 2>/dev/null
check "a report page renders" "$(ls "$OUT"/page*.png 2>/dev/null | wc -l)" "1"

# ---- the statistics table ------------------------------------------------------------------
TODAY=$(date +%F)
cat >"$TMP/extra.yaml" <<'YAML'
header: {unit: 测试市场监督管理局, date: 2026-12-01, person: 测试员, contact: "0000-1234567"}
gas: {in_use: 52000, violations: 1, producer_inspection: 检查生产企业 2 家, institutions_inspected: 3, service_complaints: 7, service_replaced: 4, regulator_complaints: 2, cases: 1}
water: {in_use: 81000}
totals: {institutions_inspected: 2}
YAML
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --extra "$TMP/extra.yaml" --include-simulated --format xlsx -o "$OUT/stats.xlsx" >/dev/null 2>"$TMP/stats.err"
check "statistics table (XLSX) is written" "$?" "0"
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --extra "$TMP/extra.yaml" --include-simulated --format csv -o "$OUT/stats.csv" >/dev/null 2>&1
check "statistics table (CSV) is written" "$?" "0"
cat >"$TMP/xlsx.py" <<'PY'
import csv, sqlite3, sys
import openpyxl
db, xlsx, csvf = sys.argv[1:4]
wb = openpyxl.load_workbook(xlsx)
ws = wb.worksheets[0]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
# the oracle: meters by kind, verification type and current verdict, straight from the tables
kind = {"flow-bench": "水表", "electricity-bench": "电能表", "bell-prover": "燃气表"}
want = {k: [0] * 6 for k in kind.values()}
col = {"sampling-new": 0, "sampling-in-use": 2, "complaint": 4}
for rk, vt, verdict in c.execute(
        "select g.kind, r.verification_type, p.verdict from positions p join runs r on r.id = p.run "
        "join rigs g on g.rig = r.rig where p.verdict in ('pass', 'conditional', 'fail')"):
    if vt in col:
        want[kind[rk]][col[vt]] += 1
        want[kind[rk]][col[vt] + 1] += verdict == "fail"
problems = []
G1, G2 = "民用“三表”检查情况", "处理投诉举报情况"
heads = ["在用计量器具数量", "抽查已首检未安装的计量器具数量", "不合格数量", "抽查在用计量器具数量",
         "不合格数量", "发现违法行为数量", "民用“三表”生产企业检查情况", "检查检定机构数量", "发现违法行为数量",
         "计量检定机构检查情况", "服务企业受理投诉举报数量", "服务企业更换计量器具数量",
         "计量机构对投诉举报计量器具开展检定数量", "不合格数量", "市场监管部门受理投诉举报数量", "立案案件数量"]
v = lambda r, cc: ws.cell(row=r, column=cc).value
# the form: title, the four header lines, the warning, two header rows, three kinds, nothing else
if ws.title != "统计表" or v(1, 1) != "民用“三表”计量专项监督检查统计表":
    problems.append("title %r %r" % (ws.title, v(1, 1)))
lines = [v(r, 1) for r in range(2, 6)]
if lines != ["填报单位（盖章）：测试市场监督管理局", "填报日期：2026-12-01", "填报人：测试员", "联系方式：0000-1234567"]:
    problems.append("header block %r" % lines)
if "不得上报" not in str(v(6, 1)) or "simulated" not in str(v(6, 1)):
    problems.append("no simulated warning above the table: %r" % v(6, 1))
if [v(7, 1), v(7, 2), v(7, 3), v(7, 12)] != ["计量器具种类", "在用计量器具数量", G1, G2]:
    problems.append("header row 1 %r" % [v(7, cc) for cc in range(1, 18)])
merged = {str(m) for m in ws.merged_cells.ranges}
for m in ("A7:A8", "B7:B8", "C7:K7", "L7:Q7"):
    if m not in merged:
        problems.append("header cells %s not merged (%s)" % (m, sorted(merged)))
if [v(8, cc) for cc in range(3, 18)] != heads[1:]:
    problems.append("header row 2 %r" % [v(8, cc) for cc in range(3, 18)])
rows = {v(r, 1): r for r in range(9, 12)}
if list(rows) != ["电能表", "水表", "燃气表"]:
    problems.append("row labels %r" % list(rows))
if any(v(r, cc) is not None for r in range(12, 20) for cc in range(1, 18)):
    problems.append("something below the three kinds (a total row?)")
fonts = {ws.cell(row=r, column=cc).font.name for r, cc in ((1, 1), (2, 1), (6, 1), (7, 1), (7, 3), (8, 3), (9, 1), (9, 3), (11, 17))}
if fonts != {"宋体"}:
    problems.append("fonts %r" % fonts)
csv_all = list(csv.reader(open(csvf, encoding="utf-8")))
if not csv_all[0][0].startswith("警告") or "simulated" not in csv_all[0][0]:
    problems.append("CSV: no simulated warning first: %r" % csv_all[0])
names = csv_all[1]
if names[0] != "计量器具种类" or len(set(names)) != len(names) or len(names) != 17:
    problems.append("CSV names not unique: %r" % names)
for i, n in enumerate(names[2:], 2):
    if not (n.startswith(G1 + "/") if i <= 10 else n.startswith(G2 + "/")) or not n.endswith(heads[i - 1]):
        problems.append("CSV name %d %r" % (i, n))
csv_rows = {r[0]: r for r in csv_all[2:]}
if list(csv_rows) != ["电能表", "水表", "燃气表"]:
    problems.append("CSV rows %r" % list(csv_rows))
for k, w in want.items():
    got = [v(rows[k], cc) for cc in (3, 4, 5, 6, 14, 15)]
    if got != w:
        problems.append("%s counts: xlsx %r, records %r" % (k, got, w))
    if [int(x) for x in (csv_rows[k][i] for i in (2, 3, 4, 5, 13, 14))] != w:
        problems.append("%s counts in the CSV: %r, records %r" % (k, csv_rows[k], w))
g = rows["燃气表"]
side = {2: 52000, 7: 1, 8: "检查生产企业 2 家", 9: 3, 12: 7, 13: 4, 16: 2, 17: 1}
for cc, val in side.items():
    if v(g, cc) != val:
        problems.append("gas side column %d: %r, want %r" % (cc, v(g, cc), val))
if v(rows["电能表"], 2) is not None:
    problems.append("a side value not given must stay empty, not 0")
# the second sheet: totals over the kinds (institutions from the side file's total) and pass rates
t = wb["合计与合格率"]
items = {t.cell(row=r, column=1).value: r for r in range(1, t.max_row + 1)}
def tot(name): return [t.cell(row=items[name], column=cc).value for cc in range(2, 6)]
n_new = G1 + "/抽查已首检未安装的计量器具数量"
if tot(n_new) != [want[k][0] for k in ("电能表", "水表", "燃气表")] + [sum(w[0] for w in want.values())]:
    problems.append("totals of sampled new meters %r" % tot(n_new))
if tot(G1 + "/检查检定机构数量")[3] != 2:
    problems.append("institutions are totalled from the side file, each once: %r" % tot(G1 + "/检查检定机构数量"))
if tot("在用计量器具数量")[3] is not None:
    problems.append("a total over an empty cell must stay empty")
rate = tot("合格率：抽查已首检未安装的计量器具")
gw = want["燃气表"]
if rate[0] is not None or abs(rate[2] - (gw[0] - gw[1]) / gw[0]) > 1e-9:
    problems.append("pass rates %r" % rate)
if "不得上报" not in str(t.cell(row=2, column=1).value):
    problems.append("no simulated warning on the second sheet")
if sum(sum(w) for w in want.values()) == 0:
    problems.append("the campaign counted nothing")
if sum(w[1] + w[3] + w[5] for w in want.values()) == 0:
    problems.append("the campaign has no nonconforming meter: the fail columns are untested")
print("; ".join(problems) or "ok")
PY
check "XLSX layout and counts agree with the records" "$($PY "$TMP/xlsx.py" "$DB" "$OUT/stats.xlsx" "$OUT/stats.csv" 2>&1)" "ok"
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --format csv -o "$OUT/nosim.csv" >/dev/null 2>"$TMP/nosim.err"
check "simulated records are left out unless asked for" "$(grep -c '^燃气表,,0,0,0,0,' "$OUT/nosim.csv")" "1"
check "and the leaving out is said" "$(grep -c 'from simulated rigs left out' "$TMP/nosim.err")" "1"
check "... and then the CSV carries no warning" "$(head -c 18 "$OUT/nosim.csv")" "计量器具种类"
R report stats --db "$DB" --from 2000-01-01 --to 2000-12-31 --include-simulated --format csv -o "$OUT/old.csv" >/dev/null 2>&1
check "a period without records counts nothing" "$(grep -c '^燃气表,,0,0,0,0,' "$OUT/old.csv")" "1"

# ---- the household filter and the summary --------------------------------------------------
# the campaign's meters are G4 (qmax 6): a rule up to qmax 6 keeps them all, one up to 5.9 none
sed 's/qmax_max: 10 /qmax_max: 6 /' config/reports/household.yaml >"$TMP/hh6.yaml"
sed 's/qmax_max: 10 /qmax_max: 5.9 /' config/reports/household.yaml >"$TMP/hh5.yaml"
check "(the shipped rule has gas qmax_max 10)" "$(grep -c '^  qmax_max: 10 ' config/reports/household.yaml)" "1"
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format csv -o "$OUT/all.csv" >/dev/null 2>&1
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --household "$TMP/hh6.yaml" --format csv -o "$OUT/hh6.csv" >/dev/null 2>&1
check "--household: household meters are counted" "$? $(cmp "$OUT/all.csv" "$OUT/hh6.csv" && echo same)" "0 same"
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --household "$TMP/hh5.yaml" --format csv -o "$OUT/hh5.csv" >/dev/null 2>"$TMP/hh5.err"
check "--household: others are left out" "$(grep -c '^燃气表,,0,0,0,0,,,,,,,,0,0,,$' "$OUT/hh5.csv")" "1"
NSAMPLED=$(sql "select count(*) from positions p join runs r on r.id = p.run where p.verdict in ('pass', 'conditional', 'fail') and r.verification_type in ('sampling-new', 'sampling-in-use', 'complaint')")
check "... and the leaving out is said" "$(grep -c ", $NSAMPLED not household meters by the rule left out" "$TMP/hh5.err")" "1"
printf 'water: {dn_max: 25, q3_max: 6.3}\ngas: {qmax_max: ten}\n' >"$TMP/bad-hh.yaml"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --household "$TMP/bad-hh.yaml" >"$TMP/bad-hh.out" 2>"$TMP/bad-hh.err"
check "a bad household rule is refused (exit 1), saying where, writing nothing" \
	"$? $(grep -c "^$TMP/bad-hh.yaml:[12]:[0-9]*:" "$TMP/bad-hh.err") $(wc -c <"$TMP/bad-hh.out")" "1 2 0"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format csv -o "$OUT/summary.csv" >/dev/null 2>&1
check "summary (CSV) is written" "$?" "0"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format xlsx -o "$OUT/summary.xlsx" >/dev/null 2>&1
check "summary (XLSX) is written" "$?" "0"
cat >"$TMP/summary.py" <<'PY'
import csv, sqlite3, sys
import openpyxl
db, csvf, xlsx = sys.argv[1:4]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
want = {}
for vt, verdict in c.execute("select r.verification_type, p.verdict from positions p join runs r on r.id = p.run"):
    if verdict in ("pass", "conditional", "fail"):
        w = want.setdefault(vt, [0, 0, 0])
        w[0] += 1
        w[1] += verdict != "fail"
        w[2] += verdict == "fail"
problems = []
lines = list(csv.reader(open(csvf, encoding="utf-8")))
if "不得上报" not in lines[0][0]:
    problems.append("no simulated warning first")
got = {r[2]: [int(x) for x in r[4:7]] for r in lines[2:] if r[0] == "gas" and r[2] != "all"}
if got != want:
    problems.append("csv %r, records %r" % (got, want))
total = [r for r in lines if r[0] == "all"]
n = sum(w[0] for w in want.values()); p = sum(w[1] for w in want.values())
if len(total) != 1 or total[0][4:7] != [str(n), str(p), str(n - p)] or total[0][7] != "%.1f" % (100 * p / n):
    problems.append("total %r" % total)
ws = openpyxl.load_workbook(xlsx).worksheets[0]
cells = [[ws.cell(row=r, column=cc).value for cc in range(1, 7)] for r in range(1, ws.max_row + 1)]
if not any(row[0] == "合计" and row[2:5] == [n, p, n - p] for row in cells):
    problems.append("xlsx total %r" % cells)
if ws.cell(row=3, column=1).font.name != "宋体":
    problems.append("xlsx font %r" % ws.cell(row=3, column=1).font.name)
if n == 0 or p == n:
    problems.append("the campaign does not exercise passed and failed")
print("; ".join(problems) or "ok")
PY
check "summary: counts per kind and verification type agree with the records" \
	"$($PY "$TMP/summary.py" "$DB" "$OUT/summary.csv" "$OUT/summary.xlsx" 2>&1)" "ok"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated >"$TMP/summary.txt" 2>/dev/null
check "summary (text) to the terminal" "$? $(grep -c '^燃气表  *投诉举报检定 ' "$TMP/summary.txt") $(grep -c '^合计 ' "$TMP/summary.txt")" "0 1 1"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --household "$TMP/hh5.yaml" --format csv -o - 2>/dev/null >"$TMP/summary-hh5.csv"
check "summary --household: others are left out" "$(tail -n 1 "$TMP/summary-hh5.csv")" "all,合计,all,全部 all,0,0,0,"
R report summary --db "$DB" --from "$TODAY" --to "$TODAY" --format xlsx >/dev/null 2>&1
check "summary xlsx without -o is a usage error" "$?" "2"
# the store fixture (tests/integration/test_store_fixture.c): electricity meters on a rig not
# registered, so of no known kind
FX=$TMP/fixture
mkdir -p "$FX"
"$B/tests/test_store_fixture" build "$FX" >/dev/null 2>&1
check "(the store fixture is built)" "$?" "0"
R report summary --db "$FX/records.db" --from 2000-01-01 --to 2099-12-31 --include-simulated --household config/reports/household.yaml --format csv -o "$OUT/fx.csv" >/dev/null 2>"$TMP/fx.err"
check "--household: a meter the rule cannot place refuses the report (exit 1), naming it, writing nothing" \
	"$? $(grep -c 'cannot place run 2 position 1 (serial EM-2026-0001): the meter kind unknown is not known' "$TMP/fx.err") $(ls "$OUT/fx.csv" 2>/dev/null | wc -l)" "1 1 0"
R report summary --db "$FX/records.db" --from 2000-01-01 --to 2099-12-31 --include-simulated --format csv -o "$OUT/fx.csv" >/dev/null 2>&1
FXN=$($PY -c "import sqlite3; c = sqlite3.connect('file:$FX/records.db?mode=ro', uri=True); print(','.join(str(c.execute(q).fetchone()[0]) for q in (\"select count(*) from positions where verdict in ('pass', 'conditional', 'fail')\", \"select count(*) from positions where verdict in ('pass', 'conditional')\", \"select count(*) from positions where verdict = 'fail'\")))")
check "summary of the fixture: the total agrees with the records; water, and the unregistered rig's meters as unknown" \
	"$(grep -c '^all,合计,all,全部 all,'"$FXN"',' "$OUT/fx.csv") $(grep -c '^water,水表,initial,' "$OUT/fx.csv") $(grep -c '^unknown,unknown,subsequent,' "$OUT/fx.csv")" "1 1 1"

# ---- exports -------------------------------------------------------------------------------
R export results --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format csv -o "$OUT/results.csv" 2>/dev/null
check "results export (CSV)" "$?" "0"
check "one CSV row per recorded point" "$(($(wc -l <"$OUT/results.csv") - 1))" "$(sql 'select count(*) from points')"
R export results --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format json -o "$OUT/results.json" 2>/dev/null
check "results export (JSON) has every point" "$($PY -c "import json; print(len(json.load(open('$OUT/results.json'))['results']))")" "$(sql 'select count(*) from points')"
check "the failing point is exported as failed" \
	"$($PY -c "import json; print(sorted({(r['serial'], r['test_point']) for r in json.load(open('$OUT/results.json'))['results'] if r['point_verdict'] == 'fail'})[:1])")" \
	"[('G4-A-0002', 'qmax')]"
R export inventory --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated -o "$OUT/inv.csv" 2>/dev/null
check "inventory: one row per verified meter" "$(($(wc -l <"$OUT/inv.csv") - 1))" "21"
check "inventory: the e-CQS columns" "$(head -n 1 "$OUT/inv.csv")" \
	"名称 name,类别 category,型号 model,测量范围 range,准确度等级 class,出厂编号 serial,制造单位 manufacturer,产地 origin,使用地点 location,数量 quantity,用途 purpose,检定方式 mode,检定结论 verdict,证书编号 certificate"

# ---- output files: checked before anything is written, written whole or not at all --------
W=$TMP/w
mkdir -p "$W"
listing() { ls -A "$1" 2>/dev/null | tr '\n' ' '; } # every entry, temporary (hidden) names too
R report run --db "$DB" --run 1 -o "$TMP/missing/run1.pdf" --certificates "$W" >/dev/null 2>"$TMP/w.err"
check "a missing output directory is refused (exit 5)" "$?" "5"
check "... naming the directory" "$(grep -c "$TMP/missing: the output directory does not exist" "$TMP/w.err")" "1"
check "... and nothing is written" "$(listing "$W")" ""
# the issue's case: a missing certificates directory was found after the batch PDF was written
R report run --db "$DB" --run 1 -o "$W/run1.pdf" --certificates "$TMP/missing" >/dev/null 2>"$TMP/w.err"
check "a missing certificates directory is refused (exit 5)" "$?" "5"
check "... naming it" "$(grep -c "$TMP/missing: the output directory does not exist" "$TMP/w.err")" "1"
check "... before the batch report is written" "$(listing "$W")" ""
for cmd in "report certificate --run 1 --position 1" "report stats --format xlsx" "report stats --format csv" \
	"export results --format json" "export inventory"; do
	# shellcheck disable=SC2086 # the words of cmd are arguments
	R $cmd --db "$DB" --from "$TODAY" --to "$TODAY" -o "$TMP/missing/x" >/dev/null 2>"$TMP/w.err"
	check "$cmd: a missing output directory is refused before anything is written" \
		"$? $(grep -c "$TMP/missing: the output directory does not exist" "$TMP/w.err") $(ls -d "$TMP/missing" 2>/dev/null)" "5 1 "
done
# every target of a multi-file output is checked first: a certificate's name taken by a directory
mkdir "$W/$N1.pdf"
R report run --db "$DB" --run 1 -o "$W/run1.pdf" --certificates "$W" >/dev/null 2>"$TMP/w.err"
check "a certificate's name taken by a directory is refused (exit 5)" "$?" "5"
check "... naming it" "$(grep -c "$W/$N1.pdf: is a directory" "$TMP/w.err")" "1"
check "... before the batch report is written" "$(listing "$W")" "$N1.pdf "
rmdir "$W/$N1.pdf"
# Writing that fails midway: with files limited to 40 KiB (RLIMIT_FSIZE: below the documents
# written here, above the 32 KiB that SQLite's shared-memory file of the store needs) a write
# fails with EFBIG when SIGXFSZ is ignored, and kills metroctl when it is not.
capped() { (ulimit -f "$1" && trap '' XFSZ && shift && R "$@"); } # KiB ARGS...: EFBIG
killed() { (ulimit -f "$1" && shift && R "$@"); }			 # KiB ARGS...: SIGXFSZ
check "(run 1's batch report and the JSON export are over 40 KiB)" \
	"$(($(stat -c %s "$OUT/run1.pdf") > 40960 && $(stat -c %s "$OUT/results.json") > 40960))" "1"
echo "an older report" >"$W/run1.pdf"
capped 40 report run --db "$DB" --run 1 -o "$W/run1.pdf" --certificates "$W" >/dev/null 2>"$TMP/w.err"
check "a report that cannot be written fails (exit 5)" "$?" "5"
check "... saying why" "$(grep -c "$W/run1.pdf: cannot write the PDF: File too large" "$TMP/w.err")" "1"
check "... leaving the older file as it was, no certificate, no temporary file" \
	"$(listing "$W") $(cat "$W/run1.pdf")" "run1.pdf  an older report"
rm "$W/run1.pdf"
killed 40 report run --db "$DB" --run 1 -o "$W/run1.pdf" --certificates "$W" >/dev/null 2>&1
check "a report killed midway (SIGXFSZ)" "$?" "$((128 + 25))"
check "... leaves nothing under the names, and no temporary file" "$(listing "$W")" ""
capped 40 export results --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format json -o "$W/r.json" >/dev/null 2>"$TMP/w.err"
check "an export that cannot be written fails (exit 5), leaving nothing" \
	"$? $(grep -c "$W/r.json: cannot write: File too large" "$TMP/w.err") $(listing "$W")" "5 1 "
killed 40 export results --db "$DB" --from "$TODAY" --to "$TODAY" --include-simulated --format json -o "$W/r.json" >/dev/null 2>&1
check "an export killed midway leaves nothing" "$? $(listing "$W")" "$((128 + 25)) "
# All or nothing: the one-meter run's batch report is smaller than its certificate, so a limit
# between the two fails the second file; the complete batch report must not appear either.
R report run --db "$DB" --run 5 -o "$OUT/run5.pdf" --certificates "$OUT" >"$TMP/run5.log" 2>&1
check "the one-meter run's report and certificate are written" "$?" "0"
N5=$(sql 'select number from certificates where run = 5')
b5=$(stat -c %s "$OUT/run5.pdf") c5=$(stat -c %s "$OUT/$N5.pdf") cap=$(((b5 + c5) / 2 / 1024))
check "(the batch report fits under the limit, the certificate does not: $b5 < $((cap * 1024)) < $c5)" \
	"$((b5 < cap * 1024 && cap * 1024 < c5))" "1"
capped "$cap" report run --db "$DB" --run 5 -o "$W/run5.pdf" --certificates "$W" >/dev/null 2>"$TMP/w.err"
check "a report whose second file cannot be written fails (exit 5)" "$?" "5"
check "... on the certificate" "$(grep -c "$W/$N5.pdf: cannot write the PDF: File too large" "$TMP/w.err")" "1"
check "... and writes neither file" "$(listing "$W")" ""
# written files get the usual permissions; a new report replaces an older one (a new file
# renamed over it, not the old one rewritten in place)
(umask 022 && R report run --db "$DB" --run 5 -o "$W/run5.pdf" >/dev/null 2>&1)
ino=$(stat -c %i "$W/run5.pdf")
(umask 022 && R report run --db "$DB" --run 5 -o "$W/run5.pdf" >/dev/null 2>&1)
check "a report replaces an older one whole; mode 644 under umask 022; nothing else left" \
	"$(stat -c %a "$W/run5.pdf") $([ "$(stat -c %i "$W/run5.pdf")" != "$ino" ] && echo replaced) $(listing "$W")" \
	"644 replaced run5.pdf "
check "... and it is a whole PDF" "$(pdfinfo "$W/run5.pdf" 2>/dev/null | grep -c '^Pages:')" "1"

# ---- refusals ------------------------------------------------------------------------------
cp "$DB" "$TMP/tampered.db"; cp "$TMP/records.key" "$TMP/tampered.key" 2>/dev/null; cp "$TMP/records.pub" "$TMP/tampered.pub" 2>/dev/null
$PY - "$TMP/tampered.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("drop trigger points_no_update")
c.execute("update points set error = '0.1' where test_point = 'qmax' and position = 2 and run = 1")
c.commit()
PY
R report certificate --db "$TMP/tampered.db" --run 1 --position 2 -o "$OUT/forged.pdf" >/dev/null 2>"$TMP/forged.err"
check "a tampered store is refused" "$?" "1"
check "and the refusal says why" "$(grep -c 'fails verification' "$TMP/forged.err")" "1"
check "and no document is written" "$(ls "$OUT/forged.pdf" 2>/dev/null | wc -l)" "0"
R report stats --db "$TMP/tampered.db" --from "$TODAY" --to "$TODAY" --format csv -o "$OUT/forged.csv" >/dev/null 2>&1
check "statistics from a tampered store are refused" "$?" "1"
printf 'gas: {in_use: many}\nwatr: {}\n' >"$TMP/bad-extra.yaml"
R report stats --db "$DB" --from "$TODAY" --to "$TODAY" --extra "$TMP/bad-extra.yaml" --format csv -o "$OUT/bad.csv" >/dev/null 2>"$TMP/bad.err"
check "a bad side file is refused" "$?" "1"
check "with the place of each problem" "$(grep -c "^$TMP/bad-extra.yaml:[12]:[0-9]*:" "$TMP/bad.err")" "2"
check "and nothing is written" "$(ls "$OUT/bad.csv" 2>/dev/null | wc -l)" "0"
R report certificate --db "$DB" --run 1 -o "$OUT/x.pdf" >/dev/null 2>&1
check "--run without --position is a usage error" "$?" "2"
R report certificate --db "$DB" --number no-such-number -o "$OUT/x.pdf" >/dev/null 2>&1
check "an unknown certificate number is refused" "$?" "1"
R report stats --db "$DB" --from 2026-12-31 --to 2026-01-01 --format csv -o - >/dev/null 2>&1
check "a reversed period is a usage error" "$?" "2"
R report certificate --db "$TMP/nonexistent.db" --number x -o "$OUT/x.pdf" >/dev/null 2>&1
check "a missing store cannot be read" "$?" "5"
finish
