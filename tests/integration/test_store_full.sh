#!/usr/bin/env bash
# Committed before published, at the daemon level: the record store lives on a small tmpfs that
# the test fills up in the middle of a real gas batch.  A subscriber records every document;
# afterwards every result it received (everything but readings and health, which are not
# stored) must be in the database with the same seq and topic, read through a read-only
# connection.  The store must have failed (the log says so) while the run still had results to
# record, and none of those may have been published.  Failing closed: the run stops at once in
# error with its rig safe, alarm.store goes out, status shows it and a new run is refused.
# The clients waiting on the run stop too, exit 6 (docs/protocol.md), with the store's reason
# and no verdicts: `start --wait`, a `follow` started before the failure, and a `follow`
# started after it (the alarm already gone by: it learns from status).
#
# Needs root to mount the tmpfs (CI runs as root); outside CI a non-root run skips, and the
# test is on tests/skips.allow for that reason only.
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_root "mounting a tmpfs"
SCALE=120
gas_bench $SCALE
mkdir "$TMP/store"
mount -t tmpfs -o size=4m,mode=0755 metrod-test "$TMP/store" || { echo "FAIL: cannot mount a tmpfs"; exit 1; }
finally() { # the processes first (they hold files on the tmpfs), then the mount
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	umount "$TMP/store" 2>/dev/null
	cleanup
}
trap finally EXIT
sed -i "s|store: {path: $TMP/records.db}|store: {path: $TMP/store/records.db, reserve_mb: 0}|" "$TMP/metrod.yaml" # a 4 MB tmpfs: no reserve
grep -q "$TMP/store/records.db" "$TMP/metrod.yaml" || { echo "FAIL: store path not set"; exit 1; }
start_metrod "$TMP/metrod.yaml"

# A subscriber of everything, until killed.
/usr/bin/python3 tests/lib/subscribe.py "$PUB" "$TMP/sub.jsonl" >"$TMP/sub.err" 2>&1 &
SUB_PID=$!
PIDS+=("$SUB_PID")
# The subscription is live once a reading (the rig samples at 2 Hz) has come through.
for _ in $(seq 100); do grep -q '"topic": "reading\.' "$TMP/sub.jsonl" 2>/dev/null && break; sleep 0.1; done
check "subscriber receives readings" "$(grep -c '"topic": "reading\.' "$TMP/sub.jsonl" | awk '{ print ($1 > 0) }')" "1"

mctl --json start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>"$TMP/start.err" &
START_PID=$!
PIDS+=("$START_PID")
# A follower of the run, started while the store works (it answers no prompt: start does).
for _ in $(seq 100); do
	RUN=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0].get('run') or ''" 2>/dev/null)
	[ -n "$RUN" ] && break
	sleep 0.1
done
check "the run started" "$([ -n "$RUN" ] && echo yes)" "yes"
mctl follow "$RUN" >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW_PID=$!
PIDS+=("$FOLLOW_PID")
# Fill the file system once the first flow point (qmax; visual and leak come before it) has
# been published: the run then still has flow points to record, and no prompt to wait on.
qmax='"topic": "point\.gas-1".*"item": "qmax"'
for _ in $(seq 1200); do grep -q "$qmax" "$TMP/sub.jsonl" && break; sleep 0.1; done
check "a flow point was published before the disk filled" \
	"$(grep -c "$qmax" "$TMP/sub.jsonl" | awk '{ print ($1 > 0) }')" "1"
dd if=/dev/zero of="$TMP/store/fill" bs=64k >/dev/null 2>&1
check "the tmpfs is full" "$(df --output=avail "$TMP/store" | tail -n 1 | tr -d ' ')" "0"
# The next result the daemon records fails: wait for the log to say so, then for the rig to
# leave its run (the run's later results are refused too).
for _ in $(seq 600); do grep -q 'failed closed' "$TMP/metrod.log" && break; sleep 0.1; done
check "the store failed closed (log)" "$(grep -c 'failed closed' "$TMP/metrod.log")" "1"
for _ in $(seq 3000); do
	st=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0]['state']" 2>/dev/null)
	[ "$st" = idle ] && break
	sleep 0.1
done
check "the rig left its run" "$st" "idle"
refused=$(grep -c 'record store: cannot record .* not published' "$TMP/metrod.log")
check "results of the run were refused after the failure (log)" "$((refused > 0))" "1"
# Fail closed: the run was stopped at once, in error, with its rig in the safe state; it did not
# drive the bench to the procedure's end with nothing recorded.
check "the daemon acted on the failure (log)" \
	"$(grep -c 'record store failed: .*every run stops' "$TMP/metrod.log")" "1"
