#!/usr/bin/env bash
# Tamper evidence of the record store: each case edits a copy of a realistic database with
# ordinary tools (the sqlite3 CLI, dd, cp) the way a forger with write access to the file would,
# and `metroctl audit verify` must exit 1 naming the record.  An untouched copy must verify.
#
# The fixture (tests/integration/test_store_fixture.c) writes the database through the store
# API: runs with raw readings, standards copies, verdicts and a correction, a crash and its
# resume-run, certificates, documents, checkpoints.  Its `forge` mode is the forger who also
# rewrites every hash and re-signs every checkpoint with a key of their own.
#
# Usage: METRO_BUILD=build/san tests/integration/test_tamper.sh   (from the project root)
# Prints "N passed, M failed"; exits non-zero when a case is not detected.
set -u
BUILD=${METRO_BUILD:-build/san}
METROCTL=${METROCTL:-$BUILD/metroctl}
FIXTURE=${FIXTURE:-$BUILD/tests/test_store_fixture}
# A sanitizer report must not pass for a detected tampering (both exit 1): give them their own
# exit codes, and look for their reports too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:exitcode=87"

. tests/lib/need.sh
need_cmd sqlite3 sqlite3
need_py cryptography python3-cryptography
CHAIN_VERIFY=tests/lib/chain_verify.py
if [ ! -x "$METROCTL" ] || [ ! -x "$FIXTURE" ]; then
	echo "FAIL: $METROCTL or $FIXTURE not built"; echo "0 passed, 1 failed"; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/metrod-tamper.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/base"
"$FIXTURE" build "$work/base" >/dev/null 2>"$work/fixture.log" || {
	cat "$work/fixture.log"; echo "fixture build failed"; exit 1; }
# An older copy (for the rollback cases), then one more run and checkpoint.
cp "$work/base/records.db" "$work/old.db"
"$FIXTURE" extend "$work/base" >/dev/null 2>>"$work/fixture.log" || {
	cat "$work/fixture.log"; echo "fixture extend failed"; exit 1; }
BASE=$work/base/records.db
PUB=$work/base/records.pub
# What the daemon published on topic `audit` (the latest checkpoint).
"$METROCTL" audit checkpoint --db "$BASE" >"$work/published.json" || exit 1

pass=0 fail=0 n=0
DB=$work/case.db

q() { sqlite3 -bail "$BASE" "$1"; }

fresh() { rm -f "$DB" "$DB-wal" "$DB-shm"; cp "$BASE" "$DB"; }

# verify_case NAME PATTERN [verify args...]: verify $DB; exit 1 and PATTERN in the first line.
verify_case() {
	local name=$1 pat=$2 out rc first
	shift 2
	n=$((n + 1))
	# The first line of stdout names the first failing record; warnings go to stderr.
	out=$("$METROCTL" audit verify --db "$DB" "$@" 2>"$work/stderr")
	rc=$?
	first=$(printf '%s\n' "$out" | head -n 1)
	if [ $rc -eq 1 ] && printf '%s\n' "$first" | grep -Eq -- "$pat" &&
		! grep -Eq 'Sanitizer|runtime error' "$work/stderr"; then
		pass=$((pass + 1))
		printf 'ok   %2d %-44s %s\n' "$n" "$name" "$first"
	else
		fail=$((fail + 1))
		printf 'FAIL %2d %-44s exit %d, wanted 1 and /%s/:\n%s\n%s\n' "$n" "$name" "$rc" \
			"$pat" "$out" "$(cat "$work/stderr")"
	fi
}

# sql_case NAME PATTERN SQL: apply SQL to a fresh copy with the sqlite3 CLI, then verify
# against the station's real public key.
sql_case() {
	local name=$1 pat=$2 sql=$3
	fresh
	if ! sqlite3 -bail "$DB" "$sql" >"$work/sql.log" 2>&1; then
		n=$((n + 1)); fail=$((fail + 1))
		printf 'FAIL %2d %-44s the edit itself failed: %s\n' "$n" "$name" \
			"$(cat "$work/sql.log")"
		return
	fi
	verify_case "$name" "$pat" --pubkey "$PUB"
}

