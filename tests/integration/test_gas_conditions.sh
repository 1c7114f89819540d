#!/usr/bin/env bash
# JJG 577 on the simulated bell prover (tests/data/sim/gas-condition-meters.yaml): the bell and
# the meters must be within 1 °C of each other — from the first opening of the valve the
# meters are 1.6 °C warmer for 150 simulated seconds, so the run suspends on that condition and
# resumes (the point re-run) once they agree; the pressure loss at qmax is measured per
# position and position 4 (260 Pa against 200 Pa) fails it; the test volumes are whole cycles
# of the meter (cyclic volume 1.2 L); the room's temperature and humidity are recorded.
set -u
. tests/lib/rigs.sh
SCALE=120
start_sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 \
	--meters tests/data/sim/gas-condition-meters.yaml --time-scale $SCALE
{ config_head; cat <<YAML
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/gas.pty, baud: 9600}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs], sample_hz: 2, simulated: true, time_scale: $SCALE}
YAML
} >"$TMP/metrod.yaml"
grep -v 'position: 6,' config/batches/gas-initial.yaml >"$TMP/batch.yaml"
start_metrod "$TMP/metrod.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>"$TMP/start.err"
check "start --wait: done, a meter failed (exit 1)" "$?" "1"
tail -n 1 "$TMP/start.out" >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "the batch runs to its end" "$(v "d['result']")" "done"

# The 1 °C condition: suspended on the difference bell - meter (-0.1 - 1.6 = -1.7 °C), then
# resumed when the meters came back to the bell's temperature.
check "suspended on the bell/meter temperature difference" \
	"$(grep -c 'suspended: bell.temp - pos\[N\].temp = -1.7 (position 1) outside -1..1 degC' "$TMP/metrod.log")" "1"
check "... and suspended once only" "$(grep -c 'suspended:' "$TMP/metrod.log")" "1"
# the run's state documents as published and stored: suspended, then running again
states=$(sqlite3 "file:$TMP/records.db?mode=ro" "select group_concat(json_extract(body, '$.state'), ',') from (select body from documents where topic like 'run.%' order by seq)")
check "the run went suspended -> running (resumed) before it was done" \
	"$(echo "$states" | grep -o 'running,suspended,running' | head -n 1)" "running,suspended,running"
check "... resumed on the conditions' recovery" \
	"$(sqlite3 "file:$TMP/records.db?mode=ro" "select count(*) from documents where topic like 'run.%' and json_extract(body, '$.reason') like 'conditions recovered%'")" "1"
check "qmax judged once per meter after the re-run" \
	"$(v "len([p for p in d['points'] if p['item']=='qmax' and p['verdict']!='pending'])")" "5"
pt() { v "[p['values']$2 for p in d['points'] if p['position']==$1 and p['item']=='$3'][0]"; }
check "the meter's temperature recorded for qmax is back within 1 °C" \
	"$(pt 1 "['meter_t_c'] - p['values']['bell_t_c']" qmax | python3 -c 'import sys; print(abs(float(sys.stdin.read())) <= 1)')" "True"

# Pressure loss at qmax: three readings per position, their mean against 200 Pa.
verdict() { v "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==$1][0]"; }
check "position 4 (260 Pa) fails the pressure loss" "$(verdict 4)" "('fail', ['pressure_loss'])"
for p in 1 2 3 5; do check "position $p passes" "$(verdict $p)" "('pass', [])"; done
check "pressure loss of position 4: a measurement in Pa against max 200" \
	"$(v "[(p['values']['unit'], p['values']['limits'], len(p['values']['readings'])) for p in d['points'] if p['position']==4 and p['item']=='pressure_loss']")" "[('Pa', {'max': 200}, 3)]"
check "... its mean is about 260 Pa (flow near qmax)" \
	"$(pt 4 "['mean']" pressure_loss | python3 -c 'import sys; print(230 < float(sys.stdin.read()) < 290)')" "True"
check "position 1's mean is about 120 Pa" \
	"$(pt 1 "['mean']" pressure_loss | python3 -c 'import sys; print(105 < float(sys.stdin.read()) < 135)')" "True"
check "the point names its channel and flow" \
	"$(pt 1 "['channel']" pressure_loss) $(pt 1 "['flow_m3h'] > 5" pressure_loss)" "pos[N].dp True"

# The notice of position 4 prints the pressure loss as measured: the mean with its unit, the
# readings it came from, the limit in place of an MPE.
run=$(v "d['run']")
"$B/metroctl" report certificate --db "$TMP/records.db" --pubkey "$TMP/records.pub" --run "$run" \
	--position 4 -o "$TMP/notice4.pdf" >/dev/null 2>"$TMP/notice4.err"
check "the notice of position 4 is written" "$?" "0"
nt=$(pdftotext -raw "$TMP/notice4.pdf" - 2>/dev/null | tr -s ' \n' ' ')
mean4=$(pt 4 "['mean']" pressure_loss | /usr/bin/python3 -c 'import sys; print("%g" % float(sys.stdin.read()))')
check "... with the pressure loss's mean in Pa, its readings and the limit" \
	"$(grep -c "$mean4 Pa (3 次读数均值 mean of 3 readings) $mean4 Pa ≤ 200 Pa 不合格" <<<"$nt")" "1"

# Whole cycles: qmax max(50, 100 L) -> 84 x 1.2 L, 0.2 qmax 20 L -> 17 cycles, qmin 10 L -> 9.
check "test volumes are whole cycles of 1.2 L" \
	"$(pt 1 "['test_volume_l']" qmax) $(pt 1 "['test_volume_l']" 0.2qmax) $(pt 1 "['test_volume_l']" qmin)" "100.8 20.4 10.8"
check "the bell collected at least the test volume" "$(pt 1 "['bell_l'] >= 100.8" qmax)" "True"
# The room, recorded with every gas point.
check "room temperature and humidity recorded with the points" \
	"$(v "sorted({(p['values']['ambient_t_c'], p['values']['humidity_pct']) for p in d['points'] if p['kind']=='flow-point' and p['verdict']!='error'})")" "[(20.5, 61.5)]"
finish
