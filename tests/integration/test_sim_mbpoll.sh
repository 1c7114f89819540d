#!/usr/bin/env bash
# Interoperability: mbpoll (a Modbus master written by others, on libmodbus) reads and writes
# metrosim over Modbus TCP and over Modbus RTU on a pty, and gets the modelled values.
#
# TCP: flow bench.  Read the input registers and decode them the way the profile says (i16
# scale 0.01 degC, u16 scale 0.1 kPa, the model string), write the f32 setpoint (mbpoll -B:
# big-endian word order = the profile's ABCD) and the run coil, and watch flow.actual approach
# the setpoint with the first-order lag; the water pressure then drops by 2 kPa/(m3/h)^2 * q^2.
# RTU: electricity bench on a pty: reference constant, report slave id, source setpoints and
# the reference power U * I * cos(phase).
#
# Env: METRO_BUILD (build dir), METRO_SRCDIR (project root); cwd = project root.
# Last line "N passed, M failed"; exit 1 on a failure.
set -u
BUILD=${METRO_BUILD:-build/san}
cd "${METRO_SRCDIR:-.}" || exit 1
. tests/lib/need.sh
need_cmd mbpoll mbpoll
SIM="$BUILD/metrosim"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -gt 0 ] && exit 1
	[ "$pass" -gt 0 ] || exit 1
	exit 0
}

