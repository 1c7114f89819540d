#!/usr/bin/env bash
# CURVE and roles changed by a reload (SIGHUP), as docs/configuration.md "Reload (SIGHUP)" and
# docs/protocol.md "Security" promise, on a daemon whose simulated flow bench keeps the publish
# endpoint busy with readings.  Clients hold one socket across the reloads
# (tests/lib/curve_client.py), as a long-running client does:
#  (a) CURVE added to both running endpoints: the unkeyed client connected before is refused
#      (its standard-set changes nothing; a new unkeyed metroctl gets no answer); keyed clients
#      get in; the unkeyed subscriber gets nothing published after the reload, a keyed one does;
#  (b) a key removed from the allowlist: its client is refused (`unauthorised`) at its next
#      request on the same socket and cannot connect again; its subscriber gets nothing more;
#  (c) the daemon's key pair rotated in place (the configuration text unchanged): the old
#      server key no longer works, for requests or subscriptions; the new one does;
#  (d) a role lowered (operator -> observer): the next request on the same socket is judged
#      with the new role;
#  (g) a person (people:, their own key) removed by a reload: refused at once on control, their
#      subscriber dropped;
#  (e) a reload that rotates the key and moves the publish endpoint to a port in use is refused
#      whole: the control endpoint, rebound with the new key first, is given back its old one;
#  (f) metroctl refuses a client secret key file that group or others may read.
set -u
. tests/lib/rigs.sh
. tests/lib/need.sh
need_py zmq python3-zmq
trap '' PIPE # a client that died answers "no answer from the client" instead of ending the test
PY=/usr/bin/python3
K=$TMP/keys
CL=$K/clients
mkdir -p "$CL"
for n in daemon daemon2 daemon3 alice bob carol dave; do
	"$B/metroctl" keygen "$n" --dir "$K" >/dev/null || exit 1
done
role() { sed "s/^role: observer/role: $2/" "$K/$1.pub" >"$CL/$1.pub"; } # NAME ROLE
role alice operator
role bob observer
role carol manager
role dave operator
cp "$K/daemon.pub" "$K/server.pub" # the daemon's public key as its clients know it

water_bench 120
mv "$TMP/metrod.yaml" "$TMP/plain.yaml"
# conf [SECRET-KEY [PUBLISH-ENDPOINT]]: the bench's configuration, with CURVE on both endpoints
# (one key pair, one allowlist) when a secret key file is given.
conf() {
	local pub=${2:-$PUB}
	if [ -z "${1:-}" ]; then cp "$TMP/plain.yaml" "$TMP/metrod.yaml"; return; fi
	sed -e "s|^control: .*|control: {endpoint: \"$CTL\", curve: {secret_key: $1, clients: $CL}}|" \
		-e "s|^publish: .*|publish: {endpoint: \"$pub\", curve: {secret_key: $1, clients: $CL}}|" \
		"$TMP/plain.yaml" >"$TMP/metrod.yaml"
	[ -z "${PEOPLE:-}" ] || echo "$PEOPLE" >>"$TMP/metrod.yaml" # (g): a person registry
}
conf
start_metrod "$TMP/metrod.yaml"

# as WHO [SERVERPUB] -- ARGS: metroctl with WHO's key (none: no key) against the daemon key.
as() {
	local who=$1 spub=$K/server.pub
	shift
	if [ "$1" != -- ]; then spub=$1; shift; fi
	shift
	if [ "$who" = none ]; then "$B/metroctl" -e "$CTL" -t 1500 "$@"; return; fi
	"$B/metroctl" -e "$CTL" -t 1500 --key "$K/$who.key" --server-key "$spub" "$@"
}
# hold NAME dealer|sub ENDPOINT [KEY SERVERPUB]: a client that keeps its socket (fifos on fds).
# ask NAME LINE: one line to it, its answer back.
hold() {
	local name=$1 w r
	shift
	mkfifo "$TMP/$name.in" "$TMP/$name.out"
	$PY tests/lib/curve_client.py "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	exec {w}>"$TMP/$name.in" {r}<"$TMP/$name.out"
	eval "W_$name=$w R_$name=$r"
	local line
	read -r -t 30 line <&"$r"
	[ "$line" = ready ] || { echo "client $name did not start"; cat "$TMP/$name.err"; exit 1; }
}
ask() {
	local w r line=
	eval "w=\$W_$1 r=\$R_$1"
	echo "$2" >&"$w"
	read -r -t 30 line <&"$r"
	echo "${line:-no answer from the client}"
}
ping() { echo "{\"id\":\"ping-$1\",\"cmd\":\"ping\"}"; } # a fresh id each time
status() { as "$@" --json status | json "$STATUS_EXPR"; }
# reload WHO [SERVERPUB]: SIGHUP, then wait (bounded) until WHO sees the next generation.
GEN=1
reload() {
	kill -HUP "$METROD_PID"
	GEN=$((GEN + 1))
	local got='' end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		got=$(STATUS_EXPR="d['config_generation']" status "$@" -- 2>/dev/null)
		[ "$got" = "$GEN" ] && break
		sleep 0.1
	done
	check "reload: $1 sees generation $GEN" "$got" "$GEN"
}
seq_now() { STATUS_EXPR="d['seq']" status "$@" --; }
std_cert() { as "$@" -- --json standards | json "[x for x in d['standards'] if x['id']=='ws'][0]['certificate']"; }
STD_SET='{"id":"set-1","cmd":"standard-set","why":"test","standard":{"id":"ws","description":"Flow bench","certificate":"C-W-9","issuer":"Test","calibrated":"'$(date +%F)'","due":"2099-01-01","uncertainty":{"value":0.2,"k":2}}}'

