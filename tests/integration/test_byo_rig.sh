#!/bin/bash
# Bring your own rig: a lab's PLC, not metrosim, driven from a profile alone
# (config/profiles/examples/plc-flow-bench.yaml), played by tests/lib/byo_bench.py
# (python3-pymodbus): a map unlike metrosim's everywhere (unit id 17, low word first, scaled
# 16-bit channels, a bit-packed status word, a byte-swapped string, coils elsewhere, blocks of
# 4 registers per position) and behaviour a profile must describe: writes are taken only in
# remote control (enabled by a coil, confirmed by a status bit some time later), and the totals
# reset is a command-word bit the PLC clears itself.
#  (a) metroctl probe: on_connect turns remote control on and waits for it; the model string
#      reads as text, --raw shows the registers; a wrong unit id is a timeout whose message
#      names the channel, the profile line and the unit id as the usual cause.
#  (b) a whole water batch through metrod over Modbus TCP: verdicts and errors are the ones
#      built into the PLC's meters; after the run the after_run sequence has handed the bench
#      back (remote control off).
#  (c) the same profile without its on_connect sequence: the PLC ignores the setpoint and the
#      run ends `error`, the message naming the channel and hinting at remote control; without
#      `expect: 0` on the reset bit the run ends `error` on the reset's read-back.
#  (d) over Modbus RTU on a pty pair (socat): probe and a whole batch.
set -u
. tests/lib/need.sh
need_py serial_asyncio python3-serial-asyncio
need_py pymodbus.server python3-pymodbus
need_cmd socat socat
. tests/lib/rigs.sh
SCALE=120
EX=config/profiles/examples/plc-flow-bench.yaml
METERS=(--meter 1=0.5 --meter 2=-0.8 --meter 3=3.5 --meter 4=1.2 --meter 5=-1.5)

