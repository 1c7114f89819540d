#!/usr/bin/env bash
# A wall clock that runs backwards (#17 case 7; docs/records.md "Wall time").  metrod runs
# under libfaketime with its wall clock read from a file (the monotonic clock is left alone),
# so the test can set it back while metrod runs:
# - a run is recorded with the clock right; the clock is set back a day: `start` is refused
#   with `clock-behind` (nothing recorded for it), the log says so as an error and alarm.store
#   `clock-behind` is raised;
# - a manager's `clock-accept` (a reason required) is recorded as the audit event
#   `clock.accepted`, clears the alarm, and runs start again;
# - after a restart at the same clock, runs still start (the records before the acceptance no
#   longer count); started with the clock one more day back, metrod raises the alarm before
#   anyone asks and refuses runs; set right, the alarm clears and runs start.
set -u
. tests/lib/need.sh
need_cmd faketime faketime
need_py jsonschema python3-jsonschema
. tests/lib/rigs.sh
LIBFT=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
check "libfaketime is there" "$([ -n "$LIBFT" ] && echo yes)" "yes"
water_bench 60
echo "+0" >"$TMP/clock"
# metrod with its wall clock offset by what $TMP/clock says (read at every call)
start_metrod_at() {
	LD_PRELOAD=$LIBFT FAKETIME_TIMESTAMP_FILE=$TMP/clock FAKETIME_NO_CACHE=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
	METROD_PID=$!
	PIDS+=($METROD_PID)
	local i
	for i in $(seq 100); do mctl -t 200 ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "metrod did not answer:"; cat "$TMP/metrod.log"; exit 1
}
stop_metrod() { kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null; }
rig_idle() { # wait until water-1 is idle without a run
	local i
	for i in $(seq 200); do
		[ "$(mctl --json rigs | json "d['rigs'][0]['state'] == 'idle' and 'run' not in d['rigs'][0]")" = True ] && return 0
		sleep 0.1
	done
	return 1
}
# run_once: start a batch, abort it, wait for its end; prints "started" or the refusal's code
run_once() {
	rig_idle
	local out run i
	out=$(mctl --json start config/batches/water-initial.yaml 2>/dev/null)
	run=$(echo "$out" | json "d.get('run', '')" 2>/dev/null)
	if [ -z "$run" ]; then echo "$out" | json "d['error']['code']"; return; fi
	for i in $(seq 100); do [ "$(mctl --json rigs | json "d['rigs'][0].get('run')")" = "$run" ] && break; sleep 0.1; done
	mctl abort water-1 >/dev/null
	for i in $(seq 200); do
		[ "$(mctl --json run "$run" | json "d['run'].get('result')")" = aborted ] && break
		sleep 0.1
	done
	echo started
}
start_metrod_at
check "a run starts while the clock is right" "$(run_once)" "started"
runs=$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM runs;")

