#!/usr/bin/env bash
# Run control and rig faults on a simulated flow bench: pause takes effect at the next
# test-point boundary (the rig samples on, nothing is measured) and resume continues; abort in
# the middle of a flow point ends the run at once with the remaining meters `aborted` and the
# rig in its safe state (read back by another client); a device lost in the middle of a flow
# point makes every remaining meter `error`, never `fail`; a standard past its due date
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
# prompt_after LAST: wait for an open prompt other than LAST (the one just answered, which the
# rigs view may still show for a moment) and print it.
prompt_after() {
	local i p=
	for i in $(seq 100); do
		p=$(mctl --json rigs | json "d['rigs'][0].get('prompt') or ''")
		[ -n "$p" ] && [ "$p" != "$1" ] && break
		sleep 0.1
	done
	echo "$p"
}
# wait_collecting: wait until the bench collects (a flow point is being measured, read by
# another client) and print the last value read.
wait_collecting() {
	local i c=
	for i in $(seq 300); do
		c=$(water_probe collect | json "d['collect']")
		[ "$c" = 1.0 ] && break
		sleep 0.1
	done
	echo "$c"
}
pubseq() { mctl --json status | json "d['seq']"; }

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
# Let the rig publish 20 more documents (about a second of its readings at 20 Hz) while paused.
s1=$(pubseq)
for _ in $(seq 100); do [ $(($(pubseq) - s1)) -ge 20 ] && break; sleep 0.1; done
check "the rig samples on while paused" "$([ $(($(pubseq) - s1)) -ge 20 ] && echo yes)" "yes"
check "nothing measured while paused" "$(mctl --json run "$run" | json "len(d['run']['points'])") $(run_state "$run")" "$n1 paused"
check "the bench does not collect while paused" "$(water_probe collect | json "d['collect']")" "0.0"
mctl resume water-1 >/dev/null
wait_for "$run" "d['run']['state'] == 'running'" 5
check "resumed" "$(run_state "$run")" "running"
wait_for "$run" "d['run'].get('prompt') is not None" 10
mctl input water-1 "$(mctl --json rigs | json "d['rigs'][0]['prompt']")" pass --operator tester >/dev/null
# Abort in the middle of the first flow point, while the bench collects.
check "collecting at q3 before the abort" "$(wait_collecting)" "1.0"
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
last=
for k in 1 2; do
	p=$(prompt_after "$last")
	mctl input water-1 "$p" pass --operator tester >/dev/null
	last=$p
done
# The device goes away in the middle of the first flow point.
check "collecting at q3 before the device is lost" "$(wait_collecting)" "1.0"
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
gen=$(mctl --json status | json "d['config_generation']")
kill -HUP "$METROD_PID"
for _ in $(seq 100); do [ "$(mctl --json status | json "d['config_generation']")" = $((gen + 1)) ] && break; sleep 0.1; done
check "the expired standard is applied by the reload" "$(mctl --json status | json "d['config_generation']")" "$((gen + 1))"
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