# dd_case NAME PATTERN NEEDLE BYTE: overwrite the first byte of NEEDLE in the file with BYTE.
dd_case() {
	local name=$1 pat=$2 needle=$3 byte=$4 off
	fresh
	off=$(grep -obUaF -- "$needle" "$DB" | head -n 1 | cut -d: -f1)
	if [ -z "$off" ]; then
		n=$((n + 1)); fail=$((fail + 1))
		printf 'FAIL %2d %-44s needle %s not in the file\n' "$n" "$name" "$needle"
		return
	fi
	printf '%s' "$byte" | dd of="$DB" bs=1 seek="$off" conv=notrunc status=none
	verify_case "$name" "$pat" --pubkey "$PUB"
}

ok_case() {
	local name=$1 out rc
	shift
	n=$((n + 1))
	out=$("$METROCTL" audit verify --db "$DB" "$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && ! grep -Eq 'Sanitizer|runtime error' <<<"$out"; then
		pass=$((pass + 1))
		printf 'ok   %2d %-44s %s\n' "$n" "$name" "$(head -n 1 <<<"$out")"
	else
		fail=$((fail + 1)); printf 'FAIL %2d %-44s exit %d:\n%s\n' "$n" "$name" "$rc" "$out"
	fi
}

# ---- untouched copies verify ----------------------------------------------------------------
fresh
ok_case "untouched copy" --pubkey "$PUB"
ok_case "untouched copy, published checkpoint" --pubkey "$PUB" --checkpoint "$work/published.json"
ok_case "untouched copy, --strict" --pubkey "$PUB" --strict
ok_case "untouched copy, stored key (warns)"

# ---- readings, results, verdicts --------------------------------------------------------------
P=$(q "SELECT id FROM points ORDER BY id LIMIT 1 OFFSET 4")
F=$(q "SELECT id FROM points WHERE verdict = 'fail' ORDER BY id LIMIT 1")
sql_case "edit a raw reading" "points row $P " \
	"DROP TRIGGER points_no_update;
	 UPDATE points SET readings = json_set(readings, '$.samples[1].scale_kg', 99.971)
	 WHERE id = $P;"
sql_case "edit an error value" "points row $P " \
	"DROP TRIGGER points_no_update; UPDATE points SET error = '0.12' WHERE id = $P;"
sql_case "widen an MPE" "points row $F " \
	"DROP TRIGGER points_no_update; UPDATE points SET mpe = '6' WHERE id = $F;"
sql_case "flip a point's verdict" "points row $F " \
	"DROP TRIGGER points_no_update; UPDATE points SET verdict = 'pass' WHERE id = $F;"
sql_case "edit an intermediate value" "points row $P " \
	"DROP TRIGGER points_no_update;
	 UPDATE points SET intermediates = json_set(intermediates, '$.C', 1.0021) WHERE id = $P;"
V=$(q "SELECT id FROM verdicts WHERE verdict = 'fail' ORDER BY id LIMIT 1")
sql_case "edit a verdict (trigger dropped)" "verdicts row $V " \
	"DROP TRIGGER verdicts_no_update; UPDATE verdicts SET verdict = 'pass' WHERE id = $V;"
sql_case "delete a verdict (trigger dropped)" "verdicts row $V[^0-9]" \
	"DROP TRIGGER verdicts_no_delete; DELETE FROM verdicts WHERE id = $V;"
POS=$(q "SELECT id FROM positions WHERE verdict = 'fail' ORDER BY id LIMIT 1")
sql_case "edit a position's final verdict" "positions row $POS " \
	"UPDATE positions SET verdict = 'pass' WHERE id = $POS;"
sql_case "delete a point" "points row $P[^0-9]" \
	"DROP TRIGGER points_no_delete; DELETE FROM points WHERE id = $P;"
sql_case "insert a point behind the store's back" "points row .*(not in the chain|does not exist)" \
	"INSERT INTO points (run, position, test_point, attempt, readings, error, mpe, verdict,
	   recorded, chain_seq) VALUES (1, 1, 'Q1', 9, '{}', '0.1', '5', 'pass',
	   '2026-01-01T00:00:00Z', 999999);"
sql_case "insert a point reusing a chain record" "points row [0-9]+ claims chain record" \
	"INSERT INTO points (run, position, test_point, attempt, readings, error, mpe, verdict,
	   recorded, chain_seq) SELECT 1, 1, 'Q1', 9, '{}', '0.1', '5', 'pass',
	   '2026-01-01T00:00:00Z', chain_seq FROM points WHERE id = $P;"

# ---- runs, standards, procedure, software, meters ----------------------------------------------
sql_case "change a standard's due date in run_standards" "run_standards row 1 " \
	"DROP TRIGGER run_standards_no_update;
	 UPDATE run_standards SET due = '2099-12-31' WHERE id = 1;"
