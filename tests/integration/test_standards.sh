#!/usr/bin/env bash
# The reference-standards registry at run time: due-date alarms published on alarm.<rig>
# (a warning within due_warning_days, an error once past due; at start, after a reload and
# daily), and a manager's change of a standard through the control API (standard-set):
# recorded with old and new values, who and why, used at once, and refused whole when any
# field is wrong (a calibration date after today among them).
set -u
. tests/lib/rigs.sh
PY=/usr/bin/python3
D10=$(date -d '+10 days' +%F)
DM1=$(date -d '-1 day' +%F)
D400=$(date -d '+400 days' +%F)
cat >"$TMP/metrod.yaml" <<YAML
station: {id: std-lab, name: Standards test, institution: Test institute, authorisation: "T-2"}
control: {endpoint: "$CTL"}
publish: {endpoint: "$PUB"}
store: {path: $TMP/records.db}
procedures: [$PWD/procedures]
due_warning_days: 30
standards:
  - {id: ws, description: Flow bench, certificate: C-W-1, issuer: Test, calibrated: 2026-01-01, due: $D10, uncertainty: {value: 0.2, k: 2}}
  - {id: gs, description: Bell prover, certificate: C-G-1, issuer: Test, calibrated: 2025-01-01, due: $DM1, uncertainty: {value: 0.2, k: 2}}
rigs:
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $(free_port)}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws]}
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/none.pty}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs]}
YAML
start_metrod "$TMP/metrod.yaml"
$PY tests/lib/stream_client.py subscribe "$PUB" "$TMP/sub.jsonl" 4 >/dev/null 2>&1 &
sub=$!
# The subscription is live once a document (health, every second) has come through it.
for _ in $(seq 40); do [ -s "$TMP/sub.jsonl" ] && break; sleep 0.1; done
kill -HUP "$METROD_PID" # a reload checks the due dates again
wait "$sub"
alarm() { $PY - "$TMP/sub.jsonl" "$1" <<'PY'
import json, sys
import jsonschema
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
a = [d["doc"] for d in docs if d["topic"] == "alarm." + sys.argv[2] and d["doc"].get("alarm") == "standard-due"]
if not a:
    print("none"); sys.exit()
schema = json.load(open("docs/schema/alarm.json"))
jsonschema.validate(a[-1], schema)
print(a[-1]["severity"], a[-1]["standard"], a[-1]["certificate"], a[-1]["days_left"])
PY
}
check "a standard due in 10 days: a warning on its rig" "$(alarm water-1)" "warning ws C-W-1 10"
check "a standard past due: an error on its rig" "$(alarm gas-1)" "error gs C-G-1 -1"