check "the run ended in error, rig safe (log)" \
	"$(grep -cE 'rig gas-1: run [0-9]+ error$' "$TMP/metrod.log")" "1"
# (the points of the item being recorded when the disk filled are refused; no later item runs)
check "no test point after the failure was measured" \
	"$(grep -oE 'cannot record point [^ ]+ ' "$TMP/metrod.log" | sort -u | wc -l | awk '{ print ($1 <= 1) }')" "1"
for _ in $(seq 100); do grep -q '"topic": "alarm.store"' "$TMP/sub.jsonl" && break; sleep 0.1; done
alarm=$(grep '"topic": "alarm.store"' "$TMP/sub.jsonl" | head -n 1)
check "alarm.store published" "$(echo "$alarm" | json "' '.join(str(d['doc'][k]) for k in ('alarm', 'severity', 'active', 'recorded'))" 2>/dev/null)" \
	"store-failed error True False"
check "status shows the failure" \
	"$(mctl --json status | json "'record store' in d['store_failed'] or 'disk' in d['store_failed'] or 'full' in d['store_failed']")" "True"
mctl --json start "$TMP/batch.yaml" >"$TMP/start2.out" 2>&1
check "a new run is refused (exit 4)" "$?" "4"
check "... with code store-failed" "$(json "d['error']['code']" <"$TMP/start2.out" 2>/dev/null)" "store-failed"
# The clients that waited on the run: they stop on their own (bounded wait; a hang is a failure)
# with exit 6, the store's reason, and no verdict table (none of it is recorded).
exited() { # PID: whether it has exited within 30 s
	for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
exited "$START_PID" && { wait "$START_PID"; rc=$?; } || rc=hangs
check "start --wait stops, exit 6 (the store failed)" "$rc" "6"
check "... saying the record store failed, and why" \
	"$(grep -c "run $RUN on gas-1: the record store failed: .*full.*results are not recorded" "$TMP/start.err")" "1"
check "... --json: the store-failed error, no run document" \
	"$(tail -n 1 "$TMP/start.out" | json "(d['run'], d['error']['code'], 'verdicts' in d)" 2>/dev/null)" \
	"('$RUN', 'store-failed', False)"
exited "$FOLLOW_PID" && { wait "$FOLLOW_PID"; rc=$?; } || rc=hangs
check "follow (started before the failure) stops, exit 6" "$rc" "6"
check "... saying the record store failed, and why" \
	"$(grep -c "run $RUN on gas-1: the record store failed: .*full" "$TMP/follow.err")" "1"
check "... and prints no verdict table" "$(grep -c 'VERDICT' "$TMP/follow.out")" "0"
# A follower that comes after the failure never sees alarm.store: it learns it from status.
timeout 30 "$B/metroctl" -e "$CTL" follow "$RUN" >"$TMP/follow2.out" 2>"$TMP/follow2.err"
check "follow started after the failure: exit 6" "$?" "6"
check "... saying the record store failed" \
	"$(grep -c "run $RUN on gas-1: the record store failed: .*full" "$TMP/follow2.err")" "1"
kill "$SUB_PID"
wait "$SUB_PID" 2>/dev/null
grep -m3 'record store' "$TMP/metrod.log" | sed 's/^/  log: /'

# Every stored kind received must be in the database, same seq, same topic; nothing else.
out=$(/usr/bin/python3 - "$TMP/sub.jsonl" "$TMP/store/records.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
stored = dict(db.execute("SELECT seq, topic FROM documents"))
got = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# alarm.store says it is not recorded (the store is what failed): the one result not stored
results = [d for d in got if d["topic"].split(".")[0] not in ("reading", "health")
           and d["doc"].get("recorded") is not False]
missing = [(d["doc"].get("seq"), d["topic"]) for d in results
           if stored.get(d["doc"].get("seq")) != d["topic"]]
points = sum(1 for d in results if d["topic"].startswith("point."))
print(len(results), points, len(missing), missing[:5])
PY
)
read -r nres npoints nmissing rest <<<"$out"
echo "results received: $nres ($npoints points); not in the database: $nmissing $rest"
check "results were received" "$((nres > 0))" "1"
check "every result received is in the database with its seq and topic" "$nmissing" "0"
finish
