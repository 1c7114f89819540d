#!/usr/bin/env bash
# People (issue #17): the person registry (`people:`) and how a request is tied to a person.
#  (a) registry errors say FILE:LINE:COL and refuse the configuration;
#  (b) CURVE: a person's own key (metroctl keygen --person) authenticates them: the run's
#      operator and the audit actor are the person, whatever is typed; typing another name is
#      refused (not-you); a lapsed qualification and a procedure the person is not authorised
#      for are refused (not-qualified) and audited; a prompt answered by the person is
#      recorded as theirs without a typed name; a program client of the allowlist keeps
#      its role; a person removed by a reload is refused at once (unauthorised);
#  (c) ipc://: the peer's Unix user (SO_PEERCRED) maps to a person; unmapped, the request is
#      unauthenticated ("unix:USER") and gets control.unauthenticated's role, `none` refusing;
#  (d) loopback tcp:// without CURVE: unauthenticated; with a registry the typed operator must
#      be a registered, qualified person; the audit actor says "unauthenticated".
set -u
. tests/lib/rigs.sh
keys --person li wang zhao
keys daemon sink
check "a person's key file is 0600" "$(stat -c %a "$K/li.key")" "600"
check "a person's .pub carries the Ed25519 key" "$(grep -cE '^sign: "[0-9a-f]{64}"$' "$K/li.pub")" "1"
cp "$K/sink.pub" "$K/clients/sink.pub" # an observer program
ME=$(id -un)
# people UNIX_USER: the registry (li: operator and verifier of water; wang: lapsed; zhao: only
# electricity)
people() {
	cat <<YAML
people:
  - {id: li, name: 李娜, roles: [operator, verifier], qualification: {certificate: JDY-0142, valid_until: 2099-12-31}, procedures: [jjg162-*], key: "$(sign li)", unix_user: $1}
  - {id: wang, name: 王强, roles: [operator], qualification: {certificate: JDY-0077, valid_until: 2025-01-31}, procedures: [jjg162-*], key: "$(sign wang)"}
  - {id: zhao, name: 赵敏, roles: [operator], qualification: {certificate: JDY-0203, valid_until: 2099-12-31}, procedures: [jjg596-*], key: "$(sign zhao)"}
YAML
}

