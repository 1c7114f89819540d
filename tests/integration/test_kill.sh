#!/usr/bin/env bash
# Crash safety: metrod is killed with SIGKILL at random moments of simulated runs, KILLS
# times (default 6 in `make check`; `make kill-campaign` runs 200), and restarted each time on
# the same record store.  Afterwards the database passes PRAGMA integrity_check and
# `metroctl audit verify` with the station's public key, every run is either done or marked
# incomplete (never silently resumed), every verdict a subscriber saw is in the database, and
# each restart brought the rig back to its safe state.
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
: >"$TMP/seen.jsonl"
started=0
for k in $(seq "$KILLS"); do
	start_metrod "$TMP/metrod.yaml"
	/usr/bin/python3 tests/lib/stream_client.py subscribe "$PUB" "$TMP/sub-$k.jsonl" 30 >/dev/null 2>&1 &
	sub=$!
	sleep 0.3
	if mctl --json start "$TMP/batch.yaml" >"$TMP/start-$k.json" 2>&1; then started=$((started + 1)); fi
	# Answer the judgement prompts as they come, then let the run go on for a random time.
	end=$((SECONDS + 2 + RANDOM % 12))
	while [ $SECONDS -lt $end ]; do
		p=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0].get('prompt') or ''" 2>/dev/null)
		[ -n "$p" ] && mctl input gas-1 "$p" pass --operator "kill campaign" >/dev/null 2>&1
		sleep 0.$((RANDOM % 9 + 1))
	done
	kill -9 "$METROD_PID"
	wait "$METROD_PID" 2>/dev/null
	sleep 0.2
	kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
	grep '"topic": "verdict\.' "$TMP/sub-$k.jsonl" >>"$TMP/seen.jsonl"
done
# A last clean start: recovery of the last kill, and the safe state.
start_metrod "$TMP/metrod.yaml"
for _ in $(seq 50); do [ "$(mctl --json rigs | json "d['rigs'][0]['state']")" = idle ] && break; sleep 0.1; done
check "rig back in its safe state after the kills" "$(mctl --json rigs | json "d['rigs'][0]['state']")" "idle"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
echo "$KILLS kills, $started runs started"
check "integrity_check" "$(sqlite3 "$TMP/records.db" 'PRAGMA integrity_check;')" "ok"
"$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >"$TMP/verify.out" 2>&1
check "audit verify with the station's public key" "$?" "0"
tail -n 1 "$TMP/verify.out"
states=$(sqlite3 "$TMP/records.db" "SELECT DISTINCT state FROM runs WHERE state NOT IN ('done', 'incomplete');")
check "every run is done or incomplete" "$states" ""
check "runs recorded" "$(sqlite3 "$TMP/records.db" 'SELECT count(*) FROM runs;')" "$started"
missing=$(/usr/bin/python3 - "$TMP/seen.jsonl" "$TMP/records.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
stored = {r[0] for r in db.execute("SELECT seq FROM documents WHERE topic LIKE 'verdict.%'")}
seen = [json.loads(l)["doc"]["seq"] for l in open(sys.argv[1]) if l.strip()]
print(sum(1 for s in seen if s not in stored), len(seen))
PY
)
echo "verdicts seen by subscribers: ${missing#* }"
check "every verdict a subscriber saw is in the database" "${missing%% *}" "0"
finish
