# rigs.sh — sourced by integration tests: simulated rigs (metrosim) and a metrod on free ports
# in a temporary directory, torn down on exit.  Needs METRO_BUILD (default build/san).
B=${METRO_BUILD:-build/san}
TMP=$(mktemp -d)
PIDS=()
pass=0
fail=0
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

check() { # name got want
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1)); echo "ok   $1"
	else
		fail=$((fail + 1)); echo "FAIL $1: got '$2', want '$3'"
	fi
}

finish() {
	if [ $fail -ne 0 ]; then
		echo "--- metrod log (tail) ---"; tail -n 40 "$TMP/metrod.log" 2>/dev/null
	fi
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ]
}

# start_sim NAME ARGS...: metrosim in the background; its first stdout line (address or pty
# path) lands in the variable SIM_<NAME>.
start_sim() {
	local name=$1; shift
	"$B/metrosim" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	eval "SIM_PID_$name=$!"
	local i line=
	for i in $(seq 100); do
		line=$(head -n 1 "$TMP/$name.out" 2>/dev/null)
		[ -n "$line" ] && break
		sleep 0.05
	done
	if [ -z "$line" ]; then echo "metrosim $name did not start:"; cat "$TMP/$name.err"; exit 1; fi
	eval "SIM_$name=\"\${line#listening }\""
}

# start_metrod CONFIG: metrod in the background on the endpoints of the config; waits for ping.
start_metrod() {
	"$B/metrod" -c "$1" 2>>"$TMP/metrod.log" &
	METROD_PID=$!
	PIDS+=($METROD_PID)
	local i
	for i in $(seq 100); do
		"$B/metroctl" -e "$CTL" -t 200 ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "metrod did not answer:"; cat "$TMP/metrod.log"; exit 1
}

mctl() { "$B/metroctl" -e "$CTL" "$@"; }

# json EXPR: evaluate a Python expression over the JSON on stdin bound to `d`.
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A daemon configuration header with free ports; rigs are appended by the test.
CTL_PORT=$(free_port)
PUB_PORT=$(free_port)
CTL=tcp://127.0.0.1:$CTL_PORT
PUB=tcp://127.0.0.1:$PUB_PORT
config_head() {
	cat <<YAML
station: {id: it-lab, name: Integration test lab, institution: Test institute, authorisation: "T-0001"}
control: {endpoint: "$CTL"}
publish: {endpoint: "$PUB"}
store: {path: $TMP/records.db}
procedures: [$PWD/procedures]
standards:
  - {id: ws, description: Flow bench, certificate: C-W-1, issuer: Test, calibrated: 2026-01-01, due: 2099-01-01, uncertainty: {value: 0.2, k: 2}}
  - {id: es, description: Reference meter, certificate: C-E-1, issuer: Test, calibrated: 2026-01-01, due: 2099-01-01, class: "0.05"}
  - {id: gs, description: Bell prover, certificate: C-G-1, issuer: Test, calibrated: 2026-01-01, due: 2099-01-01, uncertainty: {value: 0.2, k: 2}}
rigs:
YAML
}

# water_bench SCALE [CONNECTION-KEYS [SIM-ARGS...]]: a 10-position flow bench (metrosim over
# Modbus TCP, the meters of tests/data/sim/flow-bench-meters.yaml; its port in $port) and a
# metrod configuration for it in $TMP/metrod.yaml.  CONNECTION-KEYS are added to the rig's
# connection (e.g. "timeout_ms: 200, retries: 1"; "" for none), SIM-ARGS to metrosim's command
# line (e.g. --faults ...).  water_probe CHANNEL...: metroctl probe of that bench.
water_bench() {
	local scale=$1 extra=${2:+, $2}
	shift $(($# < 2 ? $# : 2))
	start_sim water --rig flow-bench --modbus-tcp 127.0.0.1:0 \
		--meters tests/data/sim/flow-bench-meters.yaml --time-scale "$scale" "$@"
	port=${SIM_water##*:}
	{ config_head; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $port$extra}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: 20, simulated: true, time_scale: $scale}
YAML
	} >"$TMP/metrod.yaml"
}
water_probe() {
	"$B/metroctl" --json probe --driver modbus-tcp --host 127.0.0.1 --port "$port" \
		--profile config/profiles/flow-bench.yaml --positions 10 "$@"
}

# gas_bench SCALE [SIM-ARGS...]: a 6-position bell prover (metrosim on a pty, serial line protocol, the
# meters of tests/data/sim/gas-test-meters.yaml) and a metrod configuration for it in
# $TMP/metrod.yaml; config/batches/gas-initial.yaml without position 6 in $TMP/batch.yaml.
gas_bench() {
	local scale=$1
	shift
	start_sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 \
		--meters tests/data/sim/gas-test-meters.yaml --time-scale "$scale" "$@"
	{ config_head; cat <<YAML
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/gas.pty, baud: 9600}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs], sample_hz: 2, simulated: true, time_scale: $scale}
YAML
	} >"$TMP/metrod.yaml"
	grep -v 'position: 6,' config/batches/gas-initial.yaml >"$TMP/batch.yaml"
}

# CURVE clients (test_security, test_refusals, test_people, test_workflow): keys in $K.
K=$TMP/keys
# keys [--person] NAME...: a key per NAME in $K (metroctl keygen; --person: a person's key)
keys() {
	local person=
	[ "$1" = --person ] && { person=--person; shift; }
	mkdir -p "$K/clients"
	local n
	for n in "$@"; do "$B/metroctl" keygen "$n" $person --dir "$K" >/dev/null || exit 1; done
}
# sign NAME: a person's Ed25519 public key (hex), for their `people:` entry
sign() { sed -n 's/^sign: "\(.*\)"$/\1/p' "$K/$1.pub"; }
# curve_control FILE: CURVE on FILE's control endpoint ($K/daemon.key, allowlist $K/clients)
curve_control() {
	sed -i "s|^control: {endpoint: \"$CTL\"}|control: {endpoint: \"$CTL\", curve: {secret_key: $K/daemon.key, clients: $K/clients}}|" "$1"
}
# as WHO ARGS...: metroctl with WHO's key against $K/daemon.pub (timeout AS_TIMEOUT ms)
as() { local who=$1; shift; "$B/metroctl" -e "$CTL" -t "${AS_TIMEOUT:-3000}" --key "$K/$who.key" --server-key "$K/daemon.pub" "$@"; }
