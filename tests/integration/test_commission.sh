#!/bin/bash
# Commissioning (issue #22): a rig that is not simulated runs legal batches only once its
# position map is proved for the profile it drives — by a commissioning run that compares
# each position's counter with what its meter's own display shows (procedures/
# commission-flow-bench.yaml), and positions left empty must not move.
#  (a) never commissioned: a verification batch is refused `not-commissioned`.
#  (b) commissioning on the right profile passes (each counter within 1 % of its display),
#      earns no certificate, and is in the audit trail (rig.commissioned, the profile digest,
#      who); the verification batch is then accepted.
#  (c) a profile one position block late (pos[N] reads its neighbour's block): the
#      commissioning ends in a rig fault naming the empty position that moved; a
#      verification batch stays refused (the commissioning did not pass).  A profile with a
#      wrong stride (5 for 4): empty position 5 reads position 6's counter, a rig fault naming
#      it; the rig stays uncommissioned.
#  (d) a manager, and only a manager, overrides the gate with a reason (audited
#      commissioning.override); an operator's override is refused `denied`.
#  (e) the profile edited and reloaded: the gate closes again (profile changed since its
#      commissioning).
# The PLCs are python3-pymodbus devices (tests/lib/byo_bench.py) at real time (a rig that is
# not simulated runs at time scale 1); people sign in with their keys over CURVE.
set -u
. tests/lib/need.sh
need_py serial_asyncio python3-serial-asyncio
need_py pymodbus.server python3-pymodbus
need_py zmq python3-zmq
. tests/lib/rigs.sh
EX=config/profiles/examples/plc-flow-bench.yaml
METERS=(--meter 1=0.4 --meter 3=-0.6 --meter 4=1.1 --meter 6=0.2)

# plc NAME: a PLC with 8 position blocks (the rigs use 6), meters on 1, 3, 4, 6; its port in
# PORT_NAME, its displays in $TMP/NAME.display.
plc() {
	local out="$TMP/plc-$1.out" addr
	/usr/bin/python3 tests/lib/byo_bench.py --positions 8 "${METERS[@]}" \
		--display-file "$TMP/$1.display" >"$out" 2>"$TMP/plc-$1.err" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
	addr=$(sed -n '1s/^listening //p' "$out")
	if [ -z "$addr" ]; then echo "the PLC did not start:"; cat "$TMP/plc-$1.err"; exit 1; fi
	printf -v "PORT_$1" %s "${addr##*:}"
}
plc a
plc b
plc c
# The same profile one block late: position N reads position N+1's counter.
cp "$EX" "$TMP/a.yaml"
sed 's/address: 1000, stride: 4/address: 1004, stride: 4/; s/address: 1002, stride: 4/address: 1006, stride: 4/' "$EX" >"$TMP/shifted.yaml"
check "profile copy one block late" "$(grep -c 'address: 100[46], stride: 4' "$TMP/shifted.yaml")" "2"
sed 's/stride: 4/stride: 5/' "$EX" >"$TMP/stride.yaml"
check "profile copy with stride 5" "$(grep -c 'stride: 5' "$TMP/stride.yaml")" "2"

keys --person li wang
keys daemon
{
	config_head
	echo "  - {id: plc-a, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $PORT_a, unit: 17}, profile: $TMP/a.yaml, positions: 6, standards: [ws], sample_hz: 10}"
	echo "  - {id: plc-b, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $PORT_b, unit: 17}, profile: $TMP/shifted.yaml, positions: 6, standards: [ws], sample_hz: 10}"
	echo "  - {id: plc-c, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $PORT_c, unit: 17}, profile: $TMP/stride.yaml, positions: 6, standards: [ws], sample_hz: 10}"
	cat <<YAML
people:
  - {id: li, name: 李娜, roles: [operator, verifier], qualification: {certificate: JDY-0142, valid_until: 2099-12-31}, procedures: [jjg162-*, commission-*], key: "$(sign li)"}
  - {id: wang, name: 王强, roles: [operator, manager], qualification: {certificate: JDY-0077, valid_until: 2099-12-31}, procedures: [jjg162-*, commission-*], key: "$(sign wang)"}
YAML
} >"$TMP/metrod.yaml"
curve_control "$TMP/metrod.yaml"
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
AS_TIMEOUT=5000
for _ in $(seq 100); do as li ping >/dev/null 2>&1 && break; sleep 0.1; done
idle() { # RIG
	for _ in $(seq 200); do
		[ "$(as li --json rigs | json "[r['state'] for r in d['rigs'] if r['id'] == '$1'][0]")" = idle ] && return
		sleep 0.1
	done
}

