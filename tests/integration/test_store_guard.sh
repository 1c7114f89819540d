#!/usr/bin/env bash
# A history never silently restarts (docs/records.md): the record store's database swapped,
# restored from an older copy, replaced or unlinked under a running daemon, or missing at start.
#   1. an older copy put back (its chain is shorter than the state file's head): refused;
#   2. the database replaced under a running daemon (another file renamed over its path): the
#      store fails closed, the run in progress ends in error, status says why;
#   3. the database missing at start where the state file records a history: refused, and
#      nothing is created;
#   4. `metrod --init-store` starts a new store whose first audit event records the replaced
#      head; it refuses where a database exists;
#   5. the database unlinked under a running daemon (the issue's case): noticed within seconds.
set -u
. tests/lib/rigs.sh
SCALE=120
gas_bench $SCALE
DB=$TMP/records.db
sql() { /usr/bin/python3 -c 'import sqlite3,sys; r=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$DB" "$1"; }
stop_metrod() { kill "$METROD_PID" 2>/dev/null; wait "$METROD_PID" 2>/dev/null; }
# try_metrod ARGS: a start that must be refused; its exit code, its log in $TMP/try.log
try_metrod() { timeout 20 "$B/metrod" -c "$TMP/metrod.yaml" "$@" 2>"$TMP/try.log"; echo $?; }
# wait_log PATTERN: until metrod's log has it (bounded)
wait_log() { for _ in $(seq 150); do grep -qE "$1" "$TMP/metrod.log" && return 0; sleep 0.1; done; return 1; }
run_bg() { # a batch whose prompts are answered, in the background (killed at the end)
	timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>&1 &
	PIDS+=($!)
}
wait_point() { # until the run in progress has recorded a point
	for _ in $(seq 600); do [ "$(sql "select count(*) from points")" -gt "$1" ] 2>/dev/null && return 0; sleep 0.1; done; return 1
}

# ---- 1. an older copy ---------------------------------------------------------------------------
start_metrod "$TMP/metrod.yaml"
/usr/bin/python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "$DB" "$TMP/old.db"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass >/dev/null 2>&1
check "a batch ran (state file written at its checkpoint)" "$(grep -c '^chain_seq [1-9]' "$TMP/records.state")" "1"
stop_metrod
check "a clean stop leaves no -wal or -shm" "$(ls "$TMP" | grep -cE '^records.db-(wal|shm)$')" "0"
"$B/metroctl" audit verify --db "$DB" >"$TMP/verify.out" 2>&1
check "audit verify of the closed store passes" "$?" "0"
check "... and leaves no -wal or -shm behind (read-only open)" "$(ls "$TMP" | grep -cE '^records.db-(wal|shm)$')" "0"
mkdir "$TMP/odd dir%?#"
cp "$DB" "$TMP/odd dir%?#/r.db"
"$B/metroctl" audit verify --db "$TMP/odd dir%?#/r.db" >"$TMP/verify2.out" 2>&1
check "audit verify opens a path with URI characters" "$?" "0"
head_seq=$(awk '/^chain_seq/ { print $2 }' "$TMP/records.state")
mv "$DB" "$TMP/good.db"
rm -f "$DB-wal" "$DB-shm"
cp "$TMP/old.db" "$DB"
check "an older copy is refused at start" "$(try_metrod)" "1"
# The offline verifier says the same with the state file's head (or SEQ:HASH).
"$B/metroctl" audit verify --db "$DB" --expect-head "$TMP/records.state" >"$TMP/v.out" 2>&1
check "audit verify --expect-head fails the older copy (exit 1)" "$?" "1"
check "... as a truncated or restarted history" "$(grep -c "truncated or restarted history: the chain ends at record [0-9]*, before the expected head, record $head_seq" "$TMP/v.out")" "1"
head_hash=$(awk '/^chain_head/ { print $2 }' "$TMP/records.state")
"$B/metroctl" audit verify --db "$TMP/good.db" --expect-head "$head_seq:$head_hash" >"$TMP/v2.out" 2>&1
check "audit verify --expect-head passes the right database" "$?" "0"
check "... and says the head is there" "$(grep -c "expected head record $head_seq present" "$TMP/v2.out")" "1"
"$B/metroctl" audit verify --db "$TMP/good.db" --expect-head "$head_seq:$(printf '%064d' 0)" >"$TMP/v3.out" 2>&1
check "audit verify --expect-head with another hash fails (another history)" "$(grep -c "another history: chain record $head_seq is" "$TMP/v3.out")" "1"
check "... saying it is older than its history" "$(grep -c "is older than its history: its chain ends at record [0-9]*, the state file .* says it reached $head_seq" "$TMP/try.log")" "1"
rm -f "$DB" "$DB-wal" "$DB-shm"
mv "$TMP/good.db" "$DB"

# ---- 2. replaced under a running daemon ------------------------------------------------------------
start_metrod "$TMP/metrod.yaml"
check "the right database opens again" "$(mctl --json status | json "'store_failed' in d")" "False"
npts=$(sql "select count(*) from points")
run_bg
wait_point "$npts"
cp "$DB" "$TMP/copy.db"
mv "$TMP/copy.db" "$DB"
wait_log "was replaced by another file while the store had it open"
check "a database replaced under the daemon fails the store (log)" "$?" "0"
wait_log 'rig gas-1: run [0-9]+ error$'
check "... and the run in progress ends in error" "$?" "0"
check "status says why" "$(mctl --json status | json "'was replaced' in d.get('store_failed', '')")" "True"
stop_metrod

# ---- 3. missing at start --------------------------------------------------------------------------
rm -f "$DB" "$DB-wal" "$DB-shm"
check "a missing database is refused at start" "$(try_metrod)" "1"
check "... naming the state file and what to do" "$(grep -c 'is missing, but its state file .*records.state says its history reached chain record .*metrod --init-store' "$TMP/try.log")" "1"
check "... and nothing is created" "$(ls "$TMP" | grep -c '^records.db')" "0"

# ---- 4. --init-store ------------------------------------------------------------------------------
head_seq=$(awk '/^chain_seq/ { print $2 }' "$TMP/records.state")
"$B/metrod" -c "$TMP/metrod.yaml" --init-store 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=("$METROD_PID")
for _ in $(seq 100); do mctl -t 200 ping >/dev/null 2>&1 && break; sleep 0.1; done
check "--init-store starts a new store" "$(mctl --json status | json "'store_failed' in d")" "False"
check "its first audit event records the history it replaces" \
	"$(sql "select json_extract(old, '$.chain_seq') || ' ' || (id = (select min(id) from audit_events)) from audit_events where action = 'store.initialised'")" "$head_seq 1"
stop_metrod
check "--init-store refuses where a database exists" "$(try_metrod --init-store)" "1"
check "... saying so" "$(grep -c 'exists: --init-store starts a new record store only where there is none' "$TMP/try.log")" "1"

# ---- 5. unlinked under a running daemon -----------------------------------------------------------
start_metrod "$TMP/metrod.yaml"
check "the new store opens normally afterwards" "$(mctl --json status | json "'store_failed' in d")" "False"
npts=$(sql "select count(*) from points")
run_bg
wait_point "$npts"
rm -f "$DB"
wait_log "was deleted while the store had it open"
check "a database unlinked under the daemon fails the store (log)" "$?" "0"
mctl --json start "$TMP/batch.yaml" >"$TMP/start2.out" 2>&1
check "a new run is refused with store-failed" "$(json "d['error']['code']" <"$TMP/start2.out" 2>/dev/null)" "store-failed"
finish
