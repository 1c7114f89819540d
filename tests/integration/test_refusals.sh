#!/usr/bin/env bash
# Refused requests are audited in bounded form (#17 case 6; docs/records.md "Refused
# requests"): an observer sends 300 `start`s of 60 KB each, all refused with `forbidden`.
# The first is an audit event whose request is cut to 1 KiB (saying where); the other 299 are
# counted into one `refused.repeats` event (recorded here when metrod stops).  The record store
# grows by less than 16 KiB for all of it (18.5 MB when each was stored whole), the
# log has one line for the first refusal and one for the summary, and the trail still
# accounts for every refusal.
set -u
. tests/lib/need.sh
need_py zmq python3-zmq
. tests/lib/rigs.sh
keys daemon bob
cp "$K/bob.pub" "$K/clients/bob.pub" # role: observer
{ config_head; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: 9}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws]}
YAML
} >"$TMP/metrod.yaml"
curve_control "$TMP/metrod.yaml"
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
AS_TIMEOUT=1500
for _ in $(seq 50); do as bob ping >/dev/null 2>&1 && break; sleep 0.1; done
check "observer bob is admitted" "$(as bob --json ping | json "d['ok']")" "True"
db_bytes() { sqlite3 "$TMP/records.db" "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size();"; }
before=$(db_bytes)
refused=$(/usr/bin/python3 - "$CTL" "$K" <<'PY'
import json, re, sys, zmq
ep, keys = sys.argv[1], sys.argv[2]
def key(path, field):
    return re.search(field + r': "(.*)"', open(path).read()).group(1).encode()
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.curve_serverkey = key(keys + "/daemon.pub", "public")
s.curve_publickey = key(keys + "/bob.key", "public")
s.curve_secretkey = key(keys + "/bob.key", "secret")
s.connect(ep)
pad = "x" * 60000
n = 0
for i in range(300):
    s.send(json.dumps({"id": i, "cmd": "start", "rig": "water-1", "procedure": "p",
                       "operator": "bob", "meters": [], "pad": pad}).encode())
    if not s.poll(5000):
        sys.exit("no reply")
    r = json.loads(s.recv())
    n += (r.get("error") or {}).get("code") == "forbidden"
print(n)
PY
)
check "300 refused starts" "$refused" "300"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
after=$(db_bytes)
grew=$((after - before))
echo "  the record store grew by $grew bytes ($before -> $after)"
check "the store grew by less than 16 KiB for 300 refusals of 60 KB" "$([ "$grew" -lt 16384 ] && echo yes || echo "no: $grew bytes")" "yes"
sq() { sqlite3 "$TMP/records.db" "$1"; }
check "the first refusal is an audit event" "$(sq "SELECT count(*) FROM audit_events WHERE actor='bob' AND action='refused' AND subject='start';")" "1"
check "its reason names the refusal" "$(sq "SELECT why FROM audit_events WHERE actor='bob' AND action='refused';" | cut -c1-27)" "refused: forbidden: 'start'"
# (1001 bytes of the request: its quotes take two bytes each once written as a JSON string)
check "its request is cut to 1 KiB, saying where" "$(sq "SELECT json_extract(new, '$.cut_at') || ' of ' || json_extract(new, '$.bytes') || ', head ' || length(CAST(json_extract(new, '$.head') AS BLOB)) || ', written ' || (length(CAST(json_quote(json_extract(new, '$.head')) AS BLOB)) - 2) FROM audit_events WHERE actor='bob' AND action='refused';")" "1001 of 60092, head 1001, written 1024"
check "what is stored of a refused request is at most 1 KiB and its wrapper" "$(sq "SELECT max(length(CAST(new AS BLOB))) <= 1100 FROM audit_events WHERE actor='bob';")" "1"
check "the repeats are counted in one summary event" "$(sq "SELECT count(*) || ' ' || json_extract(new, '$.count') || ' ' || json_extract(new, '$.counts') FROM audit_events WHERE actor='bob' AND action='refused.repeats';")" '1 299 {"start forbidden":299}'
check "one log line for the first refusal" "$(grep -c "control: bob (observer) refused 'start'" "$TMP/metrod.log")" "1"
check "one log line for the summary" "$(grep -c "control: bob: 299 more refused requests" "$TMP/metrod.log")" "1"
check "the chain still verifies" "$("$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >/dev/null; echo $?)" "0"
finish
