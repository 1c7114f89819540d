#!/usr/bin/env bash
# Crash safety: metrod is killed with SIGKILL during simulated runs (at a random moment, or
# the moment a result is published), KILLS times (default 6 in `make check`; `make kill-campaign` runs 200), and restarted each time on
# the same record store.  Judged:
#   - runs were started and subscribers saw verdicts (a campaign that tested nothing fails);
#   - after EVERY restart the rig reaches its safe state: `rigs` says idle, which the rig
#     actor says only once the safe values (valve closed, flow setpoint 0) were written and
#     read back (daemon/rig.c); and the simulated device itself holds them: metrod is killed
#     again while idle and `metroctl probe` reads valve and flow.setpoint from the bell
#     prover.  (Not while metrod holds the line: the pty, like the serial line it stands for,
#     is point to point with no locking, and two programs sending commands on it would take
#     each other's replies.)  Then metrod is started again for the run;
#   - results are committed before they are published: every verdict, and every other result
#     document, a subscriber saw is in the database.  Every other kill is aimed at that: the
#     subscriber itself kills metrod the moment a result arrives (the first run's first
#     verdict, later the N-th result of a run), racing the commit of a result that would have
#     been published before it was committed; the other kills come at a random moment;
#   - seqs never repeat across kills (docs/records.md, "Certificate numbers and document
#     seqs"): no seq a subscriber received names two different documents, every seq received
#     after a restart is above every seq received before it, seqs in `documents` are unique,
#     and every received document whose seq is stored is stored as that very document;
#   - afterwards the database passes PRAGMA integrity_check and `metroctl audit verify` with
#     the station's public key, every run is either done or marked incomplete (never
#     silently resumed), and metrod stops cleanly.
set -u
. tests/lib/rigs.sh
KILLS=${KILLS:-6}
SCALE=240
RANDOM=${SEED:-4242}
start_sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 --meters tests/data/sim/gas-test-meters.yaml --time-scale $SCALE
{ config_head; cat <<YAML
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/gas.pty}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs], sample_hz: 2, simulated: true, time_scale: $SCALE}
YAML
} >"$TMP/metrod.yaml"
grep -v 'position: 6,' config/batches/gas-initial.yaml >"$TMP/batch.yaml"

rig_state() { mctl --json rigs 2>/dev/null | json "d['rigs'][0]['state']" 2>/dev/null; }

# start_safe LABEL: start metrod and wait (bounded) for the rig to say idle, i.e. its safe
# state was read back.  Counts restarts and those that reached the safe state.
restarts=0 safe_restarts=0
start_safe() {
	start_metrod "$TMP/metrod.yaml"
	restarts=$((restarts + 1))
	local st='' i
	for i in $(seq 300); do
		st=$(rig_state)
		[ "$st" = idle ] && break
		sleep 0.1
	done
	if [ "$st" = idle ]; then
		safe_restarts=$((safe_restarts + 1))
	else
		echo "restart $restarts ($1): rig state '$st' after 30 s, not idle"
	fi
}

# The bell prover's outputs as the simulated device holds them: "VALVE SETPOINT".
outputs() {
	"$B/metroctl" --json probe --driver serial-line --device "$TMP/gas.pty" \
		--profile config/profiles/bell-prover.yaml --positions 6 valve flow.setpoint \
		2>>"$TMP/probe.err" | json "'%s %s' % (d['valve'], d['flow.setpoint'])" 2>>"$TMP/probe.err"
}

kill9() {
	kill -9 "$METROD_PID"
	wait "$METROD_PID" 2>/dev/null
}

started=0 probes=0 probes_off=0 left_on=0 subs_live=0 aimed_kills=0 on_result=0
for k in $(seq "$KILLS"); do
	# Recovery of the previous kill (a fresh store the first time): safe state read back by
	# metrod, then confirmed on the device with metrod gone.
	start_safe "recovery $k"
	kill9
	out=$(outputs)
	probes=$((probes + 1))
	if [ "$out" = "0.0 0.0" ]; then
		probes_off=$((probes_off + 1))
	else
		echo "after restart $restarts: the device holds valve, flow.setpoint = '$out', not '0.0 0.0'"
	fi
	start_safe "run $k"
	# Every other kill is aimed: the subscriber kills metrod the moment a result document
	# arrives (the first run's first verdict, later the N-th result, N random), when a result
	# published before its commit would be lost.  The others come at a random time of the run.
	aimed=$((k % 2)) opts=all
	if [ $k = 1 ]; then
		opts="all kill-on=verdict:1:$METROD_PID"
	elif [ $aimed = 1 ]; then
		opts="all kill-on=result:$((1 + RANDOM % 30)):$METROD_PID"
	fi
	/usr/bin/python3 tests/lib/stream_client.py subscribe "$PUB" "$TMP/sub-$k.jsonl" 600 $opts >"$TMP/sub-$k.out" 2>&1 &
	sub=$!
	PIDS+=($sub)
	# The subscription is live once a document (a reading, 2 a second) has arrived.
	for _ in $(seq 100); do [ -s "$TMP/sub-$k.jsonl" ] && break; sleep 0.1; done
	[ -s "$TMP/sub-$k.jsonl" ] && subs_live=$((subs_live + 1))
	if mctl --json start "$TMP/batch.yaml" >"$TMP/start-$k.json" 2>&1; then started=$((started + 1)); fi
	# Answer the judgement prompts as they come until the kill: the subscriber's (bounded),
	# or ours after a random time.
	end=$((SECONDS + 2 + RANDOM % 12))
	[ $aimed = 1 ] && end=$((SECONDS + 300)) aimed_kills=$((aimed_kills + 1))
	while [ $SECONDS -lt $end ] && kill -0 "$METROD_PID" 2>/dev/null; do
		p=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0].get('prompt') or ''" 2>/dev/null)
		[ -n "$p" ] && mctl input gas-1 "$p" pass --operator "kill campaign" >/dev/null 2>&1
		sleep 0.$((RANDOM % 9 + 1))
	done
	if [ $aimed = 1 ]; then
		if kill -0 "$METROD_PID" 2>/dev/null; then
			echo "run $k: not killed on a result within 300 s"
			kill9
		else
			wait "$METROD_PID" 2>/dev/null
			on_result=$((on_result + 1))
		fi
	else
		kill9
	fi
	# What the kill left on the device (the restart must undo it).
	[ "$(outputs)" != "0.0 0.0" ] && left_on=$((left_on + 1))
	kill -TERM "$sub" 2>/dev/null
	wait "$sub" 2>/dev/null
