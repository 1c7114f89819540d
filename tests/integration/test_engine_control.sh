#!/usr/bin/env bash
# Run control and rig faults on a simulated flow bench: pause takes effect at the next
# test-point boundary and resume continues; abort ends the run at once with the remaining
# meters `aborted` and the rig in its safe state (read back by another client); a device lost
# mid-run makes every remaining meter `error`, never `fail`; a standard past its due date
# refuses the run and names the standard.
set -u
. tests/lib/rigs.sh
SCALE=60
water_bench $SCALE "timeout_ms: 200, retries: 1"
start_metrod "$TMP/metrod.yaml"

run_state() { mctl --json run "$1" | json "d['run'].get('result') or d['run']['state']"; }
wait_for() { # run, predicate over the run document, seconds
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(mctl --json run "$1" | json "$2" 2>/dev/null)" = True ] && return 0
		sleep 0.1
	done
	return 1
}

# 1. pause / resume / abort
run=$(mctl --json start config/batches/water-initial.yaml | json "d['run']")
check "batch accepted" "$([ -n "$run" ] && echo yes)" "yes"
wait_for "$run" "d['run'].get('prompt') is not None" 10
mctl pause water-1 >/dev/null
check "pause accepted while a prompt is open" "$(run_state "$run")" "pausing"
mctl input water-1 "$(mctl --json rigs | json "d['rigs'][0]['prompt']")" pass --operator tester >/dev/null
wait_for "$run" "d['run']['state'] == 'paused'" 10
check "paused at the boundary after the answered item" "$(run_state "$run")" "paused"
n1=$(mctl --json run "$run" | json "len(d['run']['points'])")
sleep 1
check "nothing measured while paused" "$(mctl --json run "$run" | json "len(d['run']['points'])")" "$n1"
mctl resume water-1 >/dev/null
wait_for "$run" "d['run']['state'] == 'running'" 5
check "resumed" "$(run_state "$run")" "running"
wait_for "$run" "d['run'].get('prompt') is not None" 10
mctl input water-1 "$(mctl --json rigs | json "d['rigs'][0]['prompt']")" pass --operator tester >/dev/null
wait_for "$run" "any(p['item']=='q3' for p in d['run']['points']) or True" 1
sleep 1
mctl abort water-1 >/dev/null
wait_for "$run" "d['run'].get('result') == 'aborted'" 10
check "abort ends the run" "$(run_state "$run")" "aborted"
check "remaining meters are aborted, none fail" "$(mctl --json run "$run" | json "sorted({v['verdict'] for v in d['run']['verdicts']})")" "['aborted']"
wait_for "$run" "d['run']['state'] == 'safe'" 5
check "safe state read back by the engine" "$(mctl --json run "$run" | json "d['run']['safe_state_verified']")" "True"
safe=$(water_probe flow.run collect)
check "flow and collection off, read by another client" "$(echo "$safe" | json "(d['flow.run'], d['collect'])")" "(0.0, 0.0)"

# 2. the device lost mid-run: error, never fail
run=$(mctl --json start config/batches/water-initial.yaml | json "d['run']")
for k in 1 2; do
	wait_for "$run" "d['run'].get('prompt') is not None" 10
	mctl input water-1 "$(mctl --json rigs | json "d['rigs'][0]['prompt']")" pass --operator tester >/dev/null
	sleep 0.3
done
sleep 1
kill "$SIM_PID_water"
wait_for "$run" "d['run'].get('result') is not None" 20
check "a lost device ends the run in error" "$(run_state "$run")" "error"
check "every remaining meter is error, none fail" "$(mctl --json run "$run" | json "sorted({v['verdict'] for v in d['run']['verdicts']})")" "['error']"
check "the reason names the rig fault" "$(mctl --json run "$run" | json "d['run']['verdicts'][0]['reason'].startswith('rig fault')")" "True"

check "the rig is unsafe while its device is gone" "$(mctl --json rigs | json "d['rigs'][0]['state']")" "unsafe"
out=$(mctl --json start config/batches/water-initial.yaml)
check "an unsafe rig takes no run" "$(echo "$out" | json "d['error']['code']")" "busy"
start_sim water2 --rig flow-bench --modbus-tcp "127.0.0.1:$port" --meters tests/data/sim/flow-bench-meters.yaml --time-scale $SCALE
for i in $(seq 100); do [ "$(mctl --json rigs | json "d['rigs'][0]['state']")" = idle ] && break; sleep 0.1; done
check "safe state confirmed when the device is back" "$(mctl --json rigs | json "d['rigs'][0]['state']")" "idle"

# 3. an expired standard refuses the run, naming it
sed -i '/id: ws,/s/calibrated: 2026-01-01, due: 2099-01-01/calibrated: 2019-01-01, due: 2020-01-01/' "$TMP/metrod.yaml"
kill -HUP "$METROD_PID"; sleep 1
out=$(mctl --json start config/batches/water-initial.yaml)
check "expired standard refused" "$(echo "$out" | json "d['error']['code']")" "standard-expired"
check "the refusal names the standard and its due date" "$(echo "$out" | json "'ws' in d['error']['message'] and '2020-01-01' in d['error']['message']")" "True"

# 4. a standard whose uncertainty is too large for the meters' class refuses the run: a
# manager records a (fictitious) recalibration at U = 1 % (k = 2), more than 1/5 of the
# class 2 water meters' 2 % MPE the procedure allows
cat >"$TMP/ws.yaml" <<YAML
{id: ws, description: Flow bench, certificate: C-W-9, issuer: Test, calibrated: 2026-01-01, due: 2099-01-01, uncertainty: {value: 1.0, k: 2}}
YAML
mctl standard-set "$TMP/ws.yaml" --why "test: a coarse recalibration" >/dev/null 2>&1
check "the manager's change is accepted" "$?" "0"
out=$(mctl --json start config/batches/water-initial.yaml)
check "an inadequate uncertainty refuses the run" "$(echo "$out" | json "d['error']['code']")" "uncertainty-inadequate"
check "the refusal names the standard and the ratio" "$(echo "$out" | json "'ws' in d['error']['message'] and 'allows' in d['error']['message']")" "True"
finish
