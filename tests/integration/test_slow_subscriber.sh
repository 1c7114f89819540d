#!/usr/bin/env bash
# A subscriber that never reads must not slow sampling: with one connected and silent (tiny
# receive buffer) while a rig samples at 200 Hz, the rig is not held up (a blocked publisher
# would stall it), hands up every document, and the daemon keeps answering at once.
set -u
. tests/lib/rigs.sh
start_sim water --rig flow-bench --modbus-tcp 127.0.0.1:0
port=${SIM_water##*:}
{ config_head; cat <<YAML
  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $port}, profile: $PWD/config/profiles/flow-bench.yaml, positions: 10, standards: [ws], sample_hz: 200}
YAML
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
/usr/bin/python3 - "$PUB" 8 <<'PY' &
import sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.RCVHWM, 1)
s.setsockopt(zmq.RCVBUF, 4096)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.connect(sys.argv[1])
time.sleep(float(sys.argv[2]))   # connected, never reading
PY
slow=$!
PIDS+=($slow)
sleep 6 # the observation window (not a synchronisation): 1200 ticks with the subscriber silent
t0=$(date +%s%N)
mctl ping >/dev/null
ping_rc=$?
dt=$((($(date +%s%N) - t0) / 1000000))
health=$(/usr/bin/python3 - "$PUB" <<'PY'
import json, sys, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"health.")
s.connect(sys.argv[1])
if s.poll(3000):
    t, b = s.recv_multipart()
    d = json.loads(b)["ticks"]
    print(d["count"], d["dropped"], d["send_drops"], round(d["lateness_p99_us"]))
PY
)
read -r count dropped send_drops p99 <<<"$health"
echo "ticks $count, dropped $dropped, send drops $send_drops, lateness p99 ${p99} us, ping ${dt} ms"
check "sampling went on" "$([ "${count:-0}" -gt 1000 ] && echo yes)" "yes"
# What is tested is that the subscriber cannot hold the rig up: a publisher that blocked
# would stall the actor and drop nearly every tick.  Timing is not what is tested (that is
# `make bench`): the sanitized build at 200 Hz on a 2-core machine drops 0-2 % of ticks
# whatever the subscriber does (1.9 % seen in a clean CI run), so the line between the two is
# drawn at 10 %.
check "ticks not held up (dropped < 10 % of ticks)" "$([ "${dropped:-99999}" -lt $((count / 10 + 1)) ] && echo yes)" "yes"
check "no document lost between the rig and the main thread" "$send_drops" "0"
# A main loop blocked on the publisher would not answer at all (metroctl gives up after its
# timeout and exits non-zero); how fast it answers is for `make bench`, so only the answer is
# judged here and the time is printed above.
check "the daemon answers while the subscriber is silent" "$ping_rc" "0"
finish