# ---- (a) CURVE added to running endpoints -------------------------------------------------
hold plain dealer "$CTL"
hold plainsub sub "$PUB"
check "(a) before: the unkeyed client is served" "$(ask plain "$(ping 1)")" "accepted"
check "(a) before: the unkeyed subscriber gets readings" "$(ask plainsub "after 0 10000" | grep -c '^[0-9]')" "1"
conf "$K/daemon.key"
reload carol
check "(a) a keyed manager is served after the reload" "$(as carol -- --json ping | json "d['ok']")" "True"
check "(a) the unkeyed client's standard-set is not accepted" "$(ask plain "$STD_SET")" "silent"
as none -- ping >/dev/null 2>&1
check "(a) a new unkeyed metroctl gets no answer" "$?" "3"
check "(a) the standard is unchanged" "$(std_cert carol)" "C-W-1"
S=$(seq_now carol)
hold carolsub sub "$PUB" "$K/carol.key" "$K/server.pub"
check "(a) a keyed subscriber gets readings" "$(ask carolsub "after $S 10000" | grep -c '^[0-9]')" "1"
check "(a) the unkeyed subscriber gets nothing published after the reload" "$(ask plainsub "after $S")" "silent"

# ---- (b) a key removed from the allowlist --------------------------------------------------
hold alice dealer "$CTL" "$K/alice.key" "$K/server.pub"
hold alicesub sub "$PUB" "$K/alice.key" "$K/server.pub"
check "(b) before: alice is served" "$(ask alice "$(ping 2)")" "accepted"
S=$(seq_now carol)
check "(b) before: alice's subscriber gets readings" "$(ask alicesub "after $S 10000" | grep -c '^[0-9]')" "1"
rm "$CL/alice.pub"
reload carol
check "(b) alice's next request on the same socket is refused" "$(ask alice "$(ping 3)")" "unauthorised"
as alice -- ping >/dev/null 2>&1
check "(b) alice cannot connect again" "$?" "3"
S=$(seq_now carol)
check "(b) carol's subscriber still gets readings" "$(ask carolsub "after $S 10000" | grep -c '^[0-9]')" "1"
check "(b) alice's subscriber gets nothing published after the reload" "$(ask alicesub "after $S")" "silent"
check "(b) the refusal of the request is logged with alice's key" "$(grep -cF "control: refused a request from $(sed -n 's/^public: "\(.*\)"/\1/p' "$K/alice.pub"): not in the allowlist" "$TMP/metrod.log")" "1"

# ---- (c) the daemon's key pair rotated in place --------------------------------------------
hold bob dealer "$CTL" "$K/bob.key" "$K/server.pub"
check "(c) before: bob is served" "$(ask bob "$(ping 4)")" "accepted"
cp "$K/daemon2.key" "$K/daemon.key" # same file, same configuration text, a new key pair
reload carol "$K/daemon2.pub"
as bob -- ping >/dev/null 2>&1
check "(c) the old server key no longer works" "$?" "3"
check "(c) bob's held socket (old server key) gets no answer" "$(ask bob "$(ping 5)")" "silent"
check "(c) the new server key works" "$(as bob "$K/daemon2.pub" -- --json ping | json "d['ok']")" "True"
cp "$K/daemon2.pub" "$K/server.pub"
S=$(seq_now carol)
check "(c) the subscriber with the old server key gets nothing more" "$(ask carolsub "after $S")" "silent"
hold carolsub2 sub "$PUB" "$K/carol.key" "$K/server.pub"
check "(c) a subscriber with the new server key gets readings" "$(ask carolsub2 "after $S 10000" | grep -c '^[0-9]')" "1"