sql_case "change a certificate number in run_standards" "run_standards row 1 " \
	"DROP TRIGGER run_standards_no_update;
	 UPDATE run_standards SET certificate = 'JL-2026-W-99999' WHERE id = 1;"
sql_case "change the registry's due date" "standards row [0-9]+ " \
	"UPDATE standards SET due = '2099-12-31' WHERE std_id = 'gs-bell-01';"
sql_case "change the procedure hash" "procedures row 1 " \
	"DROP TRIGGER procedures_no_update;
	 UPDATE procedures SET sha256 = '$(printf x | sha256sum | cut -c1-64)' WHERE id = 1;"
NEWPROC=$(q "SELECT content FROM procedures WHERE id = 1" | sed 's/1\.0011/1.0000/' )
NEWSHA=$(printf '%s' "$NEWPROC" | sha256sum | cut -c1-64)
sql_case "change procedure text and its hash together" "procedures row 1 " \
	"DROP TRIGGER procedures_no_update;
	 UPDATE procedures SET content = replace(content, '1.0011', '1.0000'), sha256 = '$NEWSHA'
	 WHERE id = 1;"
sql_case "change the rig profile's hash" "profiles row 1 " \
	"DROP TRIGGER profiles_no_update;
	 UPDATE profiles SET sha256 = '$(printf p | sha256sum | cut -c1-64)' WHERE id = 1;"
