#!/usr/bin/env bash
# SIGHUP reload, as docs/configuration.md "Reload (SIGHUP)" promises it, on two simulated flow
# benches (water-1 runs a real batch, water-2 only samples):
#  (a) a file that changes the rig with a run in progress is refused whole: the run goes on and
#      ends with its verdicts, the generation stays, status names the rig and the run, and the
#      other rig's change in the same file is not applied; a file that changes only the idle
#      rig is applied during the run without touching the running rig;
#  (b) an endpoint that cannot be bound refuses the reload: the old endpoints keep working, a
#      new endpoint already bound by the same reload is released again, nothing else changes;
#  (c) an applied reload keeps an unchanged rig's actor: the same TCP connection to its
#      simulator and counters that go on counting; the changed rig gets a new actor with its
#      new configuration;
#  (d) an invalid file changes nothing and names FILE:LINE:COL in the log and in status;
#  (e) a serial rig (a bell prover on a pty) changed again and again: its old actor is stopped
#      before the new one opens the line, so their exchanges never cross.
# Connections are read from /proc/net/tcp (the simulators' side of the sockets), counters from
# the health documents of `metroctl watch`.
set -u
. tests/lib/rigs.sh
SCALE=120
# Two flow benches over Modbus TCP; -v: each simulator logs every connection it accepts with
# the number of clients it then has ("client connected (N)").
for n in w1 w2; do
	start_sim $n --rig flow-bench --modbus-tcp 127.0.0.1:0 -v \
		--meters tests/data/sim/flow-bench-meters.yaml --time-scale $SCALE
done
port1=${SIM_w1##*:}
port2=${SIM_w2##*:}
CFG=$TMP/metrod.yaml

conf() { # HZ1 HZ2 [GAS-TIMEOUT]: water-1 sampling at HZ1, water-2 at HZ2 (and gas-1)
	{
		config_head
		cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $port1}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: $1, simulated: true, time_scale: $SCALE}
  - {id: water-2, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $port2}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: $2, simulated: true, time_scale: $SCALE}
YAML
		[ -z "${3:-}" ] || cat <<YAML
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/gas.pty, baud: 9600, timeout_ms: $3}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs], sample_hz: 2, simulated: true, time_scale: $SCALE}
YAML
	} >"$CFG"
}
# accepts SIM: the connections the simulator accepted so far; accepted SIM: the last one's
# "(N)", the number of clients it had then.
accepts() { grep -c "client connected" "$TMP/$1.err"; }
accepted() { grep "client connected" "$TMP/$1.err" | tail -n 1 | sed 's/.*connected //'; }

# tcp_conns PORT: the local ports of the established connections to PORT (the rig actor's
# connection to its simulator), sorted, comma-separated.  tcp_listening PORT: 1 when a socket
# listens on PORT, else 0.
tcp_scan() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import sys
mode, port = sys.argv[1], int(sys.argv[2])
conns, listening = [], 0
for line in open("/proc/net/tcp").readlines()[1:]:
    f = line.split()
    lport, rport, st = int(f[1].split(":")[1], 16), int(f[2].split(":")[1], 16), f[3]
    if st == "01" and rport == port:
        conns.append(lport)
    if st == "0A" and lport == port:
        listening = 1
print(",".join(map(str, sorted(conns))) if mode == "conns" else listening)
PY
}
tcp_conns() { tcp_scan conns "$1"; }
tcp_listening() { tcp_scan listen "$1"; }