echo "-1d" >"$TMP/clock"
rig_idle
mctl --json start config/batches/water-initial.yaml >"$TMP/start.out" 2>/dev/null
check "with the clock a day behind, start is refused (exit 4)" "$?" "4"
check "... with clock-behind" "$(json "d['error']['code']" <"$TMP/start.out")" "clock-behind"
# (a day less the seconds since the newest record: the run's end a moment ago)
check "... saying how far behind, of what" "$(/usr/bin/python3 -c "import json, sys; w = json.load(sys.stdin)['error']['message'].split(); print(86000 <= int(w[5]) <= 86400, ' '.join(w[6:11]))" <"$TMP/start.out")" "True s behind the newest record"
check "nothing recorded for it" "$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM runs;")" "$runs"
check "the log says it as an error, once" "$(grep -c '^<3>the wall clock (.*) is [0-9]* s behind the newest record' "$TMP/metrod.log")" "1"
# The last alarm.store clock-behind document, "active severity", as published: published
# documents are stored first.  They are read from the store, not from a subscriber: libfaketime
# also moves the deadlines of timers (the rig's CLOCK_MONOTONIC timerfd among them), so in a
# process whose clock it steps the rig stops sampling and the stream goes quiet, which a real
# clock step does not do.  Control requests and the store are not affected.
alarm() {
	sqlite3 "$TMP/records.db" "SELECT CASE json_extract(body, '$.active') WHEN 1 THEN 'True' ELSE 'False' END || ' ' || json_extract(body, '$.severity') FROM documents WHERE topic = 'alarm.store' AND json_extract(body, '$.alarm') = 'clock-behind' ORDER BY seq DESC LIMIT 1;"
}
for _ in $(seq 50); do [ "$(alarm)" = "True error" ] && break; sleep 0.1; done
check "alarm.store clock-behind raised" "$(alarm)" "True error"
schema_ok() { # the newest clock-behind alarm against docs/schema/alarm.json
	sqlite3 "$TMP/records.db" "SELECT body FROM documents WHERE topic = 'alarm.store' ORDER BY seq DESC LIMIT 1;" |
		/usr/bin/python3 -c 'import json, sys, jsonschema; jsonschema.validate(json.load(sys.stdin), json.load(open("docs/schema/alarm.json"))); print("valid")'
}
check "the alarm document is valid (docs/schema/alarm.json)" "$(schema_ok)" "valid"
check "a run is still refused" "$(run_once)" "clock-behind"

req() { /usr/bin/python3 - "$CTL" "$1" <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
s.send(sys.argv[2].encode())
if not s.poll(5000):
    print("no reply"); sys.exit()
r = json.loads(s.recv())
print("ok" if r["ok"] else r["error"]["code"])
PY
}
check "clock-accept needs a reason" "$(req '{"id": 1, "cmd": "clock-accept"}')" "bad-request"
"$B/metroctl" -e "$CTL" clock-accept >/dev/null 2>&1
check "metroctl clock-accept without --why is a usage error" "$?" "2"
out=$("$B/metroctl" -e "$CTL" clock-accept --why "the clock had run a day ahead; corrected from the time service" 2>&1)
check "a manager accepts the clock with metroctl, saying why" "$?:$(echo "$out" | grep -c '^ok: the clock .* accepted (the newest record was ')" "0:1"
for _ in $(seq 50); do [ "$(alarm)" = "False error" ] && break; sleep 0.1; done
check "the alarm is cleared" "$(alarm)" "False error"
check "the acceptance is an audit event with both times" "$(sqlite3 "$TMP/records.db" "SELECT actor || ' ' || (julianday(json_extract(old, '$.newest_record')) - julianday(json_extract(new, '$.clock')) BETWEEN 0.99 AND 1.01) || ' ' || why FROM audit_events WHERE action = 'clock.accepted';")" "unauthenticated 1 the clock had run a day ahead; corrected from the time service"
check "runs start again" "$(run_once)" "started"
check "a second clock-accept finds nothing to accept" "$(req '{"id": 3, "cmd": "clock-accept", "why": "again"}')" "state"
"$B/metroctl" -e "$CTL" clock-accept --why again >/dev/null 2>"$TMP/again.err"
check "... metroctl says refused (state), exit 4" "$?:$(grep -c 'refused (state)' "$TMP/again.err")" "4:1"

stop_metrod
start_metrod_at
check "after a restart at the accepted clock, runs start" "$(run_once)" "started"
stop_metrod
echo "-2d" >"$TMP/clock"
start_metrod_at
for _ in $(seq 50); do [ "$(alarm)" = "True error" ] && break; sleep 0.1; done
check "started a day further back, metrod raises the alarm at once" "$(alarm)" "True error"
check "... and refuses runs" "$(run_once)" "clock-behind"
echo "+0" >"$TMP/clock"
for _ in $(seq 50); do [ "$(alarm)" = "False error" ] && break; sleep 0.1; done
check "the clock set right: the alarm is cleared" "$(alarm)" "False error"
check "... and runs start" "$(run_once)" "started"
stop_metrod
check "the chain verifies" "$("$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >/dev/null; echo $?)" "0"
finish
