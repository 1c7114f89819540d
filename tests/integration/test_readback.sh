#!/usr/bin/env bash
# The write rules of the device layer (docs/drivers.md): every write is read back, and a device
# that does not take the value is an error naming the channel and both values; only channels
# marked writable can be written, and a refused write never reaches the device.
#
#  (a) metroctl probe --write to a metrosim that ignores the write (--faults ignorewrites=...):
#      Modbus TCP (a holding register), Modbus RTU (a coil) and the serial line;
#  (b) a run in metrod on a flow bench that ignores flow.run: the run ends in `error` naming the
#      channel, the rig's readback_mismatches counter rises (health stream and `rigs`), and the
#      rig is back in its safe state (the setpoint the run wrote is 0 again at the device);
#  (c) writes to read-only channels (flow.actual) refused by probe with nothing sent (metrosim's
#      request trace and its registers), and profiles that declare an input register writable
#      refused by probe and by metrod --check-config.
# The control API has no command that writes a channel: the engine and the safe state are the
# only writers in the daemon.
set -u
. tests/lib/rigs.sh
FB=config/profiles/flow-bench.yaml
BP=config/profiles/bell-prover.yaml

# stop_sim NAME: SIGTERM to a simulator and wait for it (its --fault-log is then written).
stop_sim() {
	local pid
	eval "pid=\$SIM_PID_$1"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
# fault_count LOG KIND: an injected-fault count from a --fault-log file.
fault_count() { json "d['injected'].get('$2')" <"$1"; }
# rx_count NAME: requests a --verbose simulator has traced so far.
rx_count() { grep -c '^metrosim: rx ' "$TMP/$1.err"; }

# ---- (a) probe --write to a device that ignores the write -------------------------------------

# Modbus TCP, a holding register (f32 setpoint).
start_sim tcp --rig flow-bench --modbus-tcp 127.0.0.1:0 --faults ignorewrites=flow.setpoint \
	--fault-log "$TMP/tcp.log"
tport=${SIM_tcp##*:}
probe_tcp() { "$B/metroctl" probe --driver modbus-tcp --host 127.0.0.1 --port "$tport" --profile "$FB" "$@"; }
out=$(probe_tcp --write flow.setpoint=2.5 flow.setpoint 2>&1)
check "tcp: probe --write of an ignored setpoint exits 1" "$?" "1"
check "tcp: the message names the device, the channel and its profile line, the written and read-back values, and a hint" \
	"$(grep -cxE "metroctl probe: write flow.setpoint: modbus-tcp 127.0.0.1:$tport unit 1: channel flow.setpoint \\($FB:[0-9]+\\): wrote 2.5, read back 0 \\(hint: check type, scale and word order.*\\)" <<<"$out")" "1"
check "tcp: nothing read after the failed write" "$(grep -c '^flow.setpoint ' <<<"$out")" "0"
check "tcp: the device still holds 0" "$(probe_tcp --retries 0 flow.setpoint 2>&1)" "flow.setpoint            0 m3/h"
# The same device takes the writes it does not ignore: the failure is the read-back's.
out=$(probe_tcp --write flow.run=1 flow.run 2>&1)
check "tcp: a write the device takes passes the read-back" "$?" "0"
check "tcp: ... and is there" "$(tail -n 1 <<<"$out")" "flow.run                 1"
stop_sim tcp
check "tcp: metrosim counted one ignored write" "$(fault_count "$TMP/tcp.log" ignorewrites)" "1"

# Before its AFTER_S the fault is not there: the write is applied.
start_sim later --rig flow-bench --modbus-tcp 127.0.0.1:0 --faults ignorewrites=flow.setpoint:3600
out=$("$B/metroctl" probe --driver modbus-tcp --host 127.0.0.1 --port "${SIM_later##*:}" --profile "$FB" \
	--write flow.setpoint=2.5 flow.setpoint 2>&1)
check "tcp: ignorewrites=flow.setpoint:3600 takes the write for the first hour" "$(tail -n 1 <<<"$out")" "flow.setpoint            2.5 m3/h"
stop_sim later

# Modbus RTU on a pty, a coil.
start_sim rtu --rig flow-bench --modbus-rtu --faults ignorewrites=flow.run
out=$("$B/metroctl" probe --driver modbus-rtu --device "$SIM_rtu" --baud 115200 --profile "$FB" \
	--write flow.run=1 2>&1)
check "rtu: probe --write of an ignored coil exits 1" "$?" "1"
check "rtu: the message names the channel and both values" \
	"$(grep -c ": channel flow.run ($FB:[0-9]*): wrote 1, read back 0 (hint:" <<<"$out")" "1"
stop_sim rtu

# The serial line, every write ignored; the bell prover answers each write with its reply.
start_sim line --rig bell-prover --serial-line --positions 6 --faults 'ignorewrites=*' --verbose \
	--fault-log "$TMP/line.log"
probe_line() { "$B/metroctl" probe --driver serial-line --device "$SIM_line" --baud 9600 --profile "$BP" --positions 6 "$@"; }
out=$(probe_line --write flow.setpoint=1.25 2>&1)
check "line: probe --write of an ignored setpoint exits 1" "$?" "1"
check "line: the message names the channel and both values" \
	"$(grep -c ": channel flow.setpoint ($BP:[0-9]*): wrote 1.25, read back 0 (hint:" <<<"$out")" "1"
# (c) on the serial line: flow.actual has no write command; nothing goes down the line.
n0=$(rx_count line)
out=$(probe_line --write flow.actual=3 2>&1)
check "line: a write to read-only flow.actual exits 1" "$?" "1"
check "line: ... with a message naming the channel" \
	"$(grep -c "write flow.actual: .*channel flow.actual is not writable in profile $BP$" <<<"$out")" "1"
check "line: ... and no command reached the device" "$(rx_count line)" "$n0"
stop_sim line
check "line: metrosim counted one ignored write" "$(fault_count "$TMP/line.log" ignorewrites)" "1"

# metrosim refuses an ignorewrites it cannot apply.
"$B/metrosim" --rig flow-bench --modbus-tcp 127.0.0.1:0 --faults ignorewrites=flow.actual \
	>/dev/null 2>"$TMP/bad.err"
check "metrosim: ignorewrites of a read-only channel is a usage error" "$?" "2"
check "... saying so" "$(grep -c 'ignorewrites=flow.actual: not a writable channel' "$TMP/bad.err")" "1"

# ---- (b) a run on a rig whose device ignores the run coil -------------------------------------

water_bench 120 "" --faults ignorewrites=flow.run
start_metrod "$TMP/metrod.yaml"
timeout 120 "$B/metroctl" -e "$CTL" --json start config/batches/water-initial.yaml --wait \
	--auto-answer pass 2>"$TMP/start.err" | tail -n 1 >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "run: ends in error" "$(v "d.get('result')")" "error"
check "run: the fault names the channel and both values" \
	"$(v "'writing flow.run = 1: ' in d.get('fault', '') and 'config/profiles/flow-bench.yaml:' in d['fault'] and 'channel flow.run (' in d['fault'] and '): wrote 1, read back 0 (hint:' in d['fault']")" "True"
check "run: every meter's verdict is error" "$(v "sorted({x['verdict'] for x in d['verdicts']}), len(d['verdicts'])")" "['error'] 9"
check "run: the verdicts give the channel as the reason" \
	"$(v "all('flow.run' in x['reason'] for x in d['verdicts'])")" "True"
check "run: safe state read back" "$(v "d.get('safe_state_verified')")" "True"
# The run wrote the setpoint before the coil; the safe state has put it back to 0.
safe=$(water_probe flow.setpoint flow.run collect)
check "device: setpoint 0 after the run" "$(echo "$safe" | json "d['flow.setpoint']")" "0.0"
check "device: flow.run off" "$(echo "$safe" | json "d['flow.run']")" "0.0"
check "device: collect off" "$(echo "$safe" | json "d['collect']")" "0.0"
# The counter: in the rig's health documents (published once a second) ...
hm=$(timeout 20 "$B/metroctl" -e "$CTL" watch health.water-1 | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line.split(" ", 1)[1])["device"]
    if d["readback_mismatches"] > 0:
        print(d["readback_mismatches"], "channel flow.run (" in d["last_error"] and "wrote 1, read back 0" in d["last_error"] or d["last_error"])
        break
')
check "health.water-1: readback_mismatches counted, last_error names the channel" "$hm" "1 True"
# ... and in `rigs`, which carries the newest health document's device counters.
rig() { mctl --json rigs | json "[r for r in d['rigs'] if r['id'] == 'water-1'][0]$1"; }
for _ in $(seq 50); do
	[ "$(rig "['state']")" = idle ] && [ "$(rig ".get('device', {}).get('readback_mismatches', 0)")" != 0 ] && break
	sleep 0.2
done
check "rigs: the rig is idle again" "$(rig "['state']")" "idle"
check "rigs: readback_mismatches counted" "$(rig ".get('device', {}).get('readback_mismatches')")" "1"
check "status: the rig is idle" "$(mctl --json status | json "[r['state'] for r in d['rigs'] if r['id'] == 'water-1'][0]")" "idle"

# ---- (c) only writable channels are writable ----------------------------------------------

start_sim ro --rig flow-bench --modbus-tcp 127.0.0.1:0 --verbose
rport=${SIM_ro##*:}
probe_ro() { "$B/metroctl" --json probe --driver modbus-tcp --host 127.0.0.1 --port "$rport" --profile "$FB" "$@"; }
before=$(probe_ro --write flow.setpoint=1.5 flow.setpoint flow.actual 2>&1)
check "ro: the setpoint is writable" "$(echo "$before" | json "d['flow.setpoint']")" "1.5"
n0=$(rx_count ro)
out=$(probe_ro --write flow.actual=3 2>&1)
check "ro: a write to input register flow.actual exits 1" "$?" "1"
check "ro: the message names the device, the channel and the profile" \
	"$(grep -cxF "metroctl probe: write flow.actual: modbus-tcp 127.0.0.1:$rport unit 1: channel flow.actual is not writable in profile $FB" <<<"$out")" "1"
check "ro: no request reached the device" "$(rx_count ro)" "$n0"
after=$(probe_ro flow.setpoint flow.actual 2>&1)
check "ro: the device's setpoint is unchanged (holding 0 shares flow.actual's address)" \
	"$(echo "$after" | json "d['flow.setpoint']")" "1.5"
check "ro: flow.actual unchanged" "$(echo "$after" | json "d['flow.actual']")" "$(echo "$before" | json "d['flow.actual']")"

# A profile that declares the input register writable is refused where it is loaded.
sed 's/^\(  - {name: flow.actual, table: input, address: 0, type: f32, unit: m3\/h\)}/\1, writable: true}/' \
	"$FB" >"$TMP/fb-writable-input.yaml"
check "the altered profile differs only in that line" \
	"$(diff "$FB" "$TMP/fb-writable-input.yaml" | grep -c '^>.*flow.actual.*writable: true')" "1"
n0=$(rx_count ro)
"$B/metroctl" probe --driver modbus-tcp --host 127.0.0.1 --port "$rport" \
	--profile "$TMP/fb-writable-input.yaml" --write flow.actual=3 >/dev/null 2>"$TMP/p.err"
check "profile: probe refuses it (usage)" "$?" "2"
check "profile: ... at the line and column, naming the rule" \
	"$(grep -c "^$TMP/fb-writable-input.yaml:16:[0-9]*: channels\[4\]\.writable: input registers are read-only$" "$TMP/p.err")" "1"
check "profile: ... and sent nothing" "$(rx_count ro)" "$n0"
sed "s|profile: $PWD/config/profiles/flow-bench.yaml|profile: $TMP/fb-writable-input.yaml|" \
	"$TMP/metrod.yaml" >"$TMP/metrod-bad.yaml"
"$B/metrod" --check-config "$TMP/metrod-bad.yaml" >"$TMP/cc.out" 2>&1
check "profile: metrod --check-config refuses the configuration" "$?" "1"
check "profile: ... naming the rule" "$(grep -c 'input registers are read-only' "$TMP/cc.out")" "1"
finish