# ---- (a) registry errors --------------------------------------------------------------------
water_bench 600
cp "$TMP/metrod.yaml" "$TMP/base.yaml"
# The shipped batch without its typed operator: an authenticated person runs it in their name.
grep -v '^operator:' config/batches/water-initial.yaml >"$TMP/batch.yaml"
bad() { # NAME YAML-OF-PEOPLE WANT-REGEX
	{ cat "$TMP/base.yaml"; printf '%s\n' "$2"; } >"$TMP/bad.yaml"
	local out
	out=$("$B/metrod" --check-config "$TMP/bad.yaml" 2>&1)
	check "(a) $1: refused" "$?" "1"
	check "(a) $1: the message" "$(echo "$out" | grep -cE "$3")" "1"
}
bad "no qualification" "people:
  - {id: x, name: X, roles: [operator], procedures: [a], key: \"$(sign li)\"}" \
	"bad.yaml:[0-9]+:[0-9]+: people\[0\]: person x verifies or signs .*qualification:"
bad "a key that is not one" "people:
  - {id: x, name: X, roles: [observer], key: \"00ff\"}" \
	"bad.yaml:[0-9]+:[0-9]+: people\[0\].key: not an Ed25519 public key"
bad "an unknown role" "people:
  - {id: x, name: X, roles: [boss]}" "bad.yaml:[0-9]+:[0-9]+: people\[0\].roles\[0\]"
bad "two people with one key" "people:
  - {id: x, name: X, roles: [observer], key: \"$(sign li)\"}
  - {id: y, name: Y, roles: [observer], key: \"$(sign li)\"}" "people\[1\].key: the same as person x's"
bad "a signer without a key" "people:
  - {id: x, name: X, roles: [checker], qualification: {certificate: Q, valid_until: 2099-01-01}}" \
	"person x signs certificate steps .*key:. is required"

# ---- (b) CURVE ------------------------------------------------------------------------------
{ cat "$TMP/base.yaml"; people nobody; } >"$TMP/metrod.yaml"
curve_control "$TMP/metrod.yaml"
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
for _ in $(seq 100); do as li ping >/dev/null 2>&1 && break; sleep 0.1; done
code() { json "d.get('error', {}).get('code', 'ok')"; }
check "(b) a program client keeps its role (observer sink may not start)" \
	"$(as sink --json start "$TMP/batch.yaml" | code)" "forbidden"
check "(b) li typing another name is refused" \
	"$(as li --json start "$TMP/batch.yaml" --operator zhang | code)" "not-you"
out=$(as wang --json start "$TMP/batch.yaml")
check "(b) wang's lapsed qualification is refused" "$(echo "$out" | code)" "not-qualified"
check "(b) the reason names the lapse" "$(echo "$out" | json "'lapsed on 2025-01-31' in d['error']['message']")" "True"
out=$(as zhao --json start "$TMP/batch.yaml")
check "(b) zhao is not authorised for jjg162" "$(echo "$out" | json "(d['error']['code'], 'not authorised to verify with procedure jjg162-water-initial' in d['error']['message'])")" "('not-qualified', True)"
out=$(as li --json start "$TMP/batch.yaml")
check "(b) li starts the batch without typing a name" "$(echo "$out" | code)" "ok"
run=$(echo "$out" | json "d['run']")
check "(b) the run's operator is li" "$(as li --json run "$run" | json "d['run']['operator'] if 'run' in d else d.get('operator')")" "li"
# li answers the first prompt (visual-1) without typing a name; the observer program may not
prompt=
for _ in $(seq 100); do
	prompt=$(as li --json rigs | json "d['rigs'][0].get('prompt') or ''")
	[ -n "$prompt" ] && break; sleep 0.1
done
check "(b) the batch asks its first question" "$prompt" "visual-1"
check "(b) the observer program may not answer" "$(as sink --json input water-1 visual-1 3=fail | code)" "forbidden"
check "(b) li answers position 3 without typing a name" "$(as li --json input water-1 visual-1 3=fail | code)" "ok"
as li abort water-1 >/dev/null
for _ in $(seq 100); do [ "$(as li --json rigs | json "d['rigs'][0]['state']")" = idle ] && break; sleep 0.1; done
# wang is removed from the registry: refused at once, on the connection metroctl opens anew
{ cat "$TMP/base.yaml"; people nobody | grep -v 'id: wang'; } >"$TMP/metrod2.yaml"
curve_control "$TMP/metrod2.yaml"
cp "$TMP/metrod2.yaml" "$TMP/metrod.yaml"
gen=$(as li --json status | json "d['config_generation']")
kill -HUP "$METROD_PID"
for _ in $(seq 100); do [ "$(as li --json status | json "d['config_generation']")" != "$gen" ] && break; sleep 0.1; done
as wang --json ping >/dev/null 2>&1
check "(b) a person removed from the registry gets no answer" "$?" "3"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
q() { sqlite3 "$TMP/records.db" "$1"; }
check "(b) li's start is audited with li as the actor" "$(q "SELECT count(*) FROM audit_events WHERE actor='li' AND action='start' AND why='accepted'")" "1"
check "(b) the run records li as its operator" "$(q "SELECT operator FROM runs WHERE id=$run")" "li"
check "(b) the answer is recorded as li's" "$(q "SELECT operator || ' ' || json_extract(answer, '\$.client') FROM inputs WHERE run=$run")" "li li"
check "(b) wang's and zhao's refusals are audited under their names" \
	"$(q "SELECT count(*) FROM audit_events WHERE actor IN ('wang','zhao') AND action='start' AND why LIKE 'refused: not-qualified:%'")" "2"

# ---- (c) ipc:// and the Unix user -------------------------------------------------------------
rm -f "$TMP/records."*
IPC="ipc://$TMP/ctl.ipc"
ipc_conf() { # UNIX_USER-OF-LI UNAUTHENTICATED-ROLE
	{ sed "s|^control: {endpoint: \"$CTL\"}|control: {endpoint: \"$IPC\", unauthenticated: $2}|" "$TMP/base.yaml"; people "$1"; } >"$TMP/metrod.yaml"
}
ipc_conf "$ME" manager
"$B/metrod" -c "$TMP/metrod.yaml" 2>>"$TMP/metrod.log" &
METROD_PID=$!
PIDS+=($METROD_PID)
ic() { "$B/metroctl" -e "$IPC" -t 3000 "$@"; }
for _ in $(seq 100); do ic ping >/dev/null 2>&1 && break; sleep 0.1; done
out=$(ic --json start "$TMP/batch.yaml")
check "(c) the Unix user $ME is li: start without a name" "$(echo "$out" | code)" "ok"
run=$(echo "$out" | json "d.get('run')")
ic abort water-1 >/dev/null
for _ in $(seq 100); do [ "$(ic --json rigs | json "d['rigs'][0]['state']")" = idle ] && break; sleep 0.1; done
reload() { # SIGHUP, then wait for the log to say the new generation is applied
	local n
	n=$(grep -c 'configuration generation .* applied' "$TMP/metrod.log")
	kill -HUP "$METROD_PID"
	for _ in $(seq 100); do [ "$(grep -c 'configuration generation .* applied' "$TMP/metrod.log")" != "$n" ] && break; sleep 0.1; done
}
ipc_conf someone-else manager
reload
check "(c) unmapped, a typed name outside the registry is refused" \
	"$(ic --json start "$TMP/batch.yaml" --operator mallory | code)" "unknown-person"
check "(c) unmapped, typing wang (lapsed) is refused" \
	"$(ic --json start "$TMP/batch.yaml" --operator wang | code)" "not-qualified"
ipc_conf someone-else none
reload
out=$(ic --json start "$TMP/batch.yaml" --operator li)
check "(c) control.unauthenticated: none refuses the unmapped user" "$(echo "$out" | code)" "forbidden"
check "(c) ... saying why" "$(echo "$out" | json "'unix:$ME requests are refused here' in d['error']['message']")" "True"
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "(c) li's start over ipc is audited with li as the actor" "$(q "SELECT count(*) FROM audit_events WHERE actor='li' AND action='start' AND why='accepted'")" "1"
check "(c) the unmapped user's refusals are audited as unix:$ME" "$(q "SELECT count(*) FROM audit_events WHERE actor='unix:$ME' AND action='start' AND why LIKE 'refused: %'")" "2"

# ---- (d) loopback tcp without CURVE -----------------------------------------------------------
rm -f "$TMP/records."*
{ cat "$TMP/base.yaml"; people nobody; } >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
check "(d) a typed name outside the registry is refused" \
	"$(mctl --json start "$TMP/batch.yaml" --operator mallory | code)" "unknown-person"
out=$(mctl --json start "$TMP/batch.yaml" --operator li)
check "(d) typing a qualified person's id is accepted" "$(echo "$out" | code)" "ok"
mctl abort water-1 >/dev/null
for _ in $(seq 100); do [ "$(mctl --json rigs | json "d['rigs'][0]['state']")" = idle ] && break; sleep 0.1; done
# person-set: a manager renews wang's qualification through the API
people nobody | sed -n 's/^  - {id: wang, \(.*\)}$/{id: wang, \1}/p' | sed 's/valid_until: 2025-01-31/valid_until: 2031-01-31/' >"$TMP/wang.yaml"
check "(d) wang is refused before the renewal" "$(mctl --json start "$TMP/batch.yaml" --operator wang | code)" "not-qualified"
sed 's/valid_until: 2031-01-31/valid_until: 2031-02-30/' "$TMP/wang.yaml" >"$TMP/wang-bad.yaml"
out=$(mctl --json person-set "$TMP/wang-bad.yaml" --why "renewed")
check "(d) person-set with a bad date is refused naming the field" "$(echo "$out" | json "(d['error']['code'], d['error']['message'].startswith('person.qualification.valid_until'))")" "('bad-request', True)"
sed 's/id: wang/id: nobody/; s/, key: "[0-9a-f]*"//' "$TMP/wang.yaml" >"$TMP/nobody.yaml"
check "(d) person-set of someone not in the configuration: not-found" "$(mctl --json person-set "$TMP/nobody.yaml" --why "x" | code)" "not-found"
check "(d) person-set renews wang's qualification" "$(mctl --json person-set "$TMP/wang.yaml" --why "qualification renewed, certificate JDY-0077 of 2026-11-30" | code)" "ok"
check "(d) wang may start now" "$(mctl --json start "$TMP/batch.yaml" --operator wang | code)" "ok"
mctl abort water-1 >/dev/null
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "(d) the renewal is recorded field by field with who and why" \
	"$(q "SELECT field || ' ' || json_extract(new, '\$') FROM person_changes WHERE person='wang' AND audit_event IN (SELECT id FROM audit_events WHERE action='person.changed')" | sort | tr '\n' ';')" "qualification_due 2031-01-31;"
check "(d) ... and audited" "$(q "SELECT actor || '|' || why FROM audit_events WHERE action='person.changed' AND subject='person/wang'")" "unauthenticated|qualification renewed, certificate JDY-0077 of 2026-11-30"
check "(d) li's and wang's starts are audited as unauthenticated" "$(q "SELECT count(*) FROM audit_events WHERE actor='unauthenticated' AND action='start' AND why='accepted'")" "2"
finish