# The scale typo of a real incident (0.0001 L per count written 0.001), with a digest that
# matches the edited text: content and hash agree, only the chain shows the edit.
NEWPSHA=$(/usr/bin/python3 -c "import hashlib, sqlite3, sys
c = sqlite3.connect(sys.argv[1]).execute('SELECT content FROM profiles WHERE id = 1').fetchone()[0]
print(hashlib.sha256(c.replace('scale: 0.001,', 'scale: 0.0001,').encode()).hexdigest())" "$BASE")
sql_case "change profile text and its hash together" "profiles row 1 " \
	"DROP TRIGGER profiles_no_update;
	 UPDATE profiles SET content = replace(content, 'scale: 0.001,', 'scale: 0.0001,'),
	 sha256 = '$NEWPSHA' WHERE id = 1;"
PR=$(q "SELECT id FROM runs WHERE profile IS NOT NULL ORDER BY id LIMIT 1")
sql_case "point a run at another profile" "runs row $PR " \
	"UPDATE runs SET profile = (SELECT max(id) FROM profiles) WHERE id = $PR;"
sql_case "clear a run's profile" "runs row $PR " \
	"UPDATE runs SET profile = NULL WHERE id = $PR;"
sql_case "drop the profiles table" "table profiles is missing" \
	"PRAGMA foreign_keys = OFF; DROP TABLE profiles;"
PC=$(q "SELECT id FROM audit_events WHERE action = 'profile.changed'")
sql_case "delete the profile.changed audit event" "audit_events row $PC[^0-9]" \
	"DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE id = $PC;"
sql_case "change the software digest" "software row 1 " \
	"DROP TRIGGER software_no_update;
	 UPDATE software SET exe_sha256 = replace(exe_sha256, '6f1c', '0000');"
sql_case "change a run's operator" "runs row 1 " \
	"UPDATE runs SET operator = 'someone.else' WHERE id = 1;"
sql_case "clear a run's simulated flag" "runs row 1 " \
	"UPDATE runs SET simulated = 0 WHERE id = 1;"
sql_case "turn an aborted run into done" "runs row 5 " \
	"UPDATE runs SET state = 'done', end_reason = NULL WHERE id = 5;"
sql_case "backdate a run" "runs row 2 " \
	"UPDATE runs SET started = '2026-01-02T08:00:00.000000Z' WHERE id = 2;"
sql_case "roll a run back to an older version" "runs row 5 .*later version" \
	"UPDATE runs SET state = 'running', ended = NULL, ended_mono = NULL, end_reason = NULL,
	   chain_seq = (SELECT min(seq) FROM chain WHERE tbl = 'runs' AND row_id = 5) WHERE id = 5;"
sql_case "swap two runs" "runs row [12] " \
	"UPDATE runs SET id = -1 WHERE id = 1; UPDATE runs SET id = 1 WHERE id = 2;
	 UPDATE runs SET id = 2 WHERE id = -1;"
sql_case "change a meter's serial" "meters row 1 " \
	"DROP TRIGGER meters_no_update; UPDATE meters SET serial = 'WM-2026-X1' WHERE id = 1;"
sql_case "move a position to another meter" "positions row 1 " \
	"UPDATE positions SET meter = 2 WHERE id = 1;"
sql_case "edit an operator input" "inputs row 1 " \
	"DROP TRIGGER inputs_no_update;
	 UPDATE inputs SET answer = 'no leak at 2.5 MPa for 60 s' WHERE id = 1;"
sql_case "edit the station's authorisation" "stations row 1 " \
	"UPDATE stations SET authorisation = '(Forged) 00-000' WHERE id = 1;"
sql_case "add a column with a value to points" "points row 1 " \
	"ALTER TABLE points ADD COLUMN note TEXT DEFAULT 'adjusted';"

# ---- audit events, history, certificates --------------------------------------------------------
A=$(q "SELECT id FROM audit_events WHERE action = 'standard.change' ORDER BY id LIMIT 1")
sql_case "change an audit event's old value" "audit_events row $A " \
	"DROP TRIGGER audit_events_no_update;
	 UPDATE audit_events SET old = replace(old, 'JL-2026-G-00093', 'JL-2026-G-00193')
	 WHERE id = $A;"
C=$(q "SELECT id FROM audit_events WHERE action = 'verdict.correct'")
sql_case "change who made a correction" "audit_events row $C " \
	"DROP TRIGGER audit_events_no_update;
	 UPDATE audit_events SET actor = 'metrod' WHERE id = $C;"
sql_case "delete an audit event" "audit_events row $C[^0-9]" \
	"DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE id = $C;"
SC=$(q "SELECT id FROM standard_changes WHERE field = 'due' AND old IS NOT NULL LIMIT 1")
sql_case "edit a standard's change history" "standard_changes row $SC " \
	"DROP TRIGGER standard_changes_no_update;
	 UPDATE standard_changes SET old = '\"2099-01-01\"' WHERE id = $SC;"
sql_case "renumber a certificate" "certificates row 3 " \
	"DROP TRIGGER certificates_no_update;
	 UPDATE certificates SET number = 'demo-lab-2026-000099' WHERE id = 3;"
sql_case "delete a certificate" "certificates row 3[^0-9]" \
	"DROP TRIGGER certificates_no_delete; DELETE FROM certificates WHERE id = 3;"
sql_case "wind the certificate sequence back" "beyond the sequence" \
	"DROP TRIGGER cert_sequence_rises; UPDATE cert_sequence SET last = 2;"

# ---- the chain itself ---------------------------------------------------------------------------
S1=$(q "SELECT chain_seq FROM points WHERE id = 1")
S2=$(q "SELECT chain_seq FROM points WHERE id = 2")
sql_case "swap two rows' chain positions" "points row [12] claims chain record" \
	"DROP TRIGGER points_no_update;
	 UPDATE points SET chain_seq = $S2 WHERE id = 1;
	 UPDATE points SET chain_seq = $S1 WHERE id = 2;"
sql_case "reorder two chain records" "chain record (40|41)[^0-9]" \
	"DROP TRIGGER chain_no_update;
	 UPDATE chain SET seq = -1 WHERE seq = 40; UPDATE chain SET seq = 40 WHERE seq = 41;
	 UPDATE chain SET seq = 41 WHERE seq = -1;"
sql_case "delete a chain record" "chain records 50\.\.50 are missing|claims chain record 50," \
	"DROP TRIGGER chain_no_delete; DELETE FROM chain WHERE seq = 50;"
sql_case "edit a chain hash" "chain record 60[^0-9]" \
	"DROP TRIGGER chain_no_update;
	 UPDATE chain SET hash = '$(printf y | sha256sum | cut -c1-64)' WHERE seq = 60;"
sql_case "edit a chain row hash" "chain record 61[^0-9]" \
	"DROP TRIGGER chain_no_update;
	 UPDATE chain SET row_hash = '$(printf z | sha256sum | cut -c1-64)' WHERE seq = 61;"
LAST=$(q "SELECT max(seq) FROM chain")
sql_case "truncate the chain tail" "claims chain record|does not exist|no longer carries" \
	"DROP TRIGGER chain_no_delete; DELETE FROM chain WHERE seq > $((LAST - 10));"
sql_case "drop the chain" "table chain is missing" "DROP TABLE chain;"

# ---- checkpoints ---------------------------------------------------------------------------------
sql_case "delete a checkpoint" "checkpoints row 2|chain record [0-9]+ records checkpoints row 2" \
	"DROP TRIGGER checkpoints_no_delete; DELETE FROM checkpoints WHERE epoch = 2;"
sql_case "alter a checkpoint's epoch" "checkpoints row 3 " \
	"DROP TRIGGER checkpoints_no_update; UPDATE checkpoints SET epoch = 9 WHERE epoch = 3;"
sql_case "alter a checkpoint's signature" "checkpoints row 1 " \
	"DROP TRIGGER checkpoints_no_update;
	 UPDATE checkpoints SET signature = '00' || substr(signature, 3) WHERE epoch = 1;"
sql_case "alter a checkpoint's head hash" "checkpoints row 2 " \
	"DROP TRIGGER checkpoints_no_update;
	 UPDATE checkpoints SET head_hash = '$(printf w | sha256sum | cut -c1-64)' WHERE epoch = 2;"
CPS=$(q "SELECT chain_seq FROM checkpoints ORDER BY epoch DESC LIMIT 1")
fresh
sqlite3 -bail "$DB" "DROP TRIGGER checkpoints_no_delete; DROP TRIGGER chain_no_delete;
	DELETE FROM checkpoints WHERE chain_seq = $CPS; DELETE FROM chain WHERE seq = $CPS;"
verify_case "delete the latest checkpoint (vs published)" "rollback: .*lacks published checkpoint" \
	--pubkey "$PUB" --checkpoint "$work/published.json"

# ---- rollback, truncation to a consistent prefix, forgery ---------------------------------------
rm -f "$DB"*; cp "$work/old.db" "$DB"
verify_case "restore an older copy (vs published)" "rollback: .*lacks published checkpoint" \
	--pubkey "$PUB" --checkpoint "$work/published.json"
# A careful truncation: everything after checkpoint epoch 2 removed, rows and chain alike, and
# the rows changed since rolled back: only the published checkpoint shows it.
H=$(q "SELECT chain_seq FROM checkpoints WHERE epoch = 2")
fresh
{
	echo "PRAGMA foreign_keys = OFF;"
	sqlite3 "$BASE" "SELECT name FROM sqlite_schema WHERE type = 'trigger'" |
		sed 's/.*/DROP TRIGGER "&";/'
	for t in stations standards rigs audit_events standard_changes procedures profiles software \
		meters runs run_standards positions points verdicts inputs certificates checkpoints; do
		echo "DELETE FROM $t WHERE chain_seq > $H AND NOT EXISTS (SELECT 1 FROM chain c
		      WHERE c.tbl = '$t' AND c.row_id = $t.id AND c.seq <= $H);"
	done
	echo "DELETE FROM chain WHERE seq > $H;"
} >"$work/truncate.sql"
# Mutable rows updated after the cut cannot be restored without their old content: delete what
# can be deleted, and count on the published checkpoint for the rest.
sqlite3 "$DB" <"$work/truncate.sql" >/dev/null 2>&1
verify_case "truncate to a prefix (vs published)" "rollback|claims chain record|does not exist" \
	--pubkey "$PUB" --checkpoint "$work/published.json"