done
# A last start: recovery of the last kill, and a clean stop.
start_safe "final"
kill "$METROD_PID"
for _ in $(seq 300); do kill -0 "$METROD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$METROD_PID" 2>/dev/null && { echo "metrod still running 30 s after SIGTERM"; kill -9 "$METROD_PID"; }
wait "$METROD_PID"
stop_rc=$?
echo "$KILLS kills ($aimed_kills on a result's arrival), $started runs started, $restarts restarts; $left_on kills left the valve open or the flow set"
check "runs started" "$([ "$started" -gt 0 ] && echo yes)" "yes"
check "every subscriber received documents before its run started" "$subs_live" "$KILLS"
check "every aimed kill came on a result's arrival" "$on_result" "$aimed_kills"
check "the rig reached its safe state after every restart" "$safe_restarts" "$restarts"
check "the device's valve closed and flow setpoint 0 after every recovery (probe)" "$probes_off" "$probes"
check "metrod stops cleanly after the last restart" "$stop_rc" "0"
check "integrity_check" "$(sqlite3 "$TMP/records.db" 'PRAGMA integrity_check;')" "ok"
"$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >"$TMP/verify.out" 2>&1
check "audit verify with the station's public key" "$?" "0"
tail -n 1 "$TMP/verify.out"
states=$(sqlite3 "$TMP/records.db" "SELECT DISTINCT state FROM runs WHERE state NOT IN ('done', 'incomplete');")
check "every run is done or incomplete" "$states" ""
check "runs recorded" "$(sqlite3 "$TMP/records.db" 'SELECT count(*) FROM runs;')" "$started"
read -r verdicts missing results unstored docs repeats backwards stored dup_db differ < <(/usr/bin/python3 - "$TMP" "$KILLS" <<'PY'
import json, sqlite3, sys
tmp, kills = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(tmp + "/records.db")
stored = {s: (t, json.loads(b)) for s, t, b in db.execute("SELECT seq, topic, body FROM documents")}
verdicts = missing = results = unstored = docs = backwards = same_stored = differ = 0
by_seq = {}
top = 0
for k in range(1, kills + 1):
    got = [json.loads(l) for l in open("%s/sub-%d.jsonl" % (tmp, k)) if l.strip()]
    seqs = [g["doc"]["seq"] for g in got]
    if seqs and min(seqs) <= top:
        backwards += 1
        print("subscriber %d received seq %d, not above %d received before" % (k, min(seqs), top),
              file=sys.stderr)
    top = max(seqs + [top])
    for g in got:
        docs += 1
        seq = g["doc"]["seq"]
        by_seq.setdefault(seq, set()).add(json.dumps(g, sort_keys=True))
        if g["topic"].startswith("verdict."):
            verdicts += 1
            missing += seq not in stored
        if g["topic"].split(".")[0] not in ("reading", "health"):
            results += 1
            if seq not in stored:
                unstored += 1
                print("seq %d (%s) received, not stored" % (seq, g["topic"]), file=sys.stderr)
        if seq in stored:
            same_stored += 1
            if stored[seq] != (g["topic"], g["doc"]):
                differ += 1
                print("seq %d: received %s, stored %s" % (seq, g["topic"], stored[seq][0]),
                      file=sys.stderr)
repeats = sum(1 for v in by_seq.values() if len(v) > 1)
dup_db = db.execute("SELECT count(*) - count(DISTINCT seq) FROM documents").fetchone()[0]
print(verdicts, missing, results, unstored, docs, repeats, backwards, same_stored, dup_db, differ)
PY
)
echo "subscribers received $docs documents ($results results, $verdicts of them verdicts); $stored of those are stored"
check "verdicts seen by subscribers" "$([ "${verdicts:-0}" -gt 0 ] && echo yes)" "yes"
check "every verdict a subscriber saw is in the database" "$missing" "0"
check "every result (run, prompt, point, verdict, audit) a subscriber saw is in the database" "$unstored" "0"
check "no seq received names two different documents" "$repeats" "0"
check "every seq received after a restart is above those received before it" "$backwards" "0"
check "seqs in the documents table are unique" "$dup_db" "0"
check "every received document that is stored is stored as received (same topic and body)" "$differ" "0"
finish
