#!/usr/bin/env bash
# Answers to judgement prompts (#17 "Answers"; docs/protocol.md `input`, docs/operations.md
# "Answers"), on two flow benches (metrosim): water-1 configured `simulated: true`, water-2
# `simulated: false`.
#  (a) partial answers: an answer by position decides exactly those positions; the prompt
#      stays open for the others (the run's prompt document and `rigs` say which), a later
#      answer decides them and only then does the run go on; a position decided already, one
#      the prompt does not ask about, or a bad value refuses the answer whole and records
#      nothing; each answer is recorded as what it decided, and each point says who decided it;
#  (b) automated answers ("automated": true; metroctl --auto-answer) are recorded as automated
#      with the client that sent them, never as a person's, and `metroctl trace` says so;
#  (c) on water-2 (not simulated) an automated answer is refused with automated-refused,
#      audited, recorded nowhere, also when metroctl --auto-answer sends it; a person answers;
#  (d) an item that declares `sensor:` takes an automated answer on water-2, recorded with the
#      sensor; a sensor the rig profile lacks ends the run in error before anything moves.
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_cmd sqlite3 sqlite3
need_py zmq python3-zmq
start_sim water --rig flow-bench --modbus-tcp 127.0.0.1:0 \
	--meters tests/data/sim/flow-bench-meters.yaml --time-scale 60
start_sim water2 --rig flow-bench --modbus-tcp 127.0.0.1:0 \
	--meters tests/data/sim/flow-bench-meters.yaml --time-scale 1
mkdir -p "$TMP/procs"
# The water procedure with a pressure sensor deciding the leak test, and one whose sensor the
# flow bench does not have.
sed -e 's/^  id: jjg162-water-initial$/  id: test-water-sensor/' \
	-e 's/^    prompt: Maximum admissible pressure held.*/&\n    sensor: water.pressure/' \
	procedures/jjg162-water-initial.yaml >"$TMP/procs/test-water-sensor.yaml"
