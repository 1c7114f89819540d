#!/usr/bin/env bash
# gas-faults.sh N: N gas batches in a row on a simulated bell prover (serial line on a pty, time
# scale 120) with 0.3 % lost replies and 0.5 % bad checksums; prints each run's result and
# fault, then how many points the engine ran again after a disturbed flow.  The repro of the
# soak's "qmax: flow 0" finding (docs/reliability.md).  Needs a release build (make).
set -u
cd "$(dirname "$0")/../.."
export METRO_BUILD=${METRO_BUILD:-build}
. tests/lib/rigs.sh
N=${1:-25}
gas_bench 120 --seed "${SEED:-7}" --faults noreply=0.003,crc=0.005
start_metrod "$TMP/metrod.yaml"
for _ in $(seq "$N"); do
	timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass \
		2>/dev/null | tail -n 1 | json "d['result'], d.get('fault', '')"
done | sort | uniq -c
echo "points run again after a disturbed flow: $(grep -c 'is run again' "$TMP/metrod.log")"