# ---- (d) a role lowered ---------------------------------------------------------------------
PAUSE='{"id":"pause-1","cmd":"pause","rig":"water-1"}'
hold dave dealer "$CTL" "$K/dave.key" "$K/server.pub"
check "(d) operator dave may pause (refused only for want of a run)" "$(ask dave "$PAUSE")" "no-run"
role dave observer
reload carol
check "(d) dave's next request on the same socket is judged as an observer" "$(ask dave "${PAUSE/pause-1/pause-2}")" "forbidden"
check "(d) dave still reads" "$(ask dave "$(ping 6)")" "accepted"

# ---- (e) a key change refused with the rest of its reload ----------------------------------
conf "$K/daemon3.key" "tcp://127.0.0.1:$port" # the simulator holds that port
kill -HUP "$METROD_PID"
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
	[ "$(STATUS_EXPR="d['reloads_failed']" status carol -- 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
check "(e) the reload is refused" "$(STATUS_EXPR="d['reloads_failed'], d['config_generation']" status carol --)" "1 $GEN"
check "(e) the reason is given" "$(STATUS_EXPR="d['last_reload_error']" status carol --)" "cannot bind tcp://127.0.0.1:$port: Address already in use"
check "(e) the running key still works" "$(as bob -- --json ping | json "d['ok']")" "True"
as bob "$K/daemon3.pub" -- ping >/dev/null 2>&1
check "(e) the refused key does not" "$?" "3"
S=$(seq_now carol)
check "(e) subscribers go on" "$(ask carolsub2 "after $S 10000" | grep -c '^[0-9]')" "1"

# ---- (f) metroctl and the mode of a client's secret key -------------------------------------
for mode in 644 640 604; do
	cp "$K/carol.key" "$TMP/loose.key"
	chmod "$mode" "$TMP/loose.key"
	err=$("$B/metroctl" -e "$CTL" -t 1500 --key "$TMP/loose.key" --server-key "$K/server.pub" ping 2>&1)
	check "(f) a $mode secret key is refused (exit 2)" "$?" "2"
	check "(f) ... saying why" "$(grep -c "loose.key: .*group or others.*chmod 600" <<<"$err")" "1"
done
chmod 600 "$TMP/loose.key"
check "(f) the same key at 0600 works" "$("$B/metroctl" -e "$CTL" -t 1500 --key "$TMP/loose.key" --server-key "$K/server.pub" --json ping | json "d['ok']")" "True"

# ---- (g) a person removed from the registry ------------------------------------------------
# A person's own key (keygen --person) is admitted on both endpoints; removed from `people:`
# by a reload, their held request socket is refused and their subscriber gets nothing more
# (the publish socket is bound again, as for a key removed from the allowlist).
"$B/metroctl" keygen erin --person --dir "$K" >/dev/null || exit 1
PEOPLE="people: [{id: erin, name: Erin, roles: [observer], key: \"$(sed -n 's/^sign: "\(.*\)"$/\1/p' "$K/erin.pub")\"}]"
conf "$K/daemon.key"
reload carol
hold erin dealer "$CTL" "$K/erin.key" "$K/server.pub"
hold erinsub sub "$PUB" "$K/erin.key" "$K/server.pub"
check "(g) before: the person erin is served" "$(ask erin "$(ping 7)")" "accepted"
S=$(seq_now carol)
check "(g) before: erin's subscriber gets readings" "$(ask erinsub "after $S 10000" | grep -c '^[0-9]')" "1"
PEOPLE=
conf "$K/daemon.key"
reload carol
check "(g) erin's next request on the same socket is refused" "$(ask erin "$(ping 8)")" "unauthorised"
S=$(seq_now carol)
check "(g) carol's new subscriber still gets readings" "$(ask carolsub2 "after $S 10000" | grep -c '^[0-9]')" "1"
check "(g) erin's subscriber gets nothing published after the reload" "$(ask erinsub "after $S")" "silent"
finish