# plc VAR ARGS...: start a PLC; its address (127.0.0.1:PORT or the pty) in $VAR.
plc() {
	local out="$TMP/plc-$1.out" addr
	/usr/bin/python3 tests/lib/byo_bench.py --time-scale $SCALE --positions 6 "${METERS[@]}" \
		"${@:2}" >"$out" 2>"$TMP/plc-$1.err" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
	addr=$(sed -n '1s/^listening //p' "$out")
	if [ -z "$addr" ]; then echo "the PLC did not start:"; cat "$TMP/plc-$1.err"; exit 1; fi
	printf -v "$1" %s "$addr"
}
plc tcpaddr
tport=${tcpaddr##*:}
probe() { "$B/metroctl" probe --driver modbus-tcp --host 127.0.0.1 --port "$tport" --positions 6 "$@"; }

# Profile copies: no sequences (to look at the PLC without touching it, and for (c)); no
# `expect:` on the reset bit.
sed '/^on_connect:/,$d' "$EX" >"$TMP/bare.yaml"
sed 's/expect: 0, expect_ms: 2000}/readback: true}/' "$EX" >"$TMP/noexpect.yaml"
check "profile copy without sequences" "$(grep -c '^on_connect:\|^after_run:' "$TMP/bare.yaml")" "0"
check "profile copy without expect:" "$(grep -v '^#' "$TMP/noexpect.yaml" | grep -c 'expect') $(grep -c 'readback: true}$' "$TMP/noexpect.yaml")" "0 1"

# ---- (a) probe ---------------------------------------------------------------------------------
out=$(probe --unit 17 --profile "$TMP/bare.yaml" status.remote remote.enable 2>&1)
check "(a) before anyone connects with the profile: no remote control" "$(echo $out)" "status.remote 0 remote.enable 0"
out=$(probe --unit 17 --profile "$EX" status.remote model 2>&1)
check "(a) on_connect turned remote control on and waited for the PLC to confirm it" "$(head -n 1 <<<"$out")" "status.remote            1"
check "(a) the byte-swapped model string reads as text" "$(tail -n 1 <<<"$out")" 'model                    "PLC-FB7 rev 2"'
out=$("$B/metroctl" --json probe --driver modbus-tcp --host 127.0.0.1 --port "$tport" --positions 6 \
	--unit 17 --profile "$EX" --raw model water.temp 2>&1)
check "(a) --json --raw: the text, the value and the registers behind them" \
	"$(json "d['values']['model'], d['values']['water.temp'], d['raw']['water.temp'], hex(d['raw']['model'][0])" <<<"$out")" \
	"PLC-FB7 rev 2 21.5 [215] 0x4c50"
out=$(probe --unit 17 --profile "$EX" --write totals.reset=1 totals.reset 2>&1)
check "(a) the self-clearing reset bit is confirmed by reading 0 (expect: 0)" "$(echo $out)" "wrote totals.reset = 1 (confirmed by expect:) totals.reset 0"
out=$(probe --unit 5 --timeout 200 --retries 0 --profile "$EX" model 2>&1)
check "(a) a wrong unit id fails" "$?" "1"
check "(a) ... naming the step, the channel, its profile line and the unit id as the usual cause" \
	"$(grep -c "^metroctl probe: on_connect\[0\] ($EX:[0-9]*): channel remote.enable ($EX:[0-9]*): modbus-tcp 127.0.0.1:$tport unit 5: .*timed out — hint: no reply: check the unit id" <<<"$out")" "1"
probe --unit 17 --profile "$TMP/bare.yaml" --write remote.enable=0 >/dev/null 2>&1

# ---- (b) a whole batch over Modbus TCP ---------------------------------------------------------
# batch RIG: five meters (positions 1-5) with the nameplate of config/batches/water-initial.yaml.
np=$(grep -m 1 -o 'nameplate: {[^}]*}' config/batches/water-initial.yaml)
batch() {
	sed -n '/^meters:/q;p' config/batches/water-initial.yaml | sed "s/^rig: .*/rig: $1/"
	echo "meters:"
	for i in 1 2 3 4 5; do
		echo "  - {position: $i, serial: PLC-$i, model: LXS-15E, manufacturer: Example Meter Co., approval: \"CPA 2021-W123\", $np}"
	done
}
rig() { # ID ADDRESS-KEYS PROFILE
	echo "  - {id: $1, kind: flow-bench, driver: $4, connection: {$2, unit: 17}, profile: $3, positions: 6, standards: [ws], sample_hz: 10, simulated: true, time_scale: $SCALE}"
}
plc ignaddr
plc noaddr
socat -d pty,raw,echo=0,link="$TMP/plc.pty" pty,raw,echo=0,link="$TMP/metrod.pty" 2>"$TMP/socat.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -e "$TMP/plc.pty" ] && [ -e "$TMP/metrod.pty" ] && break; sleep 0.05; done
plc rtuaddr --rtu "$TMP/plc.pty"
{
	config_head
	rig plc-tcp "host: 127.0.0.1, port: $tport" "$PWD/$EX" modbus-tcp
	rig plc-bare "host: 127.0.0.1, port: ${ignaddr##*:}" "$TMP/bare.yaml" modbus-tcp
	rig plc-noexpect "host: 127.0.0.1, port: ${noaddr##*:}" "$TMP/noexpect.yaml" modbus-tcp
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"

idle() { # RIG: wait until the rig has connected and is idle
	for _ in $(seq 200); do
		[ "$(mctl --json rigs | json "[r['state'] for r in d['rigs'] if r['id'] == '$1'][0]")" = idle ] && return
		sleep 0.1
	done
}
start() { # NAME BATCH: run the batch to its end; its run document in $TMP/NAME.json
	idle "$(sed -n 's/^rig: //p' "$2")"
	timeout 300 "$B/metroctl" -e "$CTL" --json start "$2" --wait --auto-answer pass \
		2>"$TMP/$1.err" | tail -n 1 >"$TMP/$1.json"
}
v() { json "$2" <"$TMP/$1.json"; }
# errors NAME POS ITEM WANT: the point's error is the PLC meter's, within the 1 mL counts
errs() { v "$1" "[abs(p['values']['mean'] - $4) < 0.015 for p in d['points'] if p['position']==$2 and p['item']=='$3' and p['verdict'] in ('pass', 'fail')]"; }
judged() { # NAME: the verdicts and the errors of the run
	check "($2) the batch runs to its end" "$(v "$1" "d['result']")" "done"
	check "($2) meters 1, 2, 4, 5 pass, the +3.5 % meter fails at q3" \
		"$(v "$1" "sorted((x['position'], x['verdict'], x['failed_items']) for x in d['verdicts'])")" \
		"[(1, 'pass', []), (2, 'pass', []), (3, 'fail', ['q3']), (4, 'pass', []), (5, 'pass', [])]"
	check "($2) q3 errors are the PLC's meters' (1: +0.5, 3: +3.5, 5: -1.5 %)" "$(errs "$1" 1 q3 0.5) $(errs "$1" 3 q3 3.5) $(errs "$1" 5 q3 -1.5)" "[True] [True] [True]"
	check "($2) q1 errors of positions 2 and 4 (-0.8, +1.2 %)" "$(errs "$1" 2 q1 -0.8) $(errs "$1" 4 q1 1.2)" "[True] [True]"
}
batch plc-tcp >"$TMP/tcp.yaml"
start tcp "$TMP/tcp.yaml"
judged tcp b
check "(b) the PLC ignored no write" "$(grep -c '^ignored write' "$TMP/plc-tcpaddr.err")" "0"
out=$(probe --unit 17 --profile "$TMP/bare.yaml" remote.enable 2>&1)
check "(b) after the run, after_run handed the bench back (remote control off)" "$out" "remote.enable            0"

# ---- (c) what the sequences and expect: are for -------------------------------------------------
batch plc-bare >"$TMP/bare-batch.yaml"
start bare "$TMP/bare-batch.yaml"
check "(c) without on_connect the run ends in error" "$(v bare "d['result']")" "error"
check "(c) ... the PLC ignored the writes" "$(grep -c '^ignored write' "$TMP/plc-ignaddr.err" | sed 's/^[1-9][0-9]*$/some/')" "some"
check "(c) ... the fault names the channel and hints at remote control" \
	"$(v bare "'channel flow.setpoint (' in d.get('fault', '') and 'takes writes only in remote control an on_connect or before_run sequence)' in d['fault']")" "True"
check "(c) ... every meter is in error, none is judged" "$(v bare "sorted({x['verdict'] for x in d['verdicts']})")" "['error']"
batch plc-noexpect >"$TMP/noexpect-batch.yaml"
start noexpect "$TMP/noexpect-batch.yaml"
check "(c) without expect: 0 on the self-clearing reset bit the run ends in error" "$(v noexpect "d['result']")" "error"
check "(c) ... on the reset's read-back" \
	"$(v noexpect "'channel totals.reset (' in d.get('fault', '') and 'wrote 1, read back 0' in d['fault']")" "True"

# ---- (d) Modbus RTU on a pty pair ---------------------------------------------------------------
out=$("$B/metroctl" probe --driver modbus-rtu --device "$TMP/metrod.pty" --baud 19200 --unit 17 \
	--positions 6 --profile "$EX" model status.remote 2>&1)
check "(d) rtu: probe reads the model as text, remote control on" "$(echo $out)" 'model "PLC-FB7 rev 2" status.remote 1'
kill "$METROD_PID"
wait "$METROD_PID" 2>/dev/null
{ config_head; rig plc-rtu "device: $TMP/metrod.pty, baud: 19200" "$PWD/$EX" modbus-rtu; } >"$TMP/metrod-rtu.yaml"
sed -i "s|path: $TMP/records.db|path: $TMP/records-rtu.db|" "$TMP/metrod-rtu.yaml"
start_metrod "$TMP/metrod-rtu.yaml"
batch plc-rtu >"$TMP/rtu.yaml"
start rtu "$TMP/rtu.yaml"
judged rtu d
check "(d) rtu: the PLC ignored no write" "$(grep -c '^ignored write' "$TMP/plc-rtuaddr.err")" "0"
finish