sed -e 's/test-water-sensor/test-water-nosensor/; s/sensor: water.pressure/sensor: leak.detector/' \
	"$TMP/procs/test-water-sensor.yaml" >"$TMP/procs/test-water-nosensor.yaml"
{ config_head | sed "s|^procedures: \[\(.*\)\]|procedures: [\1, $TMP/procs]|"; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: ${SIM_water##*:}}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: 10, simulated: true, time_scale: 60}
  - {id: water-2, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: ${SIM_water2##*:}}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: 10, simulated: false}
YAML
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
DB="file:$TMP/records.db?mode=ro"
sq() { sqlite3 "$DB" "$1"; }

# req JSON: one raw control request (as a program other than metroctl would send it); prints
# the reply's ok or error code, then its message.
req() {
	/usr/bin/python3 - "$CTL" "$1" <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
s.send_string(sys.argv[2])
if not s.poll(5000):
    sys.exit("no reply")
r = json.loads(s.recv())
print(r["ok"] if r["ok"] else r["error"]["code"])
print(r.get("error", {}).get("message", ""))
PY
}
# rig_prompt RIG [NOT]: wait (10 s at most) for an open prompt on RIG other than NOT; print it.
rig_prompt() {
	local i p=
	for i in $(seq 100); do
		p=$(mctl --json rigs | json "[r.get('prompt') or '' for r in d['rigs'] if r['id'] == '$1'][0]")
		[ -n "$p" ] && [ "$p" != "${2:-}" ] && break
		p=
		sleep 0.1
	done
	echo "$p"
}
rig_field() { mctl --json rigs | json "[r.get('$2') for r in d['rigs'] if r['id'] == '$1'][0]"; }
run_prompt() { mctl --json run "$1" | json "d['run'].get('prompt', {}).get('$2')"; }
# refused CODE CMD...: metroctl CMD; prints its exit status and whether stderr says
# "CMD: refused (CODE)"
refused() {
	local want=$1 rc
	shift
	mctl "$@" >"$TMP/ctl.out" 2>"$TMP/ctl.err"
	rc=$?
	echo "$rc $(grep -cF "metroctl: $1: refused ($want): " "$TMP/ctl.err")"
}
wait_result() { # RUN: wait (20 s at most) for the run's result; print it
	local i r=
	for i in $(seq 200); do
		r=$(mctl --json run "$1" | json "d['run'].get('result') or ''")
		[ -n "$r" ] && break
		sleep 0.1
	done
	echo "$r"
}
inputs() { sq "select count(*) from inputs where run = $1"; }

# (a) partial answers, by people, on the simulated rig
run=$(mctl --json start config/batches/water-initial.yaml | json "d['run']")
p=$(rig_prompt water-1)
check "(a) the first prompt is open" "$p" "visual-1"
check "(a) it asks about the nine meters, all open" "$(rig_field water-1 prompt_open)" "[1, 2, 3, 4, 6, 7, 8, 9, 10]"
mctl input water-1 "$p" 3=fail 4=pass --operator alice >/dev/null
check "(a) a partial answer is taken" "$?" "0"
check "(a) the prompt stays open for the other positions (rigs)" "$(rig_prompt water-1) $(rig_field water-1 prompt_open)" "visual-1 [1, 2, 6, 7, 8, 9, 10]"
check "(a) ... and the run's prompt document says which are decided" "$(run_prompt "$run" decided)" "{'3': 'fail', '4': 'pass'}"
check "(a) position 3 again (with 6): refused whole, exit 4" "$(refused bad-request input water-1 "$p" 3=pass 6=pass --operator alice)" "4 1"
check "(a) ... saying why" "$(grep -c "position 3 is decided already" "$TMP/ctl.err")" "1"
check "(a) a position the prompt does not ask about (5, empty): refused whole" "$(refused bad-request input water-1 "$p" 6=pass 5=pass --operator alice)" "4 1"
check "(a) ... saying why" "$(grep -c "'5' is not a position this prompt asks about" "$TMP/ctl.err")" "1"
check "(a) a bad value: refused whole" "$(refused bad-request input water-1 "$p" 6=pass 7=maybe --operator alice)" "4 1"
mctl input water-1 "$p" 6=pass 6=fail --operator alice >/dev/null 2>"$TMP/ctl.err"
check "(a) a position named twice: metroctl refuses it, sends nothing" "$?:$(grep -c "position 6 is named twice" "$TMP/ctl.err")" "2:1"
check "(a) position 6 is still open after the refusals" "$(rig_field water-1 prompt_open)" "[1, 2, 6, 7, 8, 9, 10]"
check "(a) one answer recorded so far, the taken one" "$(inputs "$run")" "1"
check "(a) the run has not gone on: no point yet" "$(mctl --json run "$run" | json "len(d['run']['points'])")" "0"
mctl input water-1 "$p" pass --operator bob >/dev/null
check "(a) a word for the whole prompt decides the rest; the next prompt opens" "$(rig_prompt water-1 "$p")" "leak-2"
check "(a) two answers recorded, each as what it decided, by whom" "$(sq "select operator || ' ' || json_extract(answer, '\$.answer') || ' ' || json(json_extract(answer, '\$.decided')) from inputs where run = $run order by id")" \
	'alice {"3":"fail","4":"pass"} {"3":"fail","4":"pass"}
bob pass {"1":"pass","2":"pass","6":"pass","7":"pass","8":"pass","9":"pass","10":"pass"}'
points() { # RUN ITEM: position, verdict, operator, by of each point of ITEM
	mctl --json run "$1" | json "sorted((p['position'], p['verdict'], p['values']['operator'], p['values'].get('by', '-')) for p in d['run']['points'] if p['item'] == '$2')"
}
check "(a) visual: 3 failed by alice, 4 passed by alice, the rest by bob" "$(points "$run" visual)" \
	"[(1, 'pass', 'bob', '-'), (2, 'pass', 'bob', '-'), (3, 'fail', 'alice', '-'), (4, 'pass', 'alice', '-'), (6, 'pass', 'bob', '-'), (7, 'pass', 'bob', '-'), (8, 'pass', 'bob', '-'), (9, 'pass', 'bob', '-'), (10, 'pass', 'bob', '-')]"

# (b) automated answers on the simulated rig
p=leak-2
r=$(req "{\"id\": 1, \"cmd\": \"input\", \"rig\": \"water-1\", \"prompt\": \"$p\", \"answer\": {\"1\": \"fail\"}, \"automated\": true, \"operator\": \"alice\"}")
check "(b) an automated answer naming an operator is refused" "$(head -n 1 <<<"$r")" "bad-request"
r=$(req "{\"id\": 2, \"cmd\": \"input\", \"rig\": \"water-1\", \"prompt\": \"$p\", \"answer\": {\"1\": \"fail\"}, \"automated\": \"yes\"}")
check "(b) 'automated' must be a boolean" "$(head -n 1 <<<"$r")" "bad-request"
r=$(req "{\"id\": 3, \"cmd\": \"input\", \"rig\": \"water-1\", \"prompt\": \"$p\", \"answer\": {\"1\": \"fail\"}, \"automated\": true}")
check "(b) an automated partial answer on a simulated rig is taken" "$(head -n 1 <<<"$r")" "True"
check "(b) recorded as automated, with the client, not as a person's" \
	"$(sq "select operator, json_extract(answer, '\$.by'), json_extract(answer, '\$.client'), json(json_extract(answer, '\$.decided')) from inputs where run = $run and prompt = '$p'")" \
	'automated|automated|unauthenticated|{"1":"fail"}'
# the rest by metroctl follow --auto-answer: it sends an automated answer
mctl follow "$run" --auto-answer pass >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW_PID=$!
PIDS+=("$FOLLOW_PID")
for _ in $(seq 100); do [ "$(inputs "$run")" = 4 ] && break; sleep 0.1; done
check "(b) metroctl follow --auto-answer: recorded as automated" \
	"$(sq "select operator, json_extract(answer, '\$.by'), json_extract(answer, '\$.answer') from inputs where run = $run and prompt = '$p' order by id desc limit 1")" \
	'automated|automated|pass'
for _ in $(seq 100); do [ "$(points "$run" leak)" != "[]" ] && break; sleep 0.1; done
check "(b) leak: 1 failed by the automated answer, its points say so" \
	"$(mctl --json run "$run" | json "sorted({(p['verdict'], p['values']['operator'], p['values'].get('by'), p['values'].get('client'), p['values']['rule']) for p in d['run']['points'] if p['item'] == 'leak'})")" \
	"[('fail', 'automated', 'automated', 'unauthenticated', 'automated answer on a simulated rig'), ('pass', 'automated', 'automated', 'unauthenticated', 'automated answer on a simulated rig')]"
mctl abort water-1 >/dev/null
check "(b) the run is aborted" "$(wait_result "$run")" "aborted"
wait "$FOLLOW_PID"
mctl audit-head >/dev/null
mctl trace --db "$TMP/records.db" --no-verify WM-2024-0001 >"$TMP/trace1.out" 2>&1
check "(b) trace of position 1: bob's visual answer, by name" "$(grep -c "^  visual-1: \"pass\" by bob (client unauthenticated)" "$TMP/trace1.out")" "1"
check "(b) ... the automated leak answer as automated, with the client" "$(grep -c "^  leak-2: \"fail\" AUTOMATED (not a person's answer; client unauthenticated)" "$TMP/trace1.out")" "1"
check "(b) ... alice's answer, which did not decide position 1, is not shown" "$(grep -c "alice" "$TMP/trace1.out")" "0"
mctl run "$run" >"$TMP/run-a.txt"
check "(b) terminal: position 3 failed the visual inspection, named by its title" \
	"$(grep -cE '^3 +WM-2024-0003 +fail +外观检查 / Visual inspection' "$TMP/run-a.txt")" "1"
check "(b) terminal: position 1 failed the leak test, named by its title" \
	"$(grep -cE '^1 +WM-2024-0001 +fail +密封性检查 / Leak tightness' "$TMP/run-a.txt")" "1"

# (c) water-2 is not simulated: an automated answer is refused there
"$B/metroctl" -e "$CTL" --json start config/batches/water-initial.yaml --rig water-2 --override-commissioning "test rig, never commissioned (test_commission.sh proves the gate)" --wait --auto-answer pass \
	>"$TMP/start2.out" 2>"$TMP/start2.err" &
START_PID=$!
PIDS+=("$START_PID")
p=$(rig_prompt water-2)
run2=$(mctl --json rigs | json "[r['run'] for r in d['rigs'] if r['id'] == 'water-2'][0]")
check "(c) the prompt is open on water-2" "$p" "visual-1"
for _ in $(seq 100); do grep -q "refused (automated-refused)" "$TMP/start2.err" && break; sleep 0.1; done
check "(c) metroctl --auto-answer: refused with automated-refused, said on stderr" "$(grep -c "input (--auto-answer): refused (automated-refused): an automated answer is taken only on a simulated rig" "$TMP/start2.err")" "1"
r=$(req "{\"id\": 4, \"cmd\": \"input\", \"rig\": \"water-2\", \"prompt\": \"$p\", \"answer\": {\"1\": \"pass\"}, \"automated\": true}")
check "(c) a raw automated answer too" "$(head -n 1 <<<"$r")" "automated-refused"
check "(c) ... saying why" "$(tail -n 1 <<<"$r")" "an automated answer is taken only on a simulated rig or for an item a sensor decides: this rig is not simulated and visual declares no sensor, so a person must answer (metroctl input ... --operator NAME)"
check "(c) nothing recorded, nothing decided" "$(inputs "$run2") $(rig_field water-2 prompt_open)" "0 [1, 2, 3, 4, 6, 7, 8, 9, 10]"
check "(c) the refusal is audited" "$(sq "select count(*) from audit_events where action = 'input' and subject = 'water-2' and why like 'refused: automated-refused: %'")" "1"
mctl input water-2 "$p" pass --operator carol >/dev/null
check "(c) a person's answer is taken" "$(rig_prompt water-2 "$p")" "leak-2"
mctl abort water-2 >/dev/null
wait "$START_PID"
check "(c) start --wait ends with the aborted run (exit 7)" "$?" "7"
check "(c) the one answer recorded is carol's" "$(sq "select count(*), operator, json_extract(answer, '\$.by') is null from inputs where run = $run2")" "1|carol|1"

# (d) a sensor decides the leak test: an automated answer is taken on water-2
sed 's/^procedure: jjg162-water-initial/procedure: test-water-sensor/' config/batches/water-initial.yaml >"$TMP/sensor.yaml"
for _ in $(seq 100); do [ "$(rig_field water-2 state)" = idle ] && break; sleep 0.1; done
run3=$(mctl --json start "$TMP/sensor.yaml" --rig water-2 --override-commissioning "test rig" | json "d['run']")
p=$(rig_prompt water-2)
r=$(req "{\"id\": 5, \"cmd\": \"input\", \"rig\": \"water-2\", \"prompt\": \"$p\", \"answer\": \"pass\", \"automated\": true}")
check "(d) visual (no sensor): automated answer refused" "$(head -n 1 <<<"$r")" "automated-refused"
mctl input water-2 "$p" pass --operator carol >/dev/null
p=$(rig_prompt water-2 "$p")
check "(d) the leak prompt names its sensor" "$p $(run_prompt "$run3" sensor)" "leak-2 water.pressure"
r=$(req "{\"id\": 6, \"cmd\": \"input\", \"rig\": \"water-2\", \"prompt\": \"$p\", \"answer\": \"pass\", \"automated\": true}")
check "(d) leak (sensor: water.pressure): automated answer taken" "$(head -n 1 <<<"$r")" "True"
check "(d) recorded as automated, with the sensor and the client" \
	"$(sq "select operator, json_extract(answer, '\$.by'), json_extract(answer, '\$.sensor'), json_extract(answer, '\$.client') from inputs where run = $run3 and prompt = '$p'")" \
	"automated|automated|water.pressure|unauthenticated"
for _ in $(seq 100); do [ "$(points "$run3" leak)" != "[]" ] && break; sleep 0.1; done
check "(d) the leak points say a sensor decided" \
	"$(mctl --json run "$run3" | json "sorted({(p['values']['operator'], p['values'].get('sensor'), p['values']['rule']) for p in d['run']['points'] if p['item'] == 'leak'})")" \
	"[('automated', 'water.pressure', 'automated answer, decided by a sensor')]"
mctl abort water-2 >/dev/null
check "(d) aborted" "$(wait_result "$run3")" "aborted"
for _ in $(seq 100); do [ "$(rig_field water-2 state)" = idle ] && break; sleep 0.1; done
sed 's/^procedure: jjg162-water-initial/procedure: test-water-nosensor/' config/batches/water-initial.yaml >"$TMP/nosensor.yaml"
run4=$(mctl --json start "$TMP/nosensor.yaml" --rig water-2 --override-commissioning "test rig" | json "d['run']")
check "(d) a sensor the profile lacks: the run ends in error" "$(wait_result "$run4")" "error"
check "(d) ... naming it, before any prompt" "$(mctl --json run "$run4" | json "(d['run'].get('fault'), len(d['run']['points']))")" \
	"('leak: sensor leak.detector: the rig profile has no such channel', 0)"
finish