fresh
sqlite3 -bail "$DB" "DROP TRIGGER points_no_update;
	UPDATE points SET error = '0.10', verdict = 'pass', mpe = '5' WHERE id = $F;" &&
	"$FIXTURE" forge "$DB" "$work/forged.pub"
verify_case "re-signed with a forged key (real --pubkey)" "checkpoints row 1 .*trusted key" \
	--pubkey "$PUB"
verify_case "re-signed forgery vs published checkpoint" "fork: checkpoint epoch" \
	--checkpoint "$work/published.json"
# What the stored key proves: the forgery is consistent, so without the real key (or a
# published checkpoint) it verifies.  This is why --pubkey is the trustworthy mode.
n=$((n + 1))
if "$METROCTL" audit verify --db "$DB" >/dev/null 2>&1 &&
	"$METROCTL" audit verify --db "$DB" --pubkey "$work/forged.pub" >/dev/null 2>&1; then
	pass=$((pass + 1))
	printf 'ok   %2d %-44s %s\n' "$n" "(expected) forgery passes with its own key" \
		"consistent; only --pubkey or --checkpoint exposes it"
else
	fail=$((fail + 1))
	printf 'FAIL %2d forged database does not verify against its own key\n' "$n"
fi
# A forger who edits a profile's text, rewrites every hash and re-signs, but leaves the stored
# digest the runs cite: even under the forger's own key the content check names the row.
fresh
sqlite3 -bail "$DB" "DROP TRIGGER profiles_no_update; UPDATE profiles SET
	content = replace(content, 'scale: 0.001,', 'scale: 0.0001,') WHERE id = 1;" &&
	"$FIXTURE" forge "$DB" "$work/forged2.pub"
