#!/usr/bin/env bash
# The electricity procedure end to end over Modbus RTU on a pty: start and creep tests, eight
# load points with the error calculators and the 80-120 % repeat band (0.8C points included),
# the register (constant) test, the daily timing error of meters with a clock.
set -u
. tests/lib/rigs.sh
SCALE=120
start_sim elec --rig electricity-bench --modbus-rtu --pty-link "$TMP/elec.pty" --positions 11 --meters tests/data/sim/electricity-test-meters.yaml --time-scale $SCALE
{ config_head; cat <<YAML
  - {id: elec-1, kind: electricity-bench, driver: modbus-rtu, connection: {device: $TMP/elec.pty, baud: 115200}, profile: $PWD/config/profiles/electricity-bench.yaml, positions: 11, standards: [es], sample_hz: 10, simulated: true, time_scale: $SCALE}
YAML
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
head -n 7 config/batches/electricity-initial.yaml >"$TMP/batch.yaml"
grep -E 'position: ([1-7]|9|10|11),' config/batches/electricity-initial.yaml |
	sed '/position: 11,/s/clock: "yes"/clock: "no"/' >>"$TMP/batch.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass 2>"$TMP/start.err" | tail -n 1 >"$TMP/run.json"
check "batch runs to its end" "$(json "d['result']" <"$TMP/run.json")" "done"
v() { json "$1" <"$TMP/run.json"; }
verdict() { v "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==$1][0]"; }
check "position 1 passes" "$(verdict 1)" "('pass', [])"
check "position 2 fails at the first load point" "$(verdict 2)" "('fail', ['imax-1.0'])"
check "position 3 fails the start test" "$(verdict 3)" "('fail', ['start'])"
check "position 4 fails the creep test" "$(verdict 4)" "('fail', ['creep'])"
check "position 5 passes" "$(verdict 5)" "('pass', [])"
check "position 6 (+1.03 % at 0.5 Imax) passes on the rounded error" "$(verdict 6)" "('pass', [])"
check "position 7 (+1.07 % at 0.5 Imax) fails on the rounded error" "$(verdict 7)" "('fail', ['0.5imax-1.0'])"
pt() { v "[p['values']$2 for p in d['points'] if p['position']==$1 and p['item']=='$3' and p['verdict']!='pending'][0]"; }
check "position 6 at 0.5 Imax: mean over the MPE, rounded to it" "$(pt 6 "['mean'] > 1.0 and p['values']['judgement']['rounded'] == 1.0" 0.5imax-1.0)" "True"
check "position 7 at 0.5 Imax: rounded to 1.1" "$(pt 7 "['judgement']['rounded']" 0.5imax-1.0)" "1.1"
check "position 6 at 0.5 Imax: in the band, four readings" "$(pt 6 "['readings'].__len__()" 0.5imax-1.0)" "4"
check "position 1 at Ib: two readings" "$(pt 1 "['readings'].__len__()" ib-1.0)" "2"
check "position 5 in the band: four readings" "$(pt 5 "['readings'].__len__()" ib-1.0)" "4"
check "position 5 band flag" "$(pt 5 "['band_80_120']" ib-1.0)" "True"
check "position 1 error rounded to the class 1 interval" "$(pt 1 "['judgement']['interval']" ib-1.0)" "0.1"
check "position 1 judged on the rounded value" "$(pt 1 "['judgement']['rule']" ib-1.0)" "rounded"
check "position 1 rounded error is 0.2 %" "$(pt 1 "['judgement']['rounded']" ib-1.0)" "0.2"
check "0.05 Ib has the lower-zone MPE 1.5 %" "$(pt 1 "['judgement']['mpe']" 0.05ib-1.0)" "1.5"
check "start current 0.004 Ib = 0.02 A" "$(pt 1 "['current_a']" start)" "0.02"
check "creep voltage 115 % Un" "$(pt 1 "['voltage_v']" creep)" "253"
ev() { v "[(lambda x: ($3))(p['values']) for p in d['points'] if p['position']==$1 and p['item']=='$2' and p['verdict']!='pending'][0]"; }
check "creep evidence: 253 V and no current applied, 0 of 1 allowed pulses" "$(ev 1 creep "x['applied_voltage_v'], x['applied_current_a'], x['pulses'], x['allowed_pulses']")" "(253, 0, 0, 1)"
check "creep watched for its time limit" "$(ev 1 creep "x['watched_min'] >= x['time_min']")" "True"
check "creeping meter: more pulses than allowed" "$(ev 4 creep "x['pulses'] > x['allowed_pulses']")" "True"
check "start evidence: 0.02 A at Un, one pulse required and counted" "$(ev 1 start "x['applied_current_a'], x['applied_voltage_v'], x['required_pulses'], x['pulses'] >= 1")" "(0.02, 220, 1, True)"
check "constant test passes" "$(v "[p['verdict'] for p in d['points'] if p['position']==1 and p['item']=='constant'][0]")" "pass"
check "0.8C points run: Ib in the upper zone (1.0 %), 0.1 Ib in the lower (1.5 %)" "$(ev 1 ib-0.8C "x['pf'], x['judgement']['mpe']"), $(ev 1 0.1ib-0.8C "x['pf'], x['judgement']['mpe']")" "('0.8C', 1), ('0.8C', 1.5)"
check "0.8C reaches the meter as a capacitive load: position 11 reads its 0.8C error" "$(ev 11 ib-0.8C "round(x['mean'], 1)"), $(ev 11 ib-1.0 "round(x['mean'], 1)"), $(ev 11 ib-0.5L "round(x['mean'], 1)")" "0.6, 0.2, 0.2"
check "the AC voltage test is recorded for every meter" "$(v "sorted(p['position'] for p in d['points'] if p['item']=='ac-voltage')")" "[1, 2, 3, 4, 5, 6, 7, 9, 10, 11]"
# The register test: start and stop readings of the register against the standard's energy,
# limit by class, an energy run long enough for the register's resolution.
check "register evidence: resolution, the energy for it, the class limit" "$(ev 1 constant "x['resolution_kwh'], x['energy_kwh'], x['limit_pct'], x['limit_source'], x['readings']")" "(0.01, 10, 1, 'class', 'rig')"
check "register: stop - start is the registered energy, the reference at least the energy run" "$(ev 1 constant "abs(x['stop_kwh'] - x['start_kwh'] - x['register_kwh']) < 1e-9 and x['reference_kwh'] >= 10 and x['stop_kwh'] > x['start_kwh']")" "True"
check "register error of a +0.2 % meter, within the resolution (0.1 %)" "$(ev 1 constant "abs(x['judgement']['error'] - 0.2) <= 0.12, x['judgement']['mpe'], x['judgement']['rule']")" "(True, 1, 'full-precision')"
check "register error is (registered - reference) / reference" "$(ev 1 constant "abs((x['register_kwh'] - x['reference_kwh']) / x['reference_kwh'] * 100 - x['judgement']['error']) < 1e-9")" "True"
check "position 9 (register +2 %) fails the register test" "$(verdict 9)" "('fail', ['constant'])"
check "position 9's register error is about +2.2 %" "$(ev 9 constant "round(x['judgement']['error'], 0)")" "2.0"
# The daily timing error: five readings of each meter's clock, the mean within ±0.5 s/d.
check "timing evidence: five readings, 60 s gates, limit 0.5 s/d" "$(ev 1 timing "len(x['readings']), x['gate_s'], x['limit_s_per_day'], x['unit'], x['judgement']['mpe']")" "(5, 60, 0.5, 's/d', 0.5)"
check "timing: the judged value is the mean of the readings" "$(ev 1 timing "abs(sum(x['readings'])/5 - x['mean_s_per_day']) < 1e-9 and x['judgement']['error'] == x['mean_s_per_day'] and abs(x['mean_s_per_day']) <= 0.06")" "True"
check "position 10 (clock +0.8 s/d) fails the timing test" "$(verdict 10)" "('fail', ['timing'])"
check "position 10's mean is about +0.8 s/d" "$(ev 10 timing "abs(x['mean_s_per_day'] - 0.8) <= 0.06")" "True"
check "meters differ (seeded clock spread)" "$(v "len(set(p['values']['mean_s_per_day'] for p in d['points'] if p['item']=='timing')) > 1")" "True"
check "position 11 (no clock) passes without a timing point" "$(verdict 11), $(v "[p for p in d['points'] if p['position']==11 and p['item']=='timing']")" "('pass', []), []"
# The in-service procedure on the same bench: in-service limits, no AC voltage test, the register
# and timing tests with the same bad meters failing them.
head -n 7 config/batches/electricity-initial.yaml | sed 's/^procedure: .*/procedure: jjg596-electricity-in-service/' >"$TMP/batch2.yaml"
grep -E 'position: (1|9|10|11),' config/batches/electricity-initial.yaml |
	sed '/position: 11,/s/clock: "yes"/clock: "no"/' >>"$TMP/batch2.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch2.yaml" --wait --auto-answer pass 2>"$TMP/start2.err" | tail -n 1 >"$TMP/run2.json"
w() { json "$1" <"$TMP/run2.json"; }
check "in-service batch runs to its end" "$(w "d['result']")" "done"
check "in-service: the items run (no AC voltage test)" "$(w "sorted(set(p['item'] for p in d['points'] if p['position']==1))")" "['0.1ib-1.0', 'constant', 'creep', 'ib-0.5L', 'ib-1.0', 'imax-1.0', 'start', 'timing', 'visual']"
check "in-service: verdicts (register +2 %, clock +0.8 s/d fail; no clock passes)" "$(w "[(x['position'], x['verdict'], x['failed_items']) for x in sorted(d['verdicts'], key=lambda x: x['position'])]")" "[(1, 'pass', []), (9, 'fail', ['constant']), (10, 'fail', ['timing']), (11, 'pass', [])]"
safe=$("$B/metroctl" --json probe --driver modbus-rtu --device "$TMP/elec.pty" --baud 115200 --profile config/profiles/electricity-bench.yaml --positions 6 source.on 2>&1)
check "source off after the run" "$(echo "$safe" | json "d['source.on']")" "0.0"

# What the documents say of start and creep: their evidence, not a dash; the notice of the
# creeping meter names the creep test and lists the load points it did not run as 未检.
kill -TERM "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
# The documents' text without any white space (a table cell wraps anywhere, even inside a
# word), searched with the patterns' spaces taken out too.
cert() { # POSITION NAME
	local n
	n=$(v "[x['certificate'] for x in d['verdicts'] if x['position']==$1][0]")
	"$B/metroctl" report certificate --db "$TMP/records.db" --number "$n" -o "$TMP/$2.pdf" >/dev/null 2>"$TMP/$2.err"
	pdftotext -raw "$TMP/$2.pdf" - | tr -d ' \n' >"$TMP/$2.txt"
}
cert 1 c1
has() { grep -qE -- "$(printf %s "$2" | tr -d ' ')" "$1" && echo yes || echo "no '$2'"; }
check "certificate: the start test's evidence (current, voltage, time, pulses required)" \
	"$(has "$TMP/c1.txt" '起动试验 / Starting current 1 I = 0\.02 A, U = 220 V; 时间 duration [0-9.]+ min \(规定 required [0-9.]+ min\); 脉冲 pulses [1-9][0-9]* \(要求 required ≥ 1\)')" "yes"
check "certificate: the creep test's evidence (no current, 115 % Un, pulses allowed)" \
	"$(has "$TMP/c1.txt" '潜动试验 / No-load \(creep\) 1 I = 0 A, U = 253 V; 时间 duration [0-9.]+ min \(规定 required [0-9.]+ min\); 脉冲 pulses 0 \(允许 allowed ≤ 1\)')" "yes"
check "certificate: class 1 valid 96 months less a day" "$(has "$TMP/c1.txt" '有效期至 Valid until [0-9]{4}-[0-9]{2}-[0-9]{2} ')" "yes"
cert 4 n4
check "notice: the creep failure with the pulses counted" "$(has "$TMP/n4.txt" '潜动试验 / No-load \(creep\) 1 I = 0 A, U = 253 V; .*脉冲 pulses [2-9][0-9]* \(允许 allowed ≤ 1\) — — 不合格 / Fail')" "yes"
check "notice: the ten load points, the register test and the timing test after it as 未检" "$(grep -o '————未检/notrun' "$TMP/n4.txt" | wc -l)" "12"
check "notice: ... Imax first among them" "$(has "$TMP/n4.txt" '不合格 / Fail Imax cosφ=1 — — — — 未检 / not run')" "yes"
check "notice: the failed item by its title" "$(has "$TMP/n4.txt" '不合格项目 Failed items: 潜动试验 / No-load \(creep\)')" "yes"
finish
