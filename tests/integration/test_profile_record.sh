#!/usr/bin/env bash
# The rig profile in a run's record, end to end (docs/records.md "The rig profile of a run"): a
# gas batch on a simulated bell prover whose profile is a copy in the test's directory; the
# record holds exactly the file's bytes and their SHA-256 (compared with sha256sum), `trace`
# and the certificate (pdftotext) print it, `rigs` and `metrod --version` show the digest the
# rig loaded.  Then the profile is edited: a start before the reload is refused
# (profile-changed) and records nothing; after SIGHUP the next run records the new bytes and
# an audit event profile.changed with the old and new digests.  Both verifiers accept the
# database at the end.  Prints "N passed, M failed".
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_cmd pdftotext poppler-utils
need_cmd sqlite3 sqlite3
need_py cryptography python3-cryptography
PY=/usr/bin/python3
SCALE=120
gas_bench $SCALE
PROFILE=$TMP/profiles/bell-prover.yaml
mkdir -p "$TMP/profiles"
cp config/profiles/bell-prover.yaml "$PROFILE"
sed -i "s|profile: $PWD/config/profiles/bell-prover.yaml|profile: $PROFILE|" "$TMP/metrod.yaml"
check "the rig uses the test's copy of the profile" "$(grep -c "profile: $PROFILE," "$TMP/metrod.yaml")" "1"
DB=$TMP/records.db
sha() { sha256sum "$1" | cut -c1-64; }
sql() { $PY -c "import sqlite3,sys; c=sqlite3.connect('file:$DB?mode=ro',uri=True); print(c.execute(sys.argv[1]).fetchone()[0])" "$1"; }
# rig_profile KEY: the gas rig's profile member KEY in the `rigs` reply
rig_profile() { mctl --json rigs | json "[r for r in d['rigs'] if r['id'] == 'gas-1'][0]['profile']['$1']"; }
# stored RUN: "same" when the profile recorded with RUN is byte for byte the file $PROFILE and
# its stored digest is sha256sum's, else what differs
stored() {
	$PY - "$DB" "$1" "$PROFILE" "$(sha "$PROFILE")" <<'PY'
import sqlite3, sys
db, run, path, want = sys.argv[1:5]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
c.text_factory = bytes
row = c.execute("SELECT p.content, p.sha256, p.path, p.name FROM runs r JOIN profiles p "
                "ON p.id = r.profile WHERE r.id = ?", (int(run),)).fetchone()
if row is None:
    print("no profile recorded with run %s" % run)
    sys.exit()
content, digest, rpath, name = row
bad = []
if content != open(path, "rb").read():
    bad.append("content differs from the file")
if digest.decode() != want:
    bad.append("sha256 %s, sha256sum %s" % (digest.decode(), want))
if rpath.decode() != path or name.decode() != "bell-prover.yaml":
    bad.append("path %s, name %s" % (rpath.decode(), name.decode()))
print("; ".join(bad) or "same")
PY
}
batch() { # NAME: the gas batch; its final JSON in $TMP/NAME.json
	timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass \
		2>"$TMP/$1.err" | tail -n 1 >"$TMP/$1.json"
}

# ---- the first run records the profile it ran with -----------------------------------------------
SHA1=$(sha "$PROFILE")
start_metrod "$TMP/metrod.yaml"
check "rigs: the digest the rig loaded is sha256sum's" "$(rig_profile sha256)" "$SHA1"
check "rigs: and its file" "$(rig_profile file)" "$PROFILE"
batch run1
check "run 1 runs to its end" "$(json "d.get('result')" <"$TMP/run1.json")" "done"
check "run 1 recorded the profile file byte for byte, with sha256sum's digest" "$(stored 1)" "same"
check "no profile.changed on the rig's first run" \
	"$(sql "SELECT count(*) FROM audit_events WHERE action = 'profile.changed'")" "0"
SER=$(sql "SELECT m.serial FROM positions p JOIN meters m ON m.id = p.meter WHERE p.run = 1 AND p.position = 1")
"$B/metroctl" trace --db "$DB" --pubkey "$TMP/records.pub" "$SER" >"$TMP/trace1.txt" 2>"$TMP/trace1.err"
check "trace of run 1 succeeds" "$?" "0"
check "trace shows the profile's name and path" \
	"$(grep -c "^rig profile bell-prover.yaml ($PROFILE)$" "$TMP/trace1.txt")" "1"
check "trace shows its sha256, content intact" \
	"$(grep -c "^  sha256 $SHA1 (the stored content has this digest)$" "$TMP/trace1.txt")" "1"

