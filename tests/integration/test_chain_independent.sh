#!/usr/bin/env bash
# The record chain checked by a second, independent verifier: tests/lib/chain_verify.py, written
# from docs/records.md alone (not from lib/records/audit.c, whose one hashing function metrod's
# writer and `metroctl audit verify` share, so that a mistake in it is invisible to them).
#  (a) the fixture database (tests/integration/test_store_fixture.c): both verifiers accept it
#      and count the same chain records; the verifier leaves no -wal or -shm beside the file;
#  (b) a database written by a real metrod during a gas batch on a simulated bell prover:
#      verified live (metrod running) and after a clean stop, agreeing with metroctl;
#  (a2) a schema-2 file (no profiles table yet) verifies with both, and again once a run with a
#      rig profile migrated it to schema 3;
#  (c) tamperings of both databases, among them the review's case (a failed point relabelled
#      as another test point with sqlite3) and the rig profile a run recorded: both verifiers
#      fail, naming the table and row.
# Prints "N passed, M failed".
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_cmd sqlite3 sqlite3
need_py cryptography python3-cryptography
CV=tests/lib/chain_verify.py
FIXTURE=$B/tests/test_store_fixture

cv() { /usr/bin/python3 "$CV" "$@"; }
# records N from "ok N records (...)"; metroctl's count from its JSON report.
cv_records() { sed -n 's/^ok \([0-9]*\) records .*/\1/p' <<<"$1"; }
mc_records() { "$B/metroctl" audit verify --json --db "$1" --pubkey "$2" 2>/dev/null | json "d['records']"; }
files() { (cd "$(dirname "$1")" && ls -1 "$(basename "$1")"* | tr '\n' ' '); }