req() { $PY - "$CTL" "$1" <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
s.send(sys.argv[2].encode())
if not s.poll(5000):
    print("no reply"); sys.exit()
r = json.loads(s.recv())
print("ok" if r["ok"] else r["error"]["code"] + ": " + r["error"]["message"])
PY
}
NEW='{"id": "ws", "description": "Flow bench", "certificate": "C-W-2", "issuer": "Provincial institute", "calibrated": "'$(date +%F)'", "due": "'$D400'", "uncertainty": {"value": 0.15, "k": 2}}'
check "a change without a reason is refused" "$(req '{"id": 1, "cmd": "standard-set", "standard": '"$NEW"'}' | cut -d: -f1)" "bad-request"
check "an unknown standard is refused" "$(req '{"id": 2, "cmd": "standard-set", "why": "x", "standard": {"id": "zz", "description": "d", "certificate": "c", "issuer": "i", "calibrated": "2026-01-01", "due": "2027-01-01", "class": "0.05"}}' | cut -d: -f1)" "not-found"
check "a bad date is refused, naming the field" "$(req '{"id": 3, "cmd": "standard-set", "why": "x", "standard": {"id": "ws", "description": "d", "certificate": "c", "issuer": "i", "calibrated": "2026-13-01", "due": "2027-01-01", "class": "0.05"}}')" "bad-request: standard.calibrated: '2026-13-01' is not a valid date (YYYY-MM-DD)"
check "both an uncertainty and a class is refused" "$(req '{"id": 4, "cmd": "standard-set", "why": "x", "standard": {"id": "ws", "description": "d", "certificate": "c", "issuer": "i", "calibrated": "2026-01-01", "due": "2027-01-01", "class": "0.05", "uncertainty": {"value": 0.1, "k": 2}}}' | cut -d: -f1)" "bad-request"
check "an unknown field is refused, naming it" "$(req '{"id": 5, "cmd": "standard-set", "why": "x", "standard": {"id": "ws", "colour": "red"}}' | cut -d'(' -f1)" "bad-request: unknown key 'standard.colour' "
check "the configuration's rules apply (k within 1..4)" "$(req '{"id": 7, "cmd": "standard-set", "why": "x", "standard": {"id": "ws", "description": "d", "certificate": "c", "issuer": "i", "calibrated": "2026-01-01", "due": "2027-01-01", "uncertainty": {"value": 0.1, "k": 9}}}')" "bad-request: standard.uncertainty.k: 9 is out of range [1, 4]"
D1=$(date -d '+1 day' +%F)
check "a calibration date after today is refused, naming the standard and the date" "$(req '{"id": 8, "cmd": "standard-set", "why": "x", "standard": {"id": "ws", "description": "d", "certificate": "c", "issuer": "i", "calibrated": "'$D1'", "due": "'$D400'", "class": "0.05"}}')" "bad-request: standard.calibrated: standard ws was calibrated on $D1, after today: a calibration date cannot be in the future (is the date, or the system clock, wrong?)"
check "nothing changed by the refusals" "$(mctl --json standards | json "[x['certificate'] for x in d['standards'] if x['id']=='ws'][0]")" "C-W-1"
check "a manager's change with a reason is accepted" "$(req '{"id": 6, "cmd": "standard-set", "why": "recalibrated, certificate C-W-2", "standard": '"$NEW"'}')" "ok"
check "the running configuration uses it at once" "$(mctl --json standards | json "[(x['certificate'], x['due']) for x in d['standards'] if x['id']=='ws'][0]")" "('C-W-2', '$D400')"
cat >"$TMP/ws.yaml" <<YAML
{id: ws, description: Flow bench, certificate: C-W-3, issuer: Provincial institute, calibrated: $(date +%F), due: $D400, uncertainty: {value: 0.1, k: 2}, assessment: {certificate: "[2026]A-1", due: $D400}}
YAML
mctl standard-set "$TMP/ws.yaml" --why "certificate reissued" >/dev/null 2>&1
check "metroctl standard-set" "$?" "0"
check "metroctl standard-set: the change is in effect" "$(mctl --json standards | json "[(x['certificate'], x['uncertainty']['value'], x['assessment']['certificate']) for x in d['standards'] if x['id']=='ws'][0]")" "('C-W-3', 0.1, '[2026]A-1')"
mctl standard-set "$TMP/ws.yaml" >/dev/null 2>&1
check "metroctl standard-set without --why is a usage error" "$?" "2"
kill -TERM "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
sq() { sqlite3 "$TMP/records.db" "$1"; }
check "the registry holds the new certificate" "$(sq "select certificate || ' ' || due from standards where std_id = 'ws'")" "C-W-3 $D400"
check "each changed field is a standard_changes row (old and new)" "$(sq "select old || '>' || new from standard_changes where field = 'certificate' and new like '%C-W-2%'" | tr -d '"')" "C-W-1>C-W-2"
check "the change is an audit event by the client, with the reason" "$(sq "select actor || '|' || why from audit_events where why like 'recalibrated%' and action like 'standard%'" | head -n 1)" "unauthenticated|recalibrated, certificate C-W-2"
"$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >/dev/null 2>&1
check "the records still verify" "$?" "0"
finish