verify_case "profile text edited, all re-signed (own key)" "profiles row 1: stored sha256" \
	--pubkey "$work/forged2.pub"
fresh
OTHER=$work/other.pub
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$OTHER"
verify_case "verify with another station's key" "checkpoints row 1 .*trusted key" \
	--pubkey "$OTHER"

# ---- byte edits of the file ----------------------------------------------------------------------
dd_case "dd: one digit of a stored answer" "inputs row 1 " "no leak at 1.6 MPa" "no leak at 1.9"
dd_case "dd: one byte of a reading" "points row [0-9]+ |damaged" \
	'"scale_kg":99.87' '"scale_kg":99.97'
dd_case "dd: a standard's certificate number" "row [0-9]+ |damaged" \
	"JL-2026-E-00452" "JL-2026-E-00457"
fresh
PS=$(sqlite3 "$DB" "PRAGMA page_size")
dd if=/dev/zero of="$DB" bs="$PS" seek=3 count=1 conv=notrunc status=none
verify_case "dd: zero a whole page" "damaged|row|chain"

# ---- generated: every column of every chained table ----------------------------------------------
# For each chained table, its columns come from PRAGMA table_info; for every column but the
# INTEGER PRIMARY KEY, one value of one row is changed on a fresh copy with the sqlite3 CLI (a
# type-appropriate change; value -> NULL and NULL -> value where the column allows NULL and the
# fixture has such a row).  Both `metroctl audit verify` (exit 1, the first failing record is
# that table and row) and the independent tests/lib/chain_verify.py (exit 1, a line naming that
# table and row) must detect it.  A chained table without rows in the fixture is a failure.
CHAINED="stations standards rigs audit_events standard_changes procedures profiles software meters
	runs run_standards positions points verdicts inputs certificates checkpoints people
	person_changes certificate_steps"
