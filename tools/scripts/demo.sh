#!/usr/bin/env bash
# make demo: what a new user sees first.  Three simulated rigs — a water bench with 10
# positions on Modbus TCP, an electricity bench with 24 positions on Modbus RTU over a pty, a
# gas bell prover with 6 positions on the serial line protocol over a pty — and metrod on
# config/demo.yaml (control tcp://127.0.0.1:7710, publish tcp://127.0.0.1:7711, records in
# var/demo/).  One initial-verification batch per rig, with a few simulated meters set to fail
# at known points; live progress; the verdict table of each batch; certificates, notices, batch
# reports, the statistics table and exports in var/demo/reports/; then everything stops.
# People: the demo's lab has five (var/demo/keys, made fresh each time, and the registry in
# var/demo/demo.yaml, config/demo.yaml with `people:` and CURVE on the control endpoint): three
# operators and verifiers who each run their batch with their own key, a checker and an
# approver; every certificate is signed through the workflow (verified, checked, approved,
# issued: docs/operations.md) before it is printed.
#   KEEP=1   leave metrod and the simulators running, and say how to watch them.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
D=var/demo
mkdir -p "$D"
PIDS=()
fail() {
	echo "demo: FAILED: $*" >&2
	[ -f "$D/metrod.log" ] && { echo "--- $D/metrod.log (tail)" >&2; tail -n 20 "$D/metrod.log" >&2; }
	exit 1
}
cleanup() {
	if [ "${KEEP:-}" != 1 ] || [ "${demo_ok:-0}" != 1 ]; then
		local p
		for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
	fi
}
trap cleanup EXIT

# The demo's fixed ports must be free (a previous `make demo KEEP=1` may still run).
for port in 7710 7711 7720; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		fail "port $port is in use (a demo left running with KEEP=1? stop it: pkill -f 'metrod -c var/demo/demo.yaml'; pkill metrosim)"
	fi
