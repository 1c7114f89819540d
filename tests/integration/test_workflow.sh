#!/usr/bin/env bash
# The certificate workflow end to end through metrod (issue #17): with a person registry a
# run's verdicts get draft certificates, which people sign step by step with their own keys
# over CURVE (metroctl certify): verified by the verifier, checked and approved by others,
# issued; only then does metroctl report print it.  Out of order, the same person checking
# their own verification, a program client and a person signing for another are refused
# with their codes; a voided certificate stays and its reissue names it; the chain verifies.
set -u
. tests/lib/rigs.sh
keys --person li wang zhao
keys daemon sink
cp "$K/sink.pub" "$K/clients/sink.pub"
water_bench 600
curve_control "$TMP/metrod.yaml"
{ cat "$TMP/metrod.yaml"; cat <<YAML
people:
  - {id: li, name: 李娜, roles: [operator, verifier, checker], qualification: {certificate: JDY-0142, valid_until: 2099-12-31}, procedures: [jjg162-*], key: "$(sign li)"}
  - {id: wang, name: 王强, roles: [checker], qualification: {certificate: JDY-0077, valid_until: 2099-12-31}, procedures: [jjg162-*], key: "$(sign wang)"}
  - {id: zhao, name: 赵敏, roles: [approver], qualification: {certificate: PZ-0009, valid_until: 2099-12-31}, key: "$(sign zhao)"}
YAML
} >"$TMP/metrod2.yaml"
mv "$TMP/metrod2.yaml" "$TMP/metrod.yaml"
grep -v '^operator:' config/batches/water-initial.yaml >"$TMP/batch.yaml"
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
AS_TIMEOUT=5000
for _ in $(seq 100); do as li ping >/dev/null 2>&1 && break; sleep 0.1; done
timeout 300 "$B/metroctl" -e "$CTL" --key "$K/li.key" --server-key "$K/daemon.pub" --json \
	start "$TMP/batch.yaml" --wait --auto-answer pass 2>"$TMP/run.err" | tail -n 1 >"$TMP/run.json"
check "li's batch runs to its end" "$(json "d.get('result')" <"$TMP/run.json")" "done"
DB=$TMP/records.db
q() { sqlite3 "file:$DB?mode=ro" "$1"; }
N=$(q "SELECT number FROM certificates WHERE kind='certificate' ORDER BY number LIMIT 1")
check "a pass earns a draft certificate (workflow)" "$(q "SELECT count(*) FROM certificates WHERE workflow=1") $(q "SELECT count(*) FROM certificates WHERE workflow IS NOT 1")" \
	"$(q "SELECT count(*) FROM verdicts WHERE verdict IN ('pass','fail')") 0"
report() { "$B/metroctl" report certificate --db "$DB" --pubkey "$TMP/records.pub" --number "$N" -o "$TMP/$1.pdf" >/dev/null 2>"$TMP/$1.err"; }
report draft
check "a draft does not print" "$? $([ -e "$TMP/draft.pdf" ] && echo written || echo none)" "1 none"
# code WHO ARGS...: the refusal code of a certify (or "ok")
code() { local who=$1; shift; as "$who" --json "$@" | json "d.get('error', {}).get('code', 'ok')"; }
check "checked before verified: out of order" "$(code wang certify "$N" checked)" "out-of-order"
check "the verifier signs verified" "$(code li certify "$N" verified)" "ok"
check "the verifier may not check their own verification" "$(code li certify "$N" checked)" "same-person"
check "the approver may not check (no checker role)" "$(code zhao certify "$N" checked)" "forbidden"
check "wang checks" "$(code wang certify "$N" checked)" "ok"
check "wang's step again: exists" "$(code wang certify "$N" checked)" "exists"
check "zhao approves" "$(code zhao certify "$N" approved)" "ok"
report approved
check "approved, not issued: still does not print" "$?" "1"
check "zhao issues" "$(code zhao certify "$N" issued)" "ok"
report issued
check "issued: it prints" "$?" "0"
pdftotext "$TMP/issued.pdf" - 2>/dev/null | tr -d ' ' >"$TMP/issued.txt"
check "the PDF names the three signers and their qualifications" \
	"$(for x in 李娜 JDY-0142 王强 JDY-0077 赵敏 PZ-0009; do grep -c "$x" "$TMP/issued.txt" | sed 's/^[1-9][0-9]*$/y/'; done | tr -d '\n')" "yyyyyy"
# A program client and a person signing for someone else, sent by hand (python3-zmq, CURVE).
raw() { # KEY PERSON: a certificate-step for PERSON over the connection of KEY's key
	/usr/bin/python3 - "$CTL" "$K/$1.key" "$K/daemon.pub" "$2" "$N" <<'PY'
import json, re, sys, zmq
ep, key, srv, person, number = sys.argv[1:]
def z(path, k): return re.search(r'^%s: "(.*)"$' % k, open(path).read(), re.M).group(1).encode()
s = zmq.Context().socket(zmq.DEALER)
s.curve_publickey, s.curve_secretkey, s.curve_serverkey = z(key, "public"), z(key, "secret"), z(srv, "public")
s.connect(ep)
s.send(json.dumps({"id": 1, "cmd": "certificate-step", "number": number, "step": "voided",
                   "person": person, "time": "2026-01-01T00:00:00Z", "why": "x",
                   "signature": "00" * 64}).encode())
print(json.loads(s.recv())["error"]["code"] if s.poll(5000) else "silent")
PY
}
check "a program client cannot sign a step" "$(raw sink zhao)" "not-a-person"
check "a person cannot sign for another" "$(raw wang zhao)" "not-you"
check "zhao's forged signature (all zeros) over his own connection" "$(raw zhao zhao)" "bad-signature"
check "voiding needs a reason" "$(code zhao certify "$N" voided)" "bad-request"
check "zhao voids it, saying why" "$(code zhao certify "$N" voided --why "wrong serial number on the certificate")" "ok"
report voided
check "a voided certificate does not print" "$?" "1"
out=$(as zhao --json reissue "$N" --why "serial number corrected")
check "zhao has it reissued" "$(echo "$out" | json "d.get('error', {}).get('code', 'ok')")" "ok"
M=$(echo "$out" | json "d['number']")
check "the new number replaces the voided one" "$(q "SELECT replaces FROM certificates WHERE number='$M'")" "$N"
check "its verified step must name what it replaces" "$(code li certify "$M" verified)" "replaces"
check "... and is taken when it does" "$(code li certify "$M" verified --replaces "$N")" "ok"
check "the voided certificate stays, with its five steps" "$(q "SELECT group_concat(step, ',') FROM (SELECT step FROM certificate_steps WHERE certificate='$N' ORDER BY id)")" "verified,checked,approved,issued,voided"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
"$B/metroctl" audit verify --db "$DB" --pubkey "$TMP/records.pub" >"$TMP/verify.out" 2>&1
check "the chain and every signed step verify" "$?" "0"
"$B/metroctl" records run --db "$DB" 1 >"$TMP/records.txt" 2>&1
check "records run lists the steps with their people" "$(grep -c "王强 (wang) as checker" "$TMP/records.txt")" "1"
finish
