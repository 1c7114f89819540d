#!/usr/bin/env bash
# Interoperability: metrod's modbus-tcp driver (through `metroctl probe`, the same driver stack
# as the daemon) reads a Modbus server written with python3-pymodbus (zero_mode=True) and gets
# the values the server holds, in every type and word order of the flow-bench profile; a write
# of a float setpoint and a coil lands in the server's registers.
set -u
B=${METRO_BUILD:-build/san}
. tests/lib/need.sh
need_py serial_asyncio python3-serial-asyncio # Debian's pymodbus 3.0 imports it
need_py pymodbus.server python3-pymodbus
tmp=$(mktemp -d)
pass=0 fail=0
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
check() { if [ "$2" = "$3" ]; then pass=$((pass+1)); echo "ok   $1"; else fail=$((fail+1)); echo "FAIL $1: got '$2', want '$3'"; fi; }

/usr/bin/python3 tests/lib/pymodbus_server.py "$tmp/port" >"$tmp/server.log" 2>&1 &
srv=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port" 2>/dev/null)
# the port file is written before the server listens: wait until it accepts a connection
for _ in $(seq 100); do [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
if [ -z "$port" ] || ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "pymodbus server did not start:"; cat "$tmp/server.log"; echo "0 passed, 1 failed"; exit 1
fi

probe() { "$B/metroctl" --json probe --driver modbus-tcp --host 127.0.0.1 --port "$port" \
	--profile config/profiles/flow-bench.yaml --positions 10 "$@"; }
out=$(probe flow.actual ref.volume ref.mass water.temp water.pressure status.collecting \
	status.fault "pos[1].volume" "pos[10].volume" 2>"$tmp/probe.err")
rc=$?
check "probe exit status" "$rc" "0"
[ $rc -ne 0 ] && cat "$tmp/probe.err"
get() { /usr/bin/python3 -c "import json,sys; print(repr(round(json.loads(sys.argv[1])[sys.argv[2]], 6)))" "$out" "$1" 2>/dev/null; }
check "f32 ABCD flow.actual" "$(get flow.actual)" "2.45"
check "f64 ABCD ref.volume" "$(get ref.volume)" "100.125"
check "f32 ref.mass" "$(get ref.mass)" "99.5"
check "i16 scale 0.01 water.temp" "$(get water.temp)" "20.34"
check "u16 scale 0.1 water.pressure" "$(get water.pressure)" "300.5"
check "bit 1 of status" "$(get status.collecting)" "1.0"
check "bit 0 of status" "$(get status.fault)" "0.0"
check "u32 CDAB scale 0.001 pos[1].volume" "$(get 'pos[1].volume')" "1.001"
check "u32 CDAB scale 0.001 pos[10].volume" "$(get 'pos[10].volume')" "10.001"

# Writes, read back by the device layer, then checked in the server's own registers.
probe --write flow.setpoint=1.5 --write flow.run=1 flow.setpoint >"$tmp/w.out" 2>"$tmp/w.err"
check "write exit status" "$?" "0"
rm -f "$tmp/port.regs"
kill -USR1 "$srv"
for _ in $(seq 50); do [ "$(wc -l <"$tmp/port.regs" 2>/dev/null)" = 2 ] && break; sleep 0.1; done
regs=$(head -n 1 "$tmp/port.regs" 2>/dev/null)
check "setpoint 1.5 as f32 ABCD in holding 0..1" "$regs" "16320 0"
coils=$(sed -n 2p "$tmp/port.regs" 2>/dev/null)
check "flow.run coil set" "$coils" "1 0 0"

# A register the server does not have: the device's exception is an error naming the register.
"$B/metroctl" probe --driver modbus-tcp --host 127.0.0.1 --port "$port" --retries 0 \
	--profile config/profiles/electricity-bench.yaml --positions 24 "pos[24].status" \
	>/dev/null 2>"$tmp/x.err"
check "exception exit status" "$?" "1"
grep -q "read input 290..290: Illegal data address" "$tmp/x.err"
check "exception names the register" "$?" "0"
grep -q "channel pos\[24\].status (config/profiles/electricity-bench.yaml:[0-9]*): .*Illegal data address — hint: the device has no such register" "$tmp/x.err"
check "exception names the channel, its profile line, and hints at table and address" "$?" "0"
[ $fail -ne 0 ] && cat "$tmp/x.err"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