# Batches: the four meters; a verification batch and a commissioning batch per rig.
vbatch() { # RIG
	printf 'rig: %s\nprocedure: jjg162-water-initial\nsubmitter: 示例自来水有限公司\nmeters:\n' "$1"
	for p in 1 3 4 6; do
		echo "  - {position: $p, serial: PLC-$p, model: LXS-15E, manufacturer: Example Meter Co., approval: \"CPA 2021-W123\", $(grep -m 1 -o 'nameplate: {[^}]*}' config/batches/water-initial.yaml)}"
	done
}
cbatch() { # RIG
	printf 'rig: %s\nprocedure: commission-flow-bench\nmeters:\n' "$1"
	for p in 1 3 4 6; do
		echo "  - {position: $p, serial: PLC-$p, nameplate: {q3: 16, scale_interval_l: 0.05}}"
	done
}
for r in a b c; do vbatch "plc-$r" >"$TMP/v-$r.yaml"; cbatch "plc-$r" >"$TMP/c-$r.yaml"; done
DB=$TMP/records.db
q() { sqlite3 "file:$DB?mode=ro" "$1"; }
code() { /usr/bin/python3 -c 'import json,sys
for l in sys.stdin:
    try: d = json.loads(l)
    except ValueError: continue
    print(d["error"]["code"] if not d.get("ok") else "ok"); break' ; }

# ---- (a) never commissioned --------------------------------------------------------------------
idle plc-a
out=$(as li --json start "$TMP/v-a.yaml" 2>&1)
check "(a) a verification batch on a rig never commissioned is refused" "$(code <<<"$out")" "not-commissioned"
check "(a) ... saying so" "$(grep -c 'rig plc-a has never been commissioned: run a commissioning procedure' <<<"$out")" "1"

# commission NAME RIG: the commissioning batch with the display operator; the run in $TMP/NAME.json
commission() {
	local args
	args=$(printf '["%s", "-e", "%s", "--key", "%s", "--server-key", "%s"]' "$B/metroctl" "$CTL" "$K/li.key" "$K/daemon.pub")
	/usr/bin/python3 tests/lib/display_operator.py "$PUB" "$2" "$args" "$TMP/${2#plc-}.display" \
		"$TMP/$1.op" >"$TMP/$1.opout" 2>"$TMP/$1.operr" &
	local op=$!
	PIDS+=($op)
	for _ in $(seq 100); do grep -q subscribed "$TMP/$1.opout" 2>/dev/null && break; sleep 0.1; done
	AS_TIMEOUT=120000 as li --json start "$TMP/c-${2#plc-}.yaml" --wait 2>"$TMP/$1.err" | tail -n 1 >"$TMP/$1.json"
	wait "$op"
}
v() { json "$2" <"$TMP/$1.json"; }

# ---- (b) commissioning passes ------------------------------------------------------------------
commission ca plc-a
run=$(v ca "d['run']")
check "(b) the commissioning runs to its end" "$(v ca "d['result']")" "done"
check "(b) every position passes" "$(v ca "sorted((x['position'], x['verdict']) for x in d['verdicts'])")" "[(1, 'pass'), (3, 'pass'), (4, 'pass'), (6, 'pass')]"
check "(b) the rig counted what the displays showed (within 1 %)" \
	"$(v ca "all(abs(p['values']['counted_l'] - p['values']['display_l']) <= 0.01 * p['values']['display_l'] + 0.1 and p['values']['display_l'] > 15 for p in d['points'] if p['item'] == 'positions')")" "True"
check "(b) the operator typed start and end displays of the four meters" "$(json "len(d['typed'])" <"$TMP/ca.op")" "8"
check "(b) no certificate for a commissioning run" "$(q "SELECT count(*) FROM certificates WHERE run = $run")" "0"
sha=$(sha256sum "$TMP/a.yaml" | cut -d' ' -f1)
check "(b) the audit trail: rig.commissioned, passed, the profile's digest, who" \
	"$(q "SELECT subject, json_extract(new, '\$.passed'), json_extract(new, '\$.profile_sha256') = '$sha', json_extract(new, '\$.operator') FROM audit_events WHERE action = 'rig.commissioned'")" \
	"rig/plc-a|1|1|li"
idle plc-a
out=$(as li --json start "$TMP/v-a.yaml" 2>&1)
check "(b) a verification batch is accepted now" "$(code <<<"$out")" "ok"
as li abort plc-a >/dev/null 2>&1

# ---- (c) a profile one block late --------------------------------------------------------------
idle plc-b
commission cb plc-b
check "(c) the commissioning of the shifted profile ends in error" "$(v cb "d['result']")" "error"
check "(c) ... the fault names the empty position that moved and the map" \
	"$(v cb "'position 2 has no meter, yet the rig' in d.get('fault', '') and 'position map is shifted or its stride is wrong' in d['fault']")" "True"
check "(c) the audit trail says it did not pass" "$(q "SELECT json_extract(new, '\$.passed') FROM audit_events WHERE action = 'rig.commissioned' AND subject = 'rig/plc-b'")" "0"
idle plc-b
out=$(as li --json start "$TMP/v-b.yaml" 2>&1)
check "(c) a verification batch stays refused" "$(code <<<"$out")" "not-commissioned"
check "(c) ... because the commissioning did not pass" "$(grep -c "newest commissioning (run [0-9]*) did not pass (error)" <<<"$out")" "1"

idle plc-c
commission cc plc-c
check "(c) stride 5: the commissioning ends in error" "$(v cc "d['result']")" "error"
check "(c) ... position 5, empty, read position 6's meter (address 1000 + 4 x 5): named" \
	"$(v cc "'position 5 has no meter, yet the rig' in d.get('fault', '') and 'stride is wrong' in d['fault']")" "True"
idle plc-c
out=$(as li --json start "$TMP/v-c.yaml" 2>&1)
check "(c) ... and the rig stays uncommissioned" "$(code <<<"$out")" "not-commissioned"

# ---- (d) the override ----------------------------------------------------------------------------
out=$(as li --json start "$TMP/v-b.yaml" --override-commissioning "urgent batch" 2>&1)
check "(d) an operator's override is refused" "$(code <<<"$out")" "denied"
out=$(as wang --json start "$TMP/v-b.yaml" --override-commissioning "map checked by hand, ticket 41" 2>&1)
check "(d) a manager's override is accepted" "$(code <<<"$out")" "ok"
check "(d) ... and audited with the reason and who" \
	"$(q "SELECT subject, why, actor LIKE '%wang%' OR actor LIKE '%王强%' FROM audit_events WHERE action = 'commissioning.override'")" \
	"rig/plc-b|map checked by hand, ticket 41|1"
as wang abort plc-b >/dev/null 2>&1

# ---- (e) the profile changed -------------------------------------------------------------------
idle plc-a
echo "# edited after the commissioning" >>"$TMP/a.yaml"
kill -HUP "$METROD_PID"
for _ in $(seq 100); do
	[ "$(as li --json rigs | json "[r['profile']['sha256'] for r in d['rigs'] if r['id'] == 'plc-a'][0]")" != "$sha" ] && break
	sleep 0.1
done
idle plc-a
out=$(as li --json start "$TMP/v-a.yaml" 2>&1)
check "(e) after a profile change the gate closes again" "$(code <<<"$out")" "not-commissioned"
check "(e) ... naming the change" "$(grep -c "profile changed since its commissioning (run $run proved" <<<"$out")" "1"
finish