done
rm -f "$D"/*.pty "$D"/records.db*
rm -rf "$D/keys"
t0=$SECONDS

sim() { # name, then metrosim arguments; waits for its first line
	local name=$1; shift
	"$B/metrosim" "$@" >"$D/$name.out" 2>"$D/$name.err" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$D/$name.out" ] && break; sleep 0.05; done
	[ -s "$D/$name.out" ] || fail "metrosim $name did not start: $(cat "$D/$name.err")"
	echo "  $name: $(head -n 1 "$D/$name.out")"
}
echo "== simulated rigs (time scale 120: a minute of flow takes half a second)"
sim water --rig flow-bench --modbus-tcp 127.0.0.1:7720 --meters config/sim/water-meters.yaml --time-scale 120
sim elec --rig electricity-bench --modbus-rtu --pty-link "$D/elec-1.pty" --positions 24 --baud 115200 --meters config/sim/electricity-meters.yaml --time-scale 120
sim gas --rig bell-prover --serial-line --pty-link "$D/gas-1.pty" --positions 6 --meters config/sim/gas-meters.yaml --time-scale 120

echo "== the lab's people: a key each (metroctl keygen --person), the registry in $D/demo.yaml"
K=$D/keys
mkdir -p "$K/clients"
"$B/metroctl" keygen daemon --dir "$K" >/dev/null || fail "keygen daemon"
# id:name:roles:procedures
people=("zhang:张工 (demo):operator, verifier:jjg162-*" "li:李工 (demo):operator, verifier:jjg596-*"
	"wang:王工 (demo):operator, verifier:jjg577-*" "liu:刘工 (demo):checker:jjg*"
	"zhao:赵主任 (demo):approver:")
{
	# config/demo.yaml, its paths made relative to var/demo/, CURVE on the control endpoint
	sed -e 's|\.\./var/demo/||' -e 's|- \.\./procedures|- ../../procedures|' \
		-e 's|profile: profiles/|profile: ../../config/profiles/|' \
		-e 's|^  endpoint: tcp://127.0.0.1:7710$|  endpoint: tcp://127.0.0.1:7710\n  curve: {secret_key: keys/daemon.key, clients: keys/clients}|' \
		config/demo.yaml
	echo "people:"
	for p in "${people[@]}"; do
		IFS=: read -r id name roles procs <<<"$p"
		"$B/metroctl" keygen "$id" --person --dir "$K" >/dev/null || fail "keygen $id"
		key=$(sed -n 's/^sign: "\(.*\)"$/\1/p' "$K/$id.pub")
		echo "  - {id: $id, name: \"$name\", roles: [$roles], qualification: {certificate: \"JDY-DEMO-$id\", valid_until: 2030-12-31},${procs:+ procedures: [\"$procs\"],} key: \"$key\"}"
		echo "      $id: $name, $roles" >&2
	done
} >"$D/demo.yaml" 2>"$D/people.txt"
sed 's/^      /  /' "$D/people.txt"
echo "== metrod on $D/demo.yaml"
"$B/metrod" --check-config "$D/demo.yaml" || fail "$D/demo.yaml is not valid"
# Each demo starts a new record store (its database was removed above); --init-store says so,
# and the store's first audit event records the demo history it replaces (docs/records.md).
"$B/metrod" -c "$D/demo.yaml" --init-store 2>"$D/metrod.log" &
PIDS+=($!)
as() { # PERSON metroctl-arguments...: metroctl as that person, with their own key
	local who=$1
	shift
	"$B/metroctl" --key "$K/$who.key" --server-key "$K/daemon.pub" "$@"
}
M="$B/metroctl"
for _ in $(seq 100); do as zhang -t 200 ping >/dev/null 2>&1 && break; sleep 0.1; done
as zhang ping >/dev/null || fail "metrod does not answer on tcp://127.0.0.1:7710"
up=
for _ in $(seq 50); do
	up=$(as zhang --json rigs | /usr/bin/python3 -c 'import json,sys; print(all(r["connected"] for r in json.load(sys.stdin)["rigs"]))')
	[ "$up" = True ] && break
	sleep 0.2
done
as zhang rigs
[ "$up" = True ] || fail "not every rig is connected"

echo "== one batch per rig"
runs=()
# Each batch is started by its verifier with their own key: the batch file's typed operator
# is left out (the run records the person the key authenticates).
for bw in water:zhang electricity:li gas:wang; do
	b=${bw%%:*}
	grep -v '^operator:' "config/batches/$b-initial.yaml" >"$D/$b-batch.yaml"
	out=$(as "${bw#*:}" --json start "$D/$b-batch.yaml") || fail "start $b: $out"
	run=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
	echo "  $b: run $run"
	runs+=("$run")
done
# follow exits 0 when every meter passed, 1 when a batch is done with failed meters (the demo's
# are: notices of nonconformity), anything else when a batch did not run to its end.
rc=0
as zhang follow "${runs[@]}" --auto-answer pass || rc=$? # recorded as automated answers
[ $rc -le 1 ] || fail "a batch did not run to its end (metroctl follow: exit $rc)"

echo
echo "== the records: every verdict is in var/demo/records.db, hash-chained and signed"
as zhang --json audit-head >/dev/null || fail "audit-head"
"$M" audit verify --db "$D/records.db" --pubkey "$D/records.pub" || fail "audit verify"
serial=$(as zhang --json run "${runs[0]}" | /usr/bin/python3 -c 'import json,sys; v=[x for x in json.load(sys.stdin)["run"]["verdicts"] if x["verdict"]=="fail"]; print(v[0]["serial"] if v else "")')
if [ -n "$serial" ]; then
	echo "== the evidence behind one notice of nonconformity: metroctl trace $serial"
	"$M" trace --db "$D/records.db" --pubkey "$D/records.pub" "$serial" >"$D/trace.txt" ||
		fail "trace $serial"
	head -n 12 "$D/trace.txt"
fi

echo "== the certificate workflow: each certificate and notice signed by three people"
# verified by the run's verifier, checked by 刘工, approved and issued by 赵主任, each step
# signed with the signer's own key (metroctl certify)
verifiers=(zhang li wang)
for i in 0 1 2; do
	run=${runs[$i]}
	numbers=$("$M" records run --db "$D/records.db" --json "$run" |
		/usr/bin/python3 -c 'import json,sys; print(" ".join(c["number"] for c in json.load(sys.stdin)["certificates"]))') ||
		fail "records run $run"
	n=0
	for num in $numbers; do
		for sw in verified:${verifiers[$i]} checked:liu approved:zhao issued:zhao; do
			as "${sw#*:}" certify "$num" "${sw%%:*}" >>"$D/certify.log" 2>&1 ||
				fail "certify $num ${sw%%:*}: $(tail -n 1 "$D/certify.log")"
		done
		n=$((n + 1))
	done
	echo "  run $run: $n signed by ${verifiers[$i]} (verified), liu (checked), zhao (approved, issued)"
done

echo "== reports in var/demo/reports/ (from the verified records only)"
R=$D/reports
rm -rf "$R"
mkdir -p "$R/certificates"
sign=(--pubkey "$D/records.pub")
for run in "${runs[@]}"; do
	"$M" report run --db "$D/records.db" --run "$run" -o "$R/run-$run.pdf" \
		--certificates "$R/certificates" "${sign[@]}" >"$D/report-$run.log" ||
		fail "report run $run: $(tail -n 3 "$D/report-$run.log")"
	echo "  run $run: batch report with error curves, $(grep -c 'verification certificate' "$D/report-$run.log") certificates, $(grep -c 'notice of nonconformity' "$D/report-$run.log") notices"
done
today=$(date +%F)
for fmt in xlsx csv; do
	"$M" report stats --db "$D/records.db" --pubkey "$D/records.pub" --from "$today" --to "$today" \
		--extra config/reports/stats-extra.yaml --include-simulated --format $fmt \
		-o "$R/statistics.$fmt" >/dev/null 2>"$D/stats.log" || fail "report stats: $(cat "$D/stats.log")"
done
"$M" report summary --db "$D/records.db" --pubkey "$D/records.pub" --from "$today" --to "$today" \
	--include-simulated --format xlsx -o "$R/summary.xlsx" >/dev/null 2>"$D/summary.log" ||
	fail "report summary: $(cat "$D/summary.log")"
"$M" export results --db "$D/records.db" --pubkey "$D/records.pub" --from "$today" --to "$today" \
	--include-simulated --format csv -o "$R/results.csv" 2>/dev/null || fail "export results"
"$M" export inventory --db "$D/records.db" --pubkey "$D/records.pub" --from "$today" --to "$today" \
	--include-simulated -o "$R/inventory.csv" 2>/dev/null || fail "export inventory"
echo "  statistics table: $R/statistics.xlsx (and .csv), summary.xlsx; exports: results.csv, inventory.csv"
echo "  (the demo's records come from simulated rigs: every document says so)"
echo "== a second, independent verifier of the chain (tests/lib/chain_verify.py, written from docs/records.md)"
cv=$(/usr/bin/python3 tests/lib/chain_verify.py "$D/records.db" --pubkey "$D/records.pub" 2>&1) ||
	fail "chain_verify.py: $(head -n 5 <<<"$cv")"
echo "  $cv"
echo "demo: done in $((SECONDS - t0)) s"
demo_ok=1
if [ "${KEEP:-}" = 1 ]; then
	cat <<MSG

metrod and the simulators keep running (KEEP=1).  The control endpoint takes the people's
keys (CURVE); as 张工, try:
  export METRO_KEY=$K/zhang.key METRO_SERVER_KEY=$K/daemon.pub
  $B/metroctl rigs
  $B/metroctl watch reading.water-1        # live documents; Ctrl-C to stop
  $B/metroctl runs
Stop them with:  pkill -f 'metrod -c $D/demo.yaml'; pkill metrosim
MSG
fi