status() { mctl --json status | json "$1"; }
rig() { mctl --json rigs | json "[r for r in d['rigs'] if r['id']=='$1'][0]$2"; }
# wait_eq SECONDS WANT CMD...: poll until CMD prints WANT (bounded); the caller checks after.
wait_eq() {
	local n=$(($1 * 10)) want=$2 i
	shift 2
	for i in $(seq $n); do
		[ "$("$@" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
# Health documents of a rig, as `metroctl watch` printed them.
hcount() { grep -c "^health\.$1 " "$TMP/health.out"; }
hlast() { grep "^health\.$1 " "$TMP/health.out" | tail -n 1 | cut -d' ' -f2-; }
# wait_health RIG: wait for two health documents of RIG newer than the ones seen so far (the
# first may have been under way when we looked).
wait_health() {
	local n i
	n=$(hcount "$1")
	for i in $(seq 100); do
		[ "$(hcount "$1")" -ge $((n + 2)) ] && return 0
		sleep 0.1
	done
	return 1
}
hdev() { hlast "$1" | json "d['device']$2"; }
# hup WHAT WANT: SIGHUP, then wait until status shows WHAT (a Python expression) = WANT.
hup() {
	kill -HUP "$METROD_PID"
	wait_eq 10 "$2" status "$1"
}

conf 20 20
start_metrod "$CFG"
"$B/metroctl" -e "$CTL" watch health. >"$TMP/health.out" 2>"$TMP/watch.err" &
PIDS+=($!)
wait_eq 10 idle rig water-1 "['state']"
wait_eq 10 idle rig water-2 "['state']"
wait_health water-1
wait_health water-2
check "generation 1 at start" "$(status "d['config_generation']")" "1"
c1=$(tcp_conns $port1)
c2=$(tcp_conns $port2)
check "water-1 has one connection to its simulator" "$(tr , '\n' <<<"$c1" | grep -c .)" "1"
check "water-2 has one connection to its simulator" "$(tr , '\n' <<<"$c2" | grep -c .)" "1"
check "each simulator accepted one client" "$(accepts w1) $(accepts w2)" "1 1"

# A real batch on water-1, answered by metroctl.
"$B/metroctl" -e "$CTL" --json start config/batches/water-initial.yaml --wait --auto-answer pass \
	>"$TMP/run.out" 2>"$TMP/run.err" &
RUN_PID=$!
PIDS+=($RUN_PID)
wait_eq 10 running rig water-1 "['state']"
run=$(rig water-1 ".get('run')")
check "a run is in progress on water-1" "$(rig water-1 "['state']") $([ -n "$run" ] && echo with-id)" "running with-id"

# (a) water-1 (running) and water-2 (idle) both change: refused whole.
conf 10 10
hup "d['reloads_failed']" 1
check "(a) the reload is refused" "$(status "d['reloads_failed']")" "1"
check "(a) the generation is unchanged" "$(status "d['config_generation']")" "1"
check "(a) status names the rig and its run" "$(status "d['last_reload_error']")" \
	"rig water-1 has run $run in progress: its configuration cannot change now"
check "(a) the log says the reload was refused" \
	"$(grep -cF "<3>configuration reload refused: rig water-1 has run $run in progress" "$TMP/metrod.log")" "1"
check "(a) the run goes on" "$(rig water-1 "['state']") $(rig water-1 "['run']")" "running $run"
check "(a) water-1 keeps its sampling rate" "$(rig water-1 "['sample_hz']")" "20.0"
check "(a) water-2's change is not applied either" "$(rig water-2 "['sample_hz']")" "20.0"
check "(a) water-1 keeps its connection" "$(tcp_conns $port1)" "$c1"
check "(a) water-2 keeps its connection" "$(tcp_conns $port2)" "$c2"
check "(a) no simulator saw a new client" "$(accepts w1) $(accepts w2)" "1 1"

# (a') only the idle rig changes: applied during the run, the running rig untouched.
conf 20 10
hup "d['config_generation']" 2
check "(a') a change of the idle rig alone is applied during the run" "$(status "d['config_generation']")" "2"
check "(a') and clears the last error" "$(status "d.get('last_reload_error')")" "None"
check "(a') water-2 takes its new rate" "$(rig water-2 "['sample_hz']")" "10.0"
wait_eq 10 1 eval 'tcp_conns $port2 | tr , "\n" | grep -c .'
c2b=$(tcp_conns $port2)
check "(a') water-2 has one new connection" "$([ -n "$c2b" ] && [ "$c2b" != "$c2" ] && echo new)" "new"
check "(a') water-2's old actor let go of its device before the new one connected" \
	"$(accepts w2) $(accepted w2)" "2 (1)"
check "(a') the run goes on" "$(rig water-1 "['state']") $(rig water-1 "['run']")" "running $run"
check "(a') water-1 keeps its connection" "$(tcp_conns $port1)" "$c1"

# (b) endpoints that cannot be bound (the simulators hold those ports), with a change of
# water-2 in the same file.  First the control endpoint moves to a free port (it binds) and
# the publish endpoint to a held one: the new control socket must be given up again.
n_before=$(hcount water-1)
newctl=$(free_port)
CTL=tcp://127.0.0.1:$newctl PUB=tcp://127.0.0.1:$port2 conf 20 5
hup "d['reloads_failed']" 2
check "(b) a publish endpoint in use refuses the reload" "$(status "d['last_reload_error']")" "cannot bind tcp://127.0.0.1:$port2: Address already in use"
check "(b) the log names the endpoint" "$(grep -cF "<3>cannot bind tcp://127.0.0.1:$port2: Address already in use" "$TMP/metrod.log")" "1"
check "(b) the generation is unchanged" "$(status "d['config_generation']")" "2"
check "(b) status still gives the old publish endpoint" "$(status "d['publish']")" "$PUB"
wait_eq 10 0 tcp_listening "$newctl"
check "(b) the control endpoint bound by the refused reload is released" "$(tcp_listening "$newctl")" "0"
check "(b) water-2's change is not applied" "$(rig water-2 "['sample_hz']")" "10.0"
CTL=tcp://127.0.0.1:$port1 conf 20 5
hup "d['reloads_failed']" 3
check "(b) a control endpoint in use refuses the reload" "$(status "d['last_reload_error']")" "cannot bind tcp://127.0.0.1:$port1: Address already in use"
check "(b) the log names that endpoint" "$(grep -cF "<3>cannot bind tcp://127.0.0.1:$port1: Address already in use" "$TMP/metrod.log")" "1"
check "(b) the generation is still unchanged" "$(status "d['config_generation']")" "2"
check "(b) the old control endpoint answers" "$(mctl ping >/dev/null && echo yes)" "yes"
wait_health water-1
check "(b) the old publish endpoint still delivers" "$([ "$(hcount water-1)" -gt "$n_before" ] && echo yes)" "yes"
check "(b) water-2 still at its rate" "$(rig water-2 "['sample_hz']")" "10.0"
check "(b) water-1 keeps its connection" "$(tcp_conns $port1)" "$c1"
check "(b) water-2 keeps its connection" "$(tcp_conns $port2)" "$c2b"
check "(b) no simulator saw a new client" "$(accepts w1) $(accepts w2)" "1 2"
check "(b) the run goes on" "$(rig water-1 "['state']") $(rig water-1 "['run']")" "running $run"

# The batch ends as it would have without the reloads (test_engine_water.sh's meters).
result() { mctl --json run "$run" | json "d['run'].get('result')"; }
wait_eq 200 yes eval '[ "$(result)" != None ] && echo yes'
check "(a, b) the run ends normally" "$(result)" "done"
check "(a, b) nine verdicts, position 3 fails" \
	"$(mctl --json run "$run" | json "sorted((v['position'], v['verdict']) for v in d['run']['verdicts'] if v['verdict'] != 'pass')") $(mctl --json run "$run" | json "len(d['run']['verdicts'])")" \
	"[(3, 'fail')] 9"
wait_eq 10 idle rig water-1 "['state']"
for _ in $(seq 100); do kill -0 $RUN_PID 2>/dev/null || break; sleep 0.1; done
kill $RUN_PID 2>/dev/null # still waiting: the check below fails
wait $RUN_PID
check "(a, b) metroctl start --wait saw the run to its end (exit 1: done, position 3 failed)" "$?" "1"
check "(a, b) water-1 kept one connection through the run" "$(tcp_conns $port1)" "$c1"

# (c) idle: water-1 changes, water-2 (10 Hz) stays.  water-2 keeps its actor: the same
# connection, and counters that go on from where they were.
conf 10 10
wait_health water-2
h2=$(hlast water-2)
wait_health water-1
tx1=$(hdev water-1 "['transactions']")
hup "d['config_generation']" 3
check "(c) the reload is applied" "$(status "d['config_generation']")" "3"
wait_health water-2
h2b=$(hlast water-2)
f() { json "$1" <<<"$2"; }
check "(c) water-2 keeps its connection" "$(tcp_conns $port2)" "$c2b"
check "(c) water-2's simulator saw no new client" "$(accepts w2)" "2"
check "(c) water-2's transactions go on counting" \
	"$(f "d['device']['transactions'] > $(f "d['device']['transactions']" "$h2")" "$h2b")" "True"
check "(c) water-2's ticks go on counting" \
	"$(f "d['ticks']['count'] > $(f "d['ticks']['count']" "$h2")" "$h2b")" "True"
for k in reconnects timeouts io_errors proto_errors device_errors other_errors; do
	check "(c) water-2's $k unchanged" "$(f "d['device']['$k']" "$h2b")" "$(f "d['device']['$k']" "$h2")"
done
check "(c) water-2 is connected" "$(f "d['device']['connected']" "$h2b") $(rig water-2 "['state']")" "True idle"
wait_eq 10 1 eval 'tcp_conns $port1 | tr , "\n" | grep -c .'
c1b=$(tcp_conns $port1)
check "(c) water-1 has one new connection" "$([ -n "$c1b" ] && [ "$c1b" != "$c1" ] && echo new)" "new"
check "(c) water-1's old actor let go of its device before the new one connected" \
	"$(accepts w1) $(accepted w1)" "2 (1)"
check "(c) water-1 takes its new rate" "$(rig water-1 "['sample_hz']")" "10.0"
wait_health water-1
check "(c) water-1's new actor samples at 10 Hz" "$(hlast water-1 | json "d['ticks']['period_ms']")" "100.0"
check "(c) water-1's counters start again" "$([ "$(hdev water-1 "['transactions']")" -lt "$tx1" ] && echo yes)" "yes"
wait_eq 10 idle rig water-1 "['state']"
check "(c) water-1 is idle and connected" "$(rig water-1 "['state']") $(rig water-1 "['connected']")" "idle True"

# (d) an invalid file (water-2 out of range, an unknown key) with a change of water-1: nothing
# changes; every problem at FILE:LINE:COL in the log, the first one in status.
conf 20 5000
echo "bogus: 1" >>"$CFG"
l2=$(grep -n 'id: water-2' "$CFG" | cut -d: -f1)
col2=$(awk -v l="$l2" 'NR == l { print index($0, "sample_hz: 5000") + 11 }' "$CFG")
lb=$(wc -l <"$CFG")
hup "d['reloads_failed']" 4
check "(d) the generation is unchanged" "$(status "d['config_generation']")" "3"
e_rate="$CFG:$l2:$col2: rigs[1].sample_hz: "
e_key="$CFG:$lb:1: unknown key 'bogus'"
check "(d) the log names the rate at FILE:LINE:COL" "$(grep -cF "<3>$e_rate" "$TMP/metrod.log")" "1"
check "(d) the log names the unknown key at FILE:LINE:COL" "$(grep -cF "<3>$e_key" "$TMP/metrod.log")" "1"
first=$(sed -n '/reloading configuration/h; //!H; ${x; p}' "$TMP/metrod.log" | grep -m1 -F "<3>$CFG:")
check "(d) status gives the first problem logged, at FILE:LINE:COL" \
	"$(status "d['last_reload_error']")" "${first#<3>}"
check "(d) ... which is one of the two" "$(case "${first#<3>}" in "$e_rate"* | "$e_key"*) echo yes ;; esac)" "yes"
check "(d) water-1's change is not applied" "$(rig water-1 "['sample_hz']")" "10.0"
check "(d) water-2 unchanged" "$(rig water-2 "['sample_hz']")" "10.0"
check "(d) both rigs keep their connections" "$(tcp_conns $port1) $(tcp_conns $port2)" "$c1b $c2b"
check "(d) no simulator saw a new client" "$(accepts w1) $(accepts w2)" "2 2"
check "(d) four reloads refused in all" "$(status "d['reloads_failed']")" "4"

# (e) a serial line (a bell prover on a pty) added, then changed three times.  The simulator
# holds every reply back 40 ms, so the old actor is mid-exchange most of the time: were the new
# actor to open the line before the old one is stopped, their requests and replies would cross
# (protocol errors, safe state not confirmed, the rig unsafe).
start_sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 \
	--meters tests/data/sim/gas-test-meters.yaml --time-scale $SCALE --faults late=1:40
g=3
for t in 300 400 500 600; do
	conf 10 10 $t
	g=$((g + 1))
	hup "d['config_generation']" $g
	wait_eq 15 idle rig gas-1 "['state']"
done
check "(e) four reloads applied" "$(status "d['config_generation']") $(rig gas-1 "['state']")" "7 idle"
check "(e) every old actor confirmed its safe state" "$(grep -cF "rig gas-1: safe state" "$TMP/metrod.log")" "0"
check "(e) no new actor found the rig unsafe" "$(grep -cF "rig gas-1: unsafe" "$TMP/metrod.log")" "0"
check "(e) no exchange failed on the line" "$(grep -c "<4>rig gas-1: " "$TMP/metrod.log")" "0"
wait_health gas-1
check "(e) the last actor's counters: no protocol error, no timeout" \
	"$(hdev gas-1 "['proto_errors'], d['device']['timeouts'], d['device']['connected']")" "0 0 True"
check "(e) the flow benches kept their connections" "$(tcp_conns $port1) $(tcp_conns $port2)" "$c1b $c2b"
check "(e) no flow bench simulator saw a new client" "$(accepts w1) $(accepts w2)" "2 2"
finish
