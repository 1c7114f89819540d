#!/usr/bin/env bash
# Run control and rig faults on a simulated flow bench: pause takes effect at the next
# test-point boundary (the rig samples on, nothing is measured) and resume continues; what the
# run cannot take (a second pause, a resume of a run not paused, a second answer to a prompt)
# is refused to metroctl, exit 4 with the code on stderr; `start --wait` and `follow` of an
# aborted run both exit 7 (docs/protocol.md "metroctl"); abort in
# the middle of a flow point ends the run at once with the remaining meters `aborted` and the
# rig in its safe state (read back by another client); a device lost in the middle of a flow
# point makes every remaining meter `error`, never `fail`; a standard past its due date
# refuses the run and names the standard.
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_cmd sqlite3 sqlite3
need_py zmq python3-zmq
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

# refused RESULT CMD...: metroctl CMD run without --json; prints its exit status and whether
# stderr says "CMD: refused (CODE): ..." (1 or 0) and stdout says nothing (ok).
refused() {
	local want=$1 rc
	shift
	mctl "$@" >"$TMP/ctl.out" 2>"$TMP/ctl.err"
	rc=$?
	echo "$rc $(grep -cF "metroctl: $1: refused ($want): " "$TMP/ctl.err") $(wc -c <"$TMP/ctl.out")"
}

# 1. pause / resume / abort; the run is waited on by `start --wait` and by `follow`, which end
# alike when it is aborted
"$B/metroctl" -e "$CTL" --json start config/batches/water-initial.yaml --wait \
	>"$TMP/start.out" 2>"$TMP/start.err" &
START_PID=$!
PIDS+=("$START_PID")
run=
for _ in $(seq 100); do
	run=$(head -n 1 "$TMP/start.out" | json "d['run']" 2>/dev/null) && [ -n "$run" ] && break
	sleep 0.1
done
check "batch accepted" "$([ -n "$run" ] && echo yes)" "yes"
"$B/metroctl" -e "$CTL" follow "$run" >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW_PID=$!
PIDS+=("$FOLLOW_PID")
wait_for "$run" "d['run'].get('prompt') is not None" 10
check "a resume of a run not paused is refused: exit 4, the code on stderr, no 'ok'" \
	"$(refused state resume water-1)" "4 1 0"
check "... saying why" "$(grep -c "run $run on rig water-1 is not paused" "$TMP/ctl.err")" "1"
mctl pause water-1 >/dev/null
check "pause accepted while a prompt is open" "$(run_state "$run")" "pausing"
check "a second pause is refused: exit 4, the code on stderr, no 'ok'" \
	"$(refused state pause water-1)" "4 1 0"
check "... saying why" "$(grep -c "run $run on rig water-1 is already pausing or paused" "$TMP/ctl.err")" "1"
check "... with --json: the refusal on stdout, exit 4" \
	"$(mctl --json pause water-1 | json "(d['ok'], d['error']['code'])"; echo "${PIPESTATUS[0]}")" \
	"(False, 'state')
4"
check "the run is still pausing" "$(run_state "$run")" "pausing"
# Two answers to the open prompt sent at once (before the engine can have taken the first):
# the first is accepted, the second refused, not recorded and never `ok`.
p=$(mctl --json rigs | json "d['rigs'][0]['prompt']")
check "two answers at once: the first accepted, the second refused with no-prompt" "$(/usr/bin/python3 - "$CTL" "$p" <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
for i, answer in ((1, "pass"), (2, "fail")):
    s.send_string(json.dumps({"id": "answer-%d" % i, "cmd": "input", "rig": "water-1",
                              "prompt": sys.argv[2], "answer": answer, "operator": "tester"}))
replies = {}
while len(replies) < 2 and s.poll(5000):
    r = json.loads(s.recv())
    replies[r["id"]] = r.get("ok") or r["error"]["code"]
print(replies.get("answer-1"), replies.get("answer-2"))
PY
)" "True no-prompt"
check "a third, by metroctl: exit 4, the code on stderr, no 'ok'" \
	"$(refused no-prompt input water-1 "$p" fail --operator tester)" "4 1 0"
check "one answer recorded, the accepted one" \
	"$(sqlite3 "file:$TMP/records.db?mode=ro" "select count(*), json_extract(min(answer), '\$.answer'), operator from inputs where prompt = '$p'")" '1|pass|tester'
wait_for "$run" "d['run']['state'] == 'paused'" 10
check "a pause while paused is refused (exit 4)" "$(refused state pause water-1)" "4 1 0"
check "paused at the boundary after the answered item" "$(run_state "$run")" "paused"
n1=$(mctl --json run "$run" | json "len(d['run']['points'])")
# Let the rig publish 20 more documents (about a second of its readings at 20 Hz) while paused.
s1=$(pubseq)
for _ in $(seq 100); do [ $(($(pubseq) - s1)) -ge 20 ] && break; sleep 0.1; done
check "the rig samples on while paused" "$([ $(($(pubseq) - s1)) -ge 20 ] && echo yes)" "yes"
check "nothing measured while paused" "$(mctl --json run "$run" | json "len(d['run']['points'])") $(run_state "$run")" "$n1 paused"
check "the bench does not collect while paused" "$(water_probe collect | json "d['collect']")" "0.0"
mctl resume water-1 >/dev/null
check "resume accepted" "$?" "0"
check "a second resume is refused (exit 4)" "$(refused state resume water-1)" "4 1 0"
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
wait "$START_PID"
start_rc=$?
wait "$FOLLOW_PID"
follow_rc=$?
check "start --wait and follow of the aborted run exit alike, 7 (ended without completing)" \
	"$start_rc $follow_rc" "7 7"
check "start --wait printed the aborted run" "$(tail -n 1 "$TMP/start.out" | json "d['result']")" "aborted"
check "follow printed it" "$(grep -c "^run $run on water-1: aborted" "$TMP/follow.out")" "1"

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