# ---- an edited profile: refused until reloaded ------------------------------------------------------
printf '# reply terminator checked against the prover manual, rev. C\n' >>"$PROFILE"
SHA2=$(sha "$PROFILE")
check "the edit changed the digest" "$([ "$SHA1" != "$SHA2" ] && echo yes)" "yes"
batch refused
check "a start before the reload is refused as profile-changed" \
	"$(grep -c 'profile-changed' "$TMP/refused.err" "$TMP/refused.json" | awk -F: '{s += $2} END {print (s > 0)}')" "1"
check "the refusal names the file" "$(cat "$TMP/refused.err" "$TMP/refused.json" | grep -c "$PROFILE changed since the rig loaded it")" "1"
check "the refused start recorded no run" "$(sql 'SELECT count(*) FROM runs')" "1"
check "and no profile" "$(sql 'SELECT count(*) FROM profiles')" "1"

kill -HUP "$METROD_PID"
# The reload restarts the rig with the new profile: wait until it shows the new digest, idle.
for i in $(seq 100); do
	[ "$(rig_profile sha256 2>/dev/null)" = "$SHA2" ] &&
		[ "$(mctl --json rigs | json "[r['state'] for r in d['rigs'] if r['id'] == 'gas-1'][0]" 2>/dev/null)" = idle ] && break
	sleep 0.1
done
check "after SIGHUP the rig runs the edited profile" "$(rig_profile sha256)" "$SHA2"
batch run2
check "run 2 runs to its end" "$(json "d.get('result')" <"$TMP/run2.json")" "done"
check "run 2 recorded the edited file byte for byte" "$(stored 2)" "same"
check "run 1 still names the first version" \
	"$(sql 'SELECT p.sha256 FROM runs r JOIN profiles p ON p.id = r.profile WHERE r.id = 1')" "$SHA1"
check "one profile.changed audit event" \
	"$(sql "SELECT count(*) FROM audit_events WHERE action = 'profile.changed'")" "1"
EV="SELECT %s FROM audit_events WHERE action = 'profile.changed'"
check "profile.changed: subject the rig" "$(sql "$(printf "$EV" subject)")" "rig/gas-1"
check "profile.changed: the old digest and run" \
	"$(sql "$(printf "$EV" "json_extract(old, '\$.sha256') || ' ' || json_extract(old, '\$.run')")")" "$SHA1 1"
check "profile.changed: the new digest and run" \
	"$(sql "$(printf "$EV" "json_extract(new, '\$.sha256') || ' ' || json_extract(new, '\$.run')")")" "$SHA2 2"
check "metrod --version lists the digest of the rig's profile" \
	"$("$B/metrod" --version -c "$TMP/metrod.yaml" | grep -c "^  profile    $SHA2  $PROFILE  (rig gas-1)$")" "1"
kill -TERM "$METROD_PID"
wait "$METROD_PID"
check "metrod stops cleanly" "$?" "0"

# ---- the evidence on paper, and both verifiers ------------------------------------------------------
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
R() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" "$B/metroctl" "$@"; }
for run in 1 2; do
	R report certificate --db "$DB" --run $run --position 1 -o "$TMP/c$run.pdf" >"$TMP/c$run.log" 2>&1
	check "certificate of run $run is written" "$?" "0"
	pdftotext -layout "$TMP/c$run.pdf" "$TMP/c$run.txt"
done
check "certificate of run 1 prints the first profile digest" \
	"$(grep -c "Rig profile: bell-prover.yaml, sha256 ${SHA1:0:16}…" "$TMP/c1.txt")" "1"
check "certificate of run 2 prints the edited profile's digest" \
	"$(grep -c "Rig profile: bell-prover.yaml, sha256 ${SHA2:0:16}…" "$TMP/c2.txt")" "1"
# (within the next few lines: pdftotext may put letters of the specimen watermark between them)
check "beside the procedure digest" "$(grep -A4 'Procedure: jjg577-gas-initial, sha256' "$TMP/c2.txt" | grep -c 'Rig profile')" "1"
"$B/metroctl" audit verify --db "$DB" --pubkey "$TMP/records.pub" --strict >"$TMP/verify.txt" 2>&1
check "metroctl audit verify --strict accepts the records" "$?" "0"
out=$($PY tests/lib/chain_verify.py "$DB" --pubkey "$TMP/records.pub")
check "chain_verify.py accepts them" "$?:${out%% *}" "0:ok"
finish
