#!/usr/bin/env bash
# The gas procedure end to end over the serial line protocol on a pty: bell prover, qmax,
# 0.2 qmax and qmin with the pressure and temperature correction of the bell volume.
set -u
. tests/lib/rigs.sh
SCALE=120
gas_bench $SCALE
start_metrod "$TMP/metrod.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>"$TMP/start.err" &
START_PID=$!
# A follower of the same run: on a working store both end with the run and exit alike, 1: the
# run is done and a meter failed (docs/protocol.md "metroctl"; a store that fails makes them
# exit 6: test_store_full.sh; an aborted run, 7: test_engine_control.sh).
for _ in $(seq 100); do
	RUN=$("$B/metroctl" -e "$CTL" --json rigs 2>/dev/null | json "d['rigs'][0].get('run') or ''" 2>/dev/null)
	[ -n "$RUN" ] && break
	sleep 0.1
done
timeout 300 "$B/metroctl" -e "$CTL" follow "$RUN" >"$TMP/follow.out" 2>"$TMP/follow.err"
check "follow ends with the run, exit 1 (done, a meter failed)" "$?" "1"
check "follow prints the verdict table" "$(grep -cE '^2 +G4-2024-0002 +fail +qmax' "$TMP/follow.out")" "1"
wait "$START_PID"
check "start --wait ends with the run, exit 1 as follow (done, a meter failed)" "$?" "1"
tail -n 1 "$TMP/start.out" >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "batch runs to its end" "$(v "d['result']")" "done"
verdict() { v "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==$1][0]"; }
check "position 1 passes" "$(verdict 1)" "('pass', [])"
check "position 2 (+2.4 %) fails at qmax" "$(verdict 2)" "('fail', ['qmax'])"
check "position 3 (-1.0 %) passes" "$(verdict 3)" "('pass', [])"
pt() { v "[p['values']$2 for p in d['points'] if p['position']==$1 and p['item']=='$3'][0]"; }
check "position 3 error at qmax is -1.0 % within quantisation" "$(pt 3 "['mean']" qmax | python3 -c 'import sys; print(abs(float(sys.stdin.read())+1.0) < 0.05)')" "True"
check "qmin is in the lower zone, MPE 3 %" "$(pt 1 "['judgement']['mpe']" qmin)" "3"
check "pressure factor reported" "$(pt 1 "['pressure_factor'] > 1" qmax)" "True"
check "temperature factor reported" "$(pt 1 "['temperature_factor'] > 1" qmax)" "True"

# A batch whose meters all pass (positions 1 and 3): start --wait and follow both exit 0.
grep -E '^(rig|procedure|operator|submitter|meters):|position: [13],' config/batches/gas-initial.yaml >"$TMP/pass.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/pass.yaml" --wait --auto-answer pass >"$TMP/pass.out" 2>"$TMP/pass.err" &
START_PID=$!
RUN2=
for _ in $(seq 100); do
	RUN2=$(head -n 1 "$TMP/pass.out" | json "d['run']" 2>/dev/null) && [ -n "$RUN2" ] && break
	sleep 0.1
done
timeout 300 "$B/metroctl" -e "$CTL" follow "$RUN2" >"$TMP/follow2.out" 2>"$TMP/follow2.err"
follow_rc=$?
wait "$START_PID"
check "a run done with every meter passing: start --wait and follow exit 0" "$? $follow_rc" "0 0"
check "... it is done, two meters, both pass" \
	"$(tail -n 1 "$TMP/pass.out" | json "(d['result'], [v['verdict'] for v in d['verdicts']])")" \
	"('done', ['pass', 'pass'])"
finish
