#!/usr/bin/env bash
# CURVE security of the control socket: clients in the allowlist get in with their role
# (observer reads, operator runs batches), a wrong role is refused with `forbidden` and
# recorded in the audit trail with the client's name; an unknown key, no key (NULL) and the
# PLAIN mechanism never get an answer, and the refusals are logged.
set -u
. tests/lib/rigs.sh
keys daemon alice bob eve
check "secret key file is 0600" "$(stat -c %a "$K/alice.key")" "600"
sed 's/^role: observer/role: operator/' "$K/alice.pub" >"$K/clients/alice.pub"
cp "$K/bob.pub" "$K/clients/bob.pub"
{ config_head; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: 9}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws]}
YAML
} >"$TMP/metrod.yaml"
curve_control "$TMP/metrod.yaml"
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
AS_TIMEOUT=1500
for _ in $(seq 50); do as alice ping >/dev/null 2>&1 && break; sleep 0.1; done
check "operator alice is admitted" "$(as alice --json ping | json "d['ok']")" "True"
check "observer bob is admitted" "$(as bob --json status | json "d['ok']")" "True"
out=$(as bob --json start config/batches/water-initial.yaml)
check "observer bob may not start a batch" "$(echo "$out" | json "d['error']['code']")" "forbidden"
out=$(as alice --json start config/batches/water-initial.yaml)
check "operator alice may (refused for another reason: the rig is not there)" "$(echo "$out" | json "d['error']['code'] != 'forbidden'")" "True"
as eve ping >/dev/null 2>&1
check "unknown key eve gets no answer" "$?" "3"
"$B/metroctl" -e "$CTL" -t 1500 ping >/dev/null 2>&1
check "no key (NULL mechanism) gets no answer" "$?" "3"
plain=$(/usr/bin/python3 - "$CTL" <<'PY'
import sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.plain_username = b"alice"; s.plain_password = b"secret"
s.connect(sys.argv[1]); s.send(b'{"id":1,"cmd":"ping"}')
print("answered" if s.poll(1500) else "silent")
PY
)
check "PLAIN mechanism gets no answer" "$plain" "silent"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
grep -q "control: refused CURVE client .* not in the allowlist" "$TMP/metrod.log"
check "the unknown key is logged" "$?" "0"
check "bob's refused start is in the audit trail" "$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM audit_events WHERE actor='bob' AND action='refused';")" "1"
check "alice's start is in the audit trail" "$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM audit_events WHERE actor='alice' AND action='start';")" "1"
finish
