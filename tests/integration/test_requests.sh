#!/usr/bin/env bash
# The malformed-request corpus (tests/data/bad-requests.jsonl): each request gets an error
# reply with its exact code, the daemon keeps answering, and nothing changes (no run, no
# record).  Also: a request over 64 KiB gets `too-large`, a repeated id is answered again.
set -u
. tests/lib/rigs.sh
{ config_head; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: 9}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws]}
YAML
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
result=$(/usr/bin/python3 - "$CTL" tests/data/bad-requests.jsonl <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
def send(raw):
    s.send(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape"))
    if not s.poll(3000):
        return None
    return json.loads(s.recv())
total = wrong = pauses = 0
for line in open(sys.argv[2], encoding="utf-8"):
    if not line.strip() or line.startswith("#"):
        continue
    case = json.loads(line)
    total += 1
    pauses += case["code"] == "no-run" and '"cmd":"pause"' in case["request"]
    r = send(case["request"])
    got = None if r is None else (r.get("error") or {}).get("code")
    if r is None or r.get("ok") or got != case["code"]:
        wrong += 1
        print("WRONG", case["request"][:70], "->", got, "want", case["code"], file=sys.stderr)
big = send('{"id":1,"cmd":"ping","pad":"' + "x" * 65600 + '"}')
too_large = (big or {}).get("error", {}).get("code")
a = send('{"id":"same","cmd":"pause","rig":"water-1"}'); b = send('{"id":"same","cmd":"pause","rig":"water-1"}')
runs = send('{"id":2,"cmd":"runs"}')
print(total, wrong, too_large, a["id"] == b["id"] == "same" and b.get("repeated") is True
      and a["error"] == b["error"], len(runs["runs"]), pauses + 1)
PY
)
read -r total wrong too_large repeated runs pauses <<<"$result"
check "corpus size" "$([ "${total:-0}" -ge 50 ] && echo yes)" "yes"
check "every malformed request gets its exact error code" "$wrong" "0"
check "an oversized request gets too-large" "$too_large" "too-large"
check "a repeated request id is answered from the first reply, not executed again" "$repeated" "True"
check "nothing was started" "$runs" "0"
check "the daemon still answers" "$(mctl --json ping | json "d['ok']")" "True"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "no run recorded" "$(sqlite3 "$TMP/records.db" 'SELECT count(*) FROM runs;')" "0"
# Refusals are audited in bounded form (docs/records.md): the first of a kind is stored, the
# repeats counted.  The repeated id was executed once: the corpus's refused pauses plus one.
stored=$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM audit_events WHERE action='pause' AND why LIKE 'refused: no-run:%';")
counted=$(sqlite3 "$TMP/records.db" "SELECT coalesce(sum(json_extract(new, '$.counts.\"pause no-run\"')), 0) FROM audit_events WHERE action='refused.repeats';")
check "the repeated request was executed once (refusals stored + counted)" "$((stored + counted))" "$pauses"
finish
