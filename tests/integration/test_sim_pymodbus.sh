#!/usr/bin/env bash
# Interoperability the other way round: python3-pymodbus (an independent Modbus stack, Debian 12
# ships 3.0.x) is the client of metrosim over Modbus TCP, with two clients connected at once,
# and, when pyserial is there, over Modbus RTU on the pty.  Values are decoded in Python from
# the raw registers (struct), not with our codec, so an encoding mistake on our side shows.
#
# Env: METRO_BUILD, METRO_SRCDIR; cwd = project root.  Last line "N passed, M failed".
set -u
BUILD=${METRO_BUILD:-build/san}
cd "${METRO_SRCDIR:-.}" || exit 1
SIM="$BUILD/metrosim"
PY=/usr/bin/python3
. tests/lib/need.sh
need_py serial_asyncio python3-serial-asyncio # Debian's pymodbus 3.0 imports it
need_py pymodbus.client python3-pymodbus
need_py serial python3-serial
[ -x "$SIM" ] || { echo "FAIL  no $SIM"; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

start_sim() {
	local name=$1; shift
	"$SIM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=("$!")
	for _ in $(seq 1 300); do
		FIRST=$(head -n1 "$TMP/$name.out" 2>/dev/null)
		[ -n "$FIRST" ] && return 0
		sleep 0.02
	done
	cat "$TMP/$name.err"
	return 1
}

start_sim tcp --rig flow-bench --modbus-tcp 127.0.0.1:0 --time-scale 50 \
	--meters tests/data/sim/flow-bench-meters.yaml || { echo "0 passed, 1 failed"; exit 1; }
TCP_PORT=${FIRST##*:}
TCP_PID=${PIDS[-1]}
start_sim rtu --rig electricity-bench --modbus-rtu || { echo "0 passed, 1 failed"; exit 1; }
RTU_PTY=$FIRST
RTU_PID=${PIDS[-1]}

"$PY" - "$TCP_PORT" "$RTU_PTY" >"$TMP/py.out" 2>&1 <<'EOF'
import struct, sys, time
from pymodbus.client import ModbusTcpClient

port, pty = int(sys.argv[1]), sys.argv[2]
passed = failed = 0

def check(what, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok    " + what)
    else:
        failed += 1
        print("FAIL  " + what)

def f32(regs):  # ABCD
    return struct.unpack(">f", struct.pack(">HH", *regs))[0]

def f64(regs):  # ABCD
    return struct.unpack(">d", struct.pack(">HHHH", *regs))[0]

def u32_cdab(regs):  # low word first
    return regs[1] << 16 | regs[0]

a = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
b = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
check("two clients connect", a.connect() and b.connect())

rr = a.read_input_registers(0, 11, slave=1)
check("read input registers 0..10", not rr.isError())
regs = rr.registers
check("flow.actual 0 at rest", f32(regs[0:2]) == 0.0)
check("water.temp 20.00 degC (i16 x 0.01)", struct.unpack(">h", struct.pack(">H", regs[8]))[0] == 2000)
check("water.pressure 300.0 kPa (u16 x 0.1)", regs[9] == 3000)
rr = b.read_input_registers(20, 8, slave=1)
text = b"".join(struct.pack(">H", r) for r in rr.registers).rstrip(b"\0").decode()
check("model string '%s'" % text, text == "metrosim FB-10")

# Q2 of a Q3 = 2.5, R = 100 meter, steady, then one collection
sp = struct.unpack(">HH", struct.pack(">f", 0.042))
check("write the setpoint (fc 16)", not a.write_registers(0, list(sp), slave=1).isError())
check("write flow.run (fc 5)", not b.write_coil(0, True, slave=1).isError())
time.sleep(0.8)  # 40 s simulated: 20 time constants
q = f32(a.read_input_registers(0, 2, slave=1).registers)
check("flow.actual settled at 0.042 m3/h (%.7f)" % q, abs(q - 0.042) < 1e-6)
a.write_coil(2, True, slave=1)   # totals.reset: rising edge
a.write_coil(2, False, slave=1)
check("collect on (fc 15)", not b.write_coils(1, [True], slave=1).isError())
check("status bit 1: collecting", a.read_input_registers(10, 1, slave=1).registers[0] == 2)
time.sleep(1.5)
a.write_coil(1, False, slave=1)
coils = a.read_coils(0, 3, slave=1).bits[:3]
check("coils read back run=1 collect=0 reset=0", list(coils) == [True, False, False])
va = f64(a.read_input_registers(2, 4, slave=1).registers)
check("reference volume collected (%.4f L)" % va, va > 0.5)
vols = b.read_input_registers(100, 20, slave=1).registers
vi = [u32_cdab(vols[2 * k:2 * k + 2]) / 1000.0 for k in range(10)]
want = [0.4, 0.4, 3.5, 0.4, None, 0.4, -1.25, 0.4, 0.4, 0.4]
for k in range(10):
    if want[k] is None:
        check("pos[%d] empty: 0" % (k + 1), vi[k] == 0)
        continue
    e = (vi[k] - va) / va * 100
    quantum = 0.001 / va * 100
    check("pos[%d] error %.4f %% = %.2f %% within one 1 mL count (%.4f %%)"
          % (k + 1, e, want[k], quantum),
          want[k] - quantum - 1e-5 <= e <= want[k] + 1e-5)

rr = a.read_input_registers(40, 1, slave=1)
check("unmapped address: exception 2", rr.isError() and getattr(rr, "exception_code", 0) == 2)
rr = a.write_register(9, 1, slave=1)
check("write to a read-only area: exception 2", rr.isError() and getattr(rr, "exception_code", 0) == 2)
from pymodbus.other_message import ReportSlaveIdRequest
rr = a.execute(ReportSlaveIdRequest(slave=1))
check("report slave id (fc 17)", not rr.isError() and b"metrosim flow-bench" in rr.identifier)
a.close()
b.close()

# the RTU half (pyserial is required: need_py above)
from pymodbus.client import ModbusSerialClient
c = ModbusSerialClient(pty, baudrate=115200, parity="N", stopbits=1, bytesize=8, timeout=1)
check("pymodbus opens the pty", c.connect())
rr = c.read_input_registers(8, 2, slave=1)
check("RTU: ref.constant 2000000 imp/kWh (u32 ABCD)",
      not rr.isError() and (rr.registers[0] << 16 | rr.registers[1]) == 2000000)
c.write_registers(0, list(struct.unpack(">HH", struct.pack(">f", 230.0))), slave=1)
c.write_coil(0, True, slave=1)
time.sleep(0.5)
u = f32(c.read_input_registers(0, 2, slave=1).registers)
check("RTU: ref.voltage ramps towards 230 V (%.3f)" % u, 0 < u <= 230)
rr = c.read_holding_registers(60, 1, slave=1)
check("RTU: unmapped holding register: exception 2",
      rr.isError() and getattr(rr, "exception_code", 0) == 2)
c.close()

print("PY %d %d" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
py_rc=$?
grep -v '^PY ' "$TMP/py.out"
kill -TERM "$TCP_PID" "$RTU_PID"
wait "$TCP_PID"; tcp_rc=$?
wait "$RTU_PID"; rtu_rc=$?
# the Python checks' own counts, or one failure if the script died before printing them
read -r _ pass fail < <(grep '^PY ' "$TMP/py.out" || echo "PY 0 1")
[ $py_rc -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
if [ $tcp_rc -eq 0 ] && [ $rtu_rc -eq 0 ]; then
	pass=$((pass + 1)); echo "ok    metrosim exits 0 on SIGTERM"
else
	fail=$((fail + 1)); echo "FAIL  metrosim exit status $tcp_rc / $rtu_rc"; cat "$TMP"/*.err
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