[ -x "$SIM" ] || { bad "no $SIM"; finish; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_sim NAME ARGS...: start metrosim, wait for its first line (in $FIRST).
start_sim() {
	local name=$1; shift
	"$SIM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	SIMPID=$!
	PIDS+=("$SIMPID")
	FIRST=
	for _ in $(seq 1 300); do
		FIRST=$(head -n1 "$TMP/$name.out" 2>/dev/null)
		[ -n "$FIRST" ] && return 0
		sleep 0.02
	done
	echo "metrosim did not start:"; cat "$TMP/$name.err"
	return 1
}

# stop_sim: SIGTERM, expect exit 0.
stop_sim() {
	kill -TERM "$SIMPID"
	wait "$SIMPID"
	local rc=$?
	check "metrosim exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
}

# value INDEX < mbpoll output: the value printed as "[INDEX]: <tab>VALUE"
value() { sed -n "s/^\[$1\]:[[:space:]]*//p" | head -n1; }
# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'; }

# ---- Modbus TCP -------------------------------------------------------------------------------
if start_sim tcp --rig flow-bench --modbus-tcp 127.0.0.1:0 --time-scale 20; then
	PORT=${FIRST##*:}
	check "first line is 'listening 127.0.0.1:PORT' ($FIRST)" \
		test "$FIRST" = "listening 127.0.0.1:$PORT" -a "$PORT" -gt 0
	MB=(mbpoll -m tcp -a 1 -0 -1 -p "$PORT")

	out=$("${MB[@]}" -r 0 -t 3 -c 11 127.0.0.1 2>&1)
	check "mbpoll reads input registers 0..10" test $? -eq 0
	check "water.temp raw 2000 (i16 scale 0.01: 20.00 degC)" test "$(value 8 <<<"$out")" = 2000
	check "water.pressure raw 3000 (u16 scale 0.1: 300.0 kPa)" test "$(value 9 <<<"$out")" = 3000
	check "status 0 (no fault, not collecting)" test "$(value 10 <<<"$out")" = 0

	out=$("${MB[@]}" -r 20 -t 3:hex -c 7 127.0.0.1 2>&1)
	model=""
	for i in 20 21 22 23 24 25 26; do model="$model$(value $i <<<"$out" | sed 's/^0x//')"; done
	check "model string registers spell 'metrosim FB-10' ($model)" \
		test "$model" = "$(printf 'metrosim FB-10' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"

	out=$("${MB[@]}" -r 0 -t 4:float -B 127.0.0.1 2.5 2>&1)
	check "mbpoll writes the f32 setpoint (ABCD)" test $? -eq 0
	out=$("${MB[@]}" -r 0 -t 4:float -B 127.0.0.1 2>&1)
	check "setpoint reads back 2.5 ($(value 0 <<<"$out"))" near "$(value 0 <<<"$out")" 2.5 1e-6
	out=$("${MB[@]}" -r 0 -t 0 127.0.0.1 1 2>&1)
	check "mbpoll writes coil flow.run" test $? -eq 0
	out=$("${MB[@]}" -r 0 -t 0 -c 3 127.0.0.1 2>&1)
	check "coils read back 1 0 0" test "$(value 0 <<<"$out")$(value 1 <<<"$out")$(value 2 <<<"$out")" = 100

	sleep 0.1
	q1=$("${MB[@]}" -r 0 -t 3:float -B 127.0.0.1 2>&1 | value 0)
	sleep 1.5 # 30 s simulated: 15 time constants
	q2=$("${MB[@]}" -r 0 -t 3:float -B 127.0.0.1 2>&1 | value 0)
	check "flow.actual rises ($q1 < $q2)" lt "$q1" "$q2"
	check "flow.actual below the setpoint early ($q1)" lt "$q1" 2.5
	check "flow.actual reaches the setpoint ($q2)" near "$q2" 2.5 1e-4
	p=$("${MB[@]}" -r 9 -t 3 127.0.0.1 2>&1 | value 9)
	check "water.pressure 300 - 2 * 2.5^2 = 287.5 kPa (raw $p)" test "$p" = 2875

	out=$("${MB[@]}" -r 40 -t 3 127.0.0.1 2>&1)
	rc=$?
	check "unmapped register: mbpoll fails with 'Illegal data address'" \
		test $rc -ne 0 -a -n "$(grep -i 'illegal data address' <<<"$out")"
	out=$("${MB[@]}" -r 5 -t 0 127.0.0.1 1 2>&1)
	check "writing an unmapped coil: 'Illegal data address'" \
		test -n "$(grep -i 'illegal data address' <<<"$out")"
	out=$("${MB[@]}" -r 8 -t 4 127.0.0.1 7 2>&1)
	check "writing an unmapped holding register: 'Illegal data address'" \
		test -n "$(grep -i 'illegal data address' <<<"$out")"
	stop_sim
else
	bad "metrosim --modbus-tcp did not start"
fi

# ---- Modbus RTU on a pty --------------------------------------------------------------------------
if start_sim rtu --rig electricity-bench --modbus-rtu --pty-link "$TMP/eb.tty" --time-scale 10; then
	PTY=$FIRST
	check "first line is the pty path ($PTY)" test -c "$PTY"
	check "--pty-link points to it" test "$(readlink "$TMP/eb.tty")" = "$PTY"
	RB=(mbpoll -m rtu -b 115200 -P none -a 1 -0 -1 -o 1)
	out=$("${RB[@]}" -r 8 -t 3:int -B "$TMP/eb.tty" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		bad "mbpoll RTU reads the pty (exit $rc): $(head -n1 <<<"$out")"
	else
		check "mbpoll RTU reads ref.constant 2000000 imp/kWh" test "$(value 8 <<<"$out")" = 2000000
		out=$("${RB[@]}" -u "$TMP/eb.tty" 2>&1)
		check "report slave id names the rig" test -n "$(grep 'metrosim electricity-bench' <<<"$out")"
		"${RB[@]}" -r 0 -t 4:float -B "$PTY" 230 >/dev/null 2>&1 &&
			"${RB[@]}" -r 2 -t 4:float -B "$PTY" 5 >/dev/null 2>&1 &&
			"${RB[@]}" -r 4 -t 4:float -B "$PTY" 60 >/dev/null 2>&1 &&
			"${RB[@]}" -r 0 -t 0 "$PTY" 1 >/dev/null 2>&1
		check "mbpoll RTU writes source setpoints and source.on" test $? -eq 0
		sleep 1 # 10 s simulated: 20 time constants of the source
		out=$("${RB[@]}" -r 0 -t 3:float -B -c 4 "$PTY" 2>&1)
		u=$(value 0 <<<"$out") i=$(value 2 <<<"$out") p=$(value 4 <<<"$out") ph=$(value 6 <<<"$out")
		check "ref.voltage 230 ($u)" near "$u" 230 1e-3
		check "ref.current 5 ($i)" near "$i" 5 1e-4
		check "ref.phase 60 ($ph)" near "$ph" 60 1e-3
		check "ref.power = U I cos(60 deg) = 575 W ($p)" near "$p" 575 0.01
		out=$(mbpoll -m rtu -b 115200 -P none -a 3 -0 -1 -o 0.3 -r 8 -t 3 "$PTY" 2>&1)
		check "another unit id gets no answer (timeout)" test -n "$(grep -i 'timed out' <<<"$out")"
	fi
	stop_sim
	check "the pty link is removed at exit" test ! -e "$TMP/eb.tty" -a ! -L "$TMP/eb.tty"
else
	bad "metrosim --modbus-rtu did not start"
fi
finish
