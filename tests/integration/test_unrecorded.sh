#!/usr/bin/env bash
# Fail closed for one value: a point the record store refuses (here a trigger the test adds to
# the database refuses position 3's qmax point, standing for any value the store will not take)
# does not leave its meter with a pass or a fail and a certificate.  The position ends in
# `error` with the reason named, no certificate or notice is issued for it, the other positions
# run to their verdicts, the store itself stays healthy, and the chain still verifies.
set -u
. tests/lib/rigs.sh
SCALE=120
gas_bench $SCALE
start_metrod "$TMP/metrod.yaml" # creates the store
kill "$METROD_PID"
wait "$METROD_PID" 2>/dev/null
/usr/bin/python3 - "$TMP/records.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TRIGGER test_refuses BEFORE INSERT ON points "
           "WHEN NEW.position = 3 AND NEW.test_point = 'qmax' "
           "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
db.commit()
PY
start_metrod "$TMP/metrod.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass \
	2>"$TMP/start.err" | tail -n 1 >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "the batch ran to its end" "$(v "d['result']")" "done"
verdict() { v "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==$1][0]"; }
check "position 3 (its qmax point refused) is error" "$(verdict 3)" "('error', [])"
check "... with the reason named" \
	"$(v "[x.get('reason', '') for x in d['verdicts'] if x['position']==3][0]" | grep -c 'point qmax could not be recorded: .*refused by the test')" "1"
check "position 1 still passes" "$(verdict 1)" "('pass', [])"
check "position 2 (+2.4 %) still fails at qmax" "$(verdict 2)" "('fail', ['qmax'])"
sql() { /usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute(sys.argv[2]).fetchone()[0])' "$TMP/records.db" "$1"; }
check "no certificate or notice for position 3" "$(sql "select count(*) from certificates where run = 1 and position = 3")" "0"
check "certificates for positions 1 and 2" "$(sql "select count(*) from certificates where run = 1 and position in (1, 2)")" "2"
check "position 3's verdict is recorded as error" "$(sql "select verdict from verdicts where run = 1 and position = 3")" "error"
check "no later point of position 3 was recorded" \
	"$(sql "select count(*) from points where run = 1 and position = 3 and test_point in ('0.2qmax', 'qmin')")" "0"
check "the store did not fail" "$(mctl --json status | json "'store_failed' in d")" "False"
"$B/metroctl" audit verify --db "$TMP/records.db" >"$TMP/verify.out" 2>&1
check "the chain verifies" "$?" "0"
finish
