#!/usr/bin/env bash
# The result stream seen by clients written by others (python3-zmq, python3-jsonschema): a
# subscriber records every document of a batch and each one validates against its JSON Schema
# in docs/schema/, with no gap in seq; a late joiner gets the snapshot and replays the stored
# results, which are the very documents the subscriber saw.
set -u
. tests/lib/rigs.sh
SCALE=120
start_sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 --meters tests/data/sim/gas-test-meters.yaml --time-scale $SCALE
{ config_head; cat <<YAML
  - {id: gas-1, kind: bell-prover, driver: serial-line, connection: {device: $TMP/gas.pty}, profile: $PWD/config/profiles/bell-prover.yaml, positions: 6, standards: [gs], sample_hz: 2, simulated: true, time_scale: $SCALE}
YAML
} >"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
/usr/bin/python3 tests/lib/stream_client.py subscribe "$PUB" "$TMP/stream.jsonl" 120 >"$TMP/sub.out" 2>&1 &
sub=$!
PIDS+=($sub)
# The subscription is live once a document (a reading) has come through it.
for _ in $(seq 100); do [ -s "$TMP/stream.jsonl" ] && break; sleep 0.1; done
grep -v 'position: 6,' config/batches/gas-initial.yaml >"$TMP/batch.yaml"
timeout 200 "$B/metroctl" -e "$CTL" start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>&1
check "batch ran (exit 1: done, position 2 failed)" "$?" "1"
wait "$sub"
read -r n invalid gaps kinds < <(/usr/bin/python3 tests/lib/stream_client.py check "$TMP/stream.jsonl" docs/schema)
echo "received $n documents: $kinds"
check "documents received" "$([ "${n:-0}" -gt 50 ] && echo yes)" "yes"
check "every document valid against its schema" "$invalid" "0"
check "no gap in seq" "$gaps" "0"
check "verdicts, points, the run and a checkpoint all seen" "$(echo "$kinds" | grep -o -E 'audit=[1-9]|point=[0-9]+|run=[0-9]+|verdict=5' | wc -l)" "4"
read -r snap_ok results same stored_verdicts last_ok < <(/usr/bin/python3 tests/lib/stream_client.py latejoin "$CTL" "$TMP/stream.jsonl")
check "snapshot seq covers what was published" "$snap_ok" "True"
check "replay returns every point and verdict exactly as published" "$same" "$results"
check "five verdicts stored" "$stored_verdicts" "5"
check "snapshot holds each rig's newest reading with every channel" "$last_ok" "True"
finish