# The edit runs in one transaction with the triggers dropped: an edit a CHECK refuses rolls back
# whole, and the next candidate is tried on the same untouched copy.
TRG=$(q "SELECT group_concat('DROP TRIGGER IF EXISTS \"' || name || '\";', ' ') FROM sqlite_schema
	WHERE type = 'trigger'")
fresh_cv() { # the independent verifier on $DB; "ok" line or the problems on stdout
	/usr/bin/python3 "$CHAIN_VERIFY" "$DB" --pubkey "$PUB"
}
fresh
out=$(fresh_cv 2>&1)
rc=$?
n=$((n + 1))
if [ $rc -eq 0 ] && [ "${out%% *}" = ok ]; then
	pass=$((pass + 1)); printf 'ok   %2d %-44s %s\n' "$n" "chain_verify.py: untouched copy" "$out"
else
	fail=$((fail + 1)); printf 'FAIL %2d chain_verify.py on the untouched copy:\n%s\n' "$n" "$out"
fi
gen=0 gen_value=0 gen_to_null=0 gen_from_null=0
# gen_case KIND TABLE KEY ROW COLUMN EXPR...: the first EXPR that SQLite accepts (CHECK
# constraints) and that changes the stored value is the edit; then both verifiers.
gen_case() {
	local kind=$1 t=$2 key=$3 row=$4 col=$5 e before after out rc cvout cvrc name
	shift 5
	name="$t.$col $kind"
	n=$((n + 1)); gen=$((gen + 1))
	fresh
	before=$(q "SELECT quote(\"$col\") FROM $t WHERE $key = $row")
	after=$before
	for e in "$@"; do
		after=$(sqlite3 -bail "$DB" "BEGIN; $TRG UPDATE $t SET \"$col\" = $e WHERE $key = $row;
			COMMIT; SELECT quote(\"$col\") FROM $t WHERE $key = $row;" 2>/dev/null) || {
			after=$before; continue; }
		[ "$after" != "$before" ] && break
	done
	if [ "$after" = "$before" ]; then
		fail=$((fail + 1))
		printf 'FAIL %2d %-44s no edit of row %s was accepted (%s)\n' "$n" "$name" "$row" "$*"
		return
	fi
	out=$("$METROCTL" audit verify --db "$DB" --pubkey "$PUB" 2>"$work/stderr")
	rc=$?
	out=$(head -n 1 <<<"$out")
	cvout=$(fresh_cv 2>&1)
	cvrc=$?
	if [ "$rc" -eq 1 ] && grep -Eq -- "$t row $row([^0-9]|$)" <<<"$out" &&
		! grep -Eq 'Sanitizer|runtime error' "$work/stderr" && [ "$cvrc" -eq 1 ] &&
		grep -Eq -- "(^|\()$t row $row[:)]" <<<"$cvout"; then
		pass=$((pass + 1))
		case $kind in value) gen_value=$((gen_value + 1)) ;; "-> NULL") gen_to_null=$((gen_to_null + 1)) ;;
			*) gen_from_null=$((gen_from_null + 1)) ;; esac
		printf 'ok   %2d %-44s row %s %s -> %s\n' "$n" "$name" "$row" "${before:0:24}" "${after:0:24}"
	else
		fail=$((fail + 1))
		printf 'FAIL %2d %-44s row %s %s -> %s: metroctl exit %s: %s\n     chain_verify exit %s:\n%s\n' \
			"$n" "$name" "$row" "${before:0:40}" "${after:0:40}" "$rc" "$out" "$cvrc" "$cvout"
	fi
}
# Candidate edits by declared type; "C" is the column.  Text: a digit appended, the first
# character changed (same length: hashes, hex keys), a date moved by a day, a JSON member added
# or an element appended, a space appended, then other words of the enumerations.
text_edits() {
	local c=$1
	echo "$c || '1'"
	echo "(CASE substr($c, 1, 1) WHEN '0' THEN '1' ELSE '0' END) || substr($c, 2)"
	echo "coalesce(date($c, '+1 day'), $c)"
	echo "json_set($c, '\$.tampered', 1)"
	echo "json_insert($c, '\$[#]', 1)"
	echo "$c || ' '"
	for w in pass fail conditional error done stopped aborted notice certificate verified checked \
		approved issued voided verifier checker approver manager; do echo "'$w'"; done
}
for t in $CHAINED; do
	if [ "$(q "SELECT count(*) FROM $t")" -eq 0 ]; then
		n=$((n + 1)); fail=$((fail + 1))
		printf 'FAIL %2d %-44s no rows in the fixture: extend test_store_fixture.c\n' "$n" "$t"
		continue
	fi
	key=$(q "SELECT name FROM pragma_table_info('$t') WHERE pk = 1")
	mapfile -t cols < <(q "SELECT name || '|' || upper(type) || '|' || \"notnull\"
		FROM pragma_table_info('$t') WHERE pk = 0 ORDER BY cid")
	for ci in "${cols[@]}"; do
		IFS='|' read -r col type notnull <<<"$ci"
		c="\"$col\""
		case $type in
		INTEGER) edits=("$c + 1000" "$c + 1" "1 - $c" "$c - 1"); fill=(1 0 2) ;;
		REAL) edits=("$c + 0.5" "-$c"); fill=(1.5) ;;
		BLOB) edits=("$c || x'00'"); fill=("x'00'") ;;
		*) mapfile -t edits < <(text_edits "$c")
		   fill=("'1'" "'{}'" "'[]'" "'2026-01-01'" "'pass'" "'\"x\"'" "'x'") ;;
		esac
		R=$(q "SELECT $key FROM $t WHERE $c IS NOT NULL ORDER BY $key LIMIT 1")
		[ -n "$R" ] && gen_case value "$t" "$key" "$R" "$col" "${edits[@]}"
		[ "$notnull" = 1 ] && continue
		[ -n "$R" ] && gen_case "-> NULL" "$t" "$key" "$R" "$col" NULL
		R=$(q "SELECT $key FROM $t WHERE $c IS NULL ORDER BY $key LIMIT 1")
		[ -n "$R" ] && gen_case "NULL ->" "$t" "$key" "$R" "$col" "${fill[@]}"
	done
done
echo "generated: $gen cases over $(wc -w <<<"$CHAINED") tables ($gen_value value changes," \
	"$gen_to_null value -> NULL, $gen_from_null NULL -> value detected by both verifiers)"

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