# tampered NAME DB KEY PATTERN SQL: apply SQL (triggers dropped first) to a copy of DB; both
# verifiers must exit 1, chain_verify.py with a line matching PATTERN, metroctl's first line too.
tampered() {
	local name=$1 db=$2 key=$3 pat=$4 sql=$5 copy=$TMP/tampered.db out rc mout mrc trg
	rm -f "$copy" "$copy-wal" "$copy-shm"
	cp "$db" "$copy"
	trg=$(sqlite3 "$copy" "SELECT group_concat('DROP TRIGGER \"' || name || '\";', ' ')
		FROM sqlite_schema WHERE type = 'trigger'")
	if ! sqlite3 -bail "$copy" "BEGIN; $trg $sql; COMMIT;" >"$TMP/sql.log" 2>&1; then
		check "$name: the edit applies" "$(cat "$TMP/sql.log")" ""
		return
	fi
	out=$(cv "$copy" --pubkey "$key" 2>&1)
	rc=$?
	mout=$("$B/metroctl" audit verify --db "$copy" --pubkey "$key" 2>/dev/null)
	mrc=$?
	check "$name: chain_verify.py exits 1" "$rc" "1"
	check "$name: chain_verify.py names it" "$(grep -Ec -- "$pat" <<<"$out" | sed 's/^[1-9][0-9]*$/yes/')" "yes"
	check "$name: metroctl audit verify exits 1" "$mrc" "1"
	check "$name: metroctl names it" "$(head -n 1 <<<"$mout" | grep -Ec -- "$pat")" "1"
	[ "$rc" = 1 ] || printf '%s\n' "$out" | head -n 5
}

# ---- (a) the fixture -------------------------------------------------------------------------
FX=$TMP/fixture
mkdir -p "$FX"
"$FIXTURE" build "$FX" >/dev/null 2>"$TMP/fixture.log" && "$FIXTURE" extend "$FX" >/dev/null 2>>"$TMP/fixture.log"
check "fixture built" "$?" "0"
before=$(files "$FX/records.db")
out=$(cv "$FX/records.db" --pubkey "$FX/records.pub")
check "fixture: chain_verify.py accepts it" "$?:${out%% *}" "0:ok"
echo "     $out"
check "fixture: no -wal or -shm left beside the file" "$(files "$FX/records.db")" "$before"
"$B/metroctl" audit verify --db "$FX/records.db" --pubkey "$FX/records.pub" --strict >/dev/null 2>&1
check "fixture: metroctl audit verify --strict accepts it" "$?" "0"
n_cv=$(cv_records "$out")
check "fixture: both count the same chain records" "$n_cv" "$(mc_records "$FX/records.db" "$FX/records.pub")"
check "fixture: the chain is not trivially short" "$([ "${n_cv:-0}" -gt 100 ] && echo yes)" "yes"
# A key that did not sign: the signature check is real.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/other.pub"
echo >>"$TMP/other.pub"
out=$(cv "$FX/records.db" --pubkey "$TMP/other.pub")
check "fixture: another station's key is refused, at every checkpoint" \
	"$?:$(grep -c '^checkpoints row [0-9]*: signature does not verify' <<<"$out")" \
	"1:$(sqlite3 "file:$FX/records.db?mode=ro" 'SELECT count(*) FROM checkpoints')"

# ---- (a2) a schema-2 file (before rig profiles were recorded), then migrated ----------------------
V2=$TMP/v2
mkdir -p "$V2"
"$FIXTURE" build-v2 "$V2" >/dev/null 2>>"$TMP/fixture.log"
check "schema-2 fixture built" "$?:$(sqlite3 "file:$V2/records.db?mode=ro" 'PRAGMA user_version')" "0:2"
check "schema 2: no profiles table" \
	"$(sqlite3 "file:$V2/records.db?mode=ro" "SELECT count(*) FROM sqlite_schema WHERE name = 'profiles'")" "0"
out=$(cv "$V2/records.db" --pubkey "$V2/records.pub")
check "schema 2: chain_verify.py accepts it without a profiles table" "$?:${out%% *}" "0:ok"
"$B/metroctl" audit verify --db "$V2/records.db" --pubkey "$V2/records.pub" --strict >/dev/null 2>&1
check "schema 2: metroctl audit verify --strict accepts it" "$?" "0"
"$FIXTURE" extend "$V2" >/dev/null 2>>"$TMP/fixture.log"
check "schema 2 migrated (to the current version, 5) by a new run with a profile" \
	"$?:$(sqlite3 "file:$V2/records.db?mode=ro" "SELECT (SELECT group_concat(quote(profile)) FROM runs)
		|| ' ' || (SELECT count(*) FROM profiles) FROM pragma_user_version WHERE user_version = 5")" "0:NULL,1 1"
out=$(cv "$V2/records.db" --pubkey "$V2/records.pub")
check "migrated: chain_verify.py accepts it" "$?:${out%% *}" "0:ok"
check "migrated: both count the same chain records" "$(cv_records "$out")" \
	"$(mc_records "$V2/records.db" "$V2/records.pub")"
tampered "migrated: profiles dropped and the version set back" "$V2/records.db" "$V2/records.pub" \
	"profiles row 1[^0-9]" "DROP TABLE profiles; PRAGMA user_version = 2"

# ---- (b) a real metrod, a real batch -------------------------------------------------------------
gas_bench 120
start_metrod "$TMP/metrod.yaml"
DB=$TMP/records.db
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass 2>"$TMP/start.err" | tail -n 1 >"$TMP/run.json"
check "gas batch runs to its end" "$(json "d['result']" <"$TMP/run.json")" "done"
check "it recorded points" "$([ "$(sqlite3 "file:$DB?mode=ro" 'SELECT count(*) FROM points')" -ge 10 ] && echo yes)" "yes"
check "some of them failed (a meter at +2.4 %)" "$([ "$(sqlite3 "file:$DB?mode=ro" "SELECT count(*) FROM points WHERE verdict = 'fail'")" -ge 1 ] && echo yes)" "yes"
before=$(files "$DB")
out=$(cv "$DB" --pubkey "$TMP/records.pub")
check "live database (metrod running): chain_verify.py accepts it" "$?:${out%% *}" "0:ok"
echo "     $out"
check "live database: nothing added beside it" "$(files "$DB")" "$before"
kill -TERM "$METROD_PID"
wait "$METROD_PID"
check "metrod stops cleanly" "$?" "0"
before=$(files "$DB")
out=$(cv "$DB" --pubkey "$TMP/records.pub")
check "after the stop: chain_verify.py accepts it" "$?:${out%% *}" "0:ok"
echo "     $out"
check "after the stop: no -wal or -shm left beside the file" "$(files "$DB")" "$before"
check "after the stop: signed to its end by the final checkpoint" \
	"$(sed -n 's/.*signed to record \([0-9]*\)).*/\1/p' <<<"$out")" "$(( $(cv_records "$out") - 1 ))"
check "after the stop: both count the same chain records" "$(cv_records "$out")" "$(mc_records "$DB" "$TMP/records.pub")"

# ---- (c) tamperings ------------------------------------------------------------------------------
K=$TMP/records.pub
F=$(sqlite3 "$DB" "SELECT id FROM points WHERE verdict = 'fail' ORDER BY id LIMIT 1")
other=$(sqlite3 "$DB" "SELECT test_point FROM points WHERE id <> $F AND test_point <> (SELECT test_point FROM points WHERE id = $F) LIMIT 1")
tampered "metrod db: a failed point relabelled as $other" "$DB" "$K" "points row $F[^0-9]" \
	"UPDATE points SET test_point = '$other' WHERE id = $F"
tampered "metrod db: a point's attempt renumbered" "$DB" "$K" "points row $F[^0-9]" \
	"UPDATE points SET attempt = attempt + 1 WHERE id = $F"
tampered "metrod db: a point moved to another position" "$DB" "$K" "points row $F[^0-9]" \
	"UPDATE points SET position = position + 100 WHERE id = $F"
tampered "metrod db: a point's recording time" "$DB" "$K" "points row $F[^0-9]" \
	"UPDATE points SET recorded = replace(recorded, 'Z', '1Z') WHERE id = $F"
S=$(sqlite3 "$DB" "SELECT chain_seq FROM points WHERE id = $F")
tampered "metrod db: the point's chain record deleted" "$DB" "$K" \
	"points row $F[^0-9]|chain records $S\\.\\.$S are missing" \
	"DELETE FROM chain WHERE seq = $S"
tampered "metrod db: the run's rig profile edited (max_reply)" "$DB" "$K" "profiles row 1[^0-9]" \
	"UPDATE profiles SET content = replace(content, 'max_reply: 64', 'max_reply: 65') WHERE id = 1"
tampered "metrod db: the run's profile reference cleared" "$DB" "$K" "runs row 1[^0-9]" \
	"UPDATE runs SET profile = NULL WHERE id = 1"
tampered "metrod db: a checkpoint's signature" "$DB" "$K" "checkpoints row 1[^0-9]" \
	"UPDATE checkpoints SET signature = '00' || substr(signature, 3) WHERE id = 1"
tampered "fixture: two chain records swapped" "$FX/records.db" "$FX/records.pub" \
	"chain record (40|41)[^0-9]" \
	"UPDATE chain SET seq = -1 WHERE seq = 40; UPDATE chain SET seq = 40 WHERE seq = 41; UPDATE chain SET seq = 41 WHERE seq = -1"
tampered "fixture: a row inserted behind the store's back" "$FX/records.db" "$FX/records.pub" \
	"points row [0-9]+.*(not in the chain|does not exist)" \
	"INSERT INTO points (run, position, test_point, attempt, readings, error, mpe, verdict, recorded, chain_seq) VALUES (1, 1, 'Q1', 9, '{}', '0.1', '5', 'pass', '2026-01-01T00:00:00Z', 999999)"
# The forger who rewrites every hash and re-signs with their own key: only the real key shows it.
cp "$FX/records.db" "$TMP/forged.db"
sqlite3 "$TMP/forged.db" "DROP TRIGGER points_no_update; UPDATE points SET verdict = 'pass' WHERE verdict = 'fail'" &&
	"$FIXTURE" forge "$TMP/forged.db" "$TMP/forged.pub"
check "forgery made" "$?" "0"
out=$(cv "$TMP/forged.db" --pubkey "$FX/records.pub")
check "forged and re-signed: chain_verify.py with the station's key fails" "$?:$(grep -c '^checkpoints row 1: signature' <<<"$out")" "1:1"
out=$(cv "$TMP/forged.db" --pubkey "$TMP/forged.pub")
check "forged and re-signed: consistent under the forger's own key" "$?:${out%% *}" "0:ok"
finish
