#!/usr/bin/env bash
# Suspenders: an influence quantity outside the procedure's conditions suspends the run in the
# middle of a point; when it is back in its band the interrupted point is re-run from its
# start (not patched), and the batch ends normally.  The test procedure
# (tests/data/procedures/test-water-suspender.yaml) watches a coil that another client sets.
set -u
. tests/lib/rigs.sh
water_bench 10
sed -i "s|^procedures: \[$PWD/procedures\]|procedures: [$PWD/procedures, $PWD/tests/data/procedures]|" "$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
sed 's/^procedure: jjg162-water-initial/procedure: test-water-suspender/' config/batches/water-initial.yaml >"$TMP/batch.yaml"
run=$(mctl --json start "$TMP/batch.yaml" | json "d['run']")
state() { mctl --json run "$run" | json "d['run'].get('result') or d['run']['state']"; }
# Answer the two judgement prompts; wait for a prompt other than the one just answered (the
# rigs view may still show it for a moment after the answer).
last=
for k in 1 2; do
	for _ in $(seq 50); do p=$(mctl --json rigs | json "d['rigs'][0].get('prompt') or ''"); [ -n "$p" ] && [ "$p" != "$last" ] && break; sleep 0.1; done
	mctl input water-1 "$p" pass --operator tester >/dev/null
	last=$p
done
# Wait until the q3 collection runs, then trip the condition from outside.
for _ in $(seq 100); do [ "$(water_probe collect | json "d['collect']")" = 1.0 ] && break; sleep 0.1; done
check "collecting q3" "$(water_probe collect | json "d['collect']")" "1.0"
water_probe --write totals.reset=1 >/dev/null
for _ in $(seq 50); do [ "$(state)" = suspended ] && break; sleep 0.1; done
check "the run is suspended" "$(state)" "suspended"
check "collection stopped while suspended" "$(water_probe collect | json "d['collect']")" "0.0"
water_probe --write totals.reset=0 >/dev/null
for _ in $(seq 50); do [ "$(state)" != suspended ] && break; sleep 0.1; done
check "the run goes on once the condition is back" "$(state)" "running"
for _ in $(seq 300); do [ "$(state)" = done ] && break; sleep 0.2; done
check "the batch ends normally" "$(state)" "done"
check "q3 judged for every meter, once" "$(mctl --json run "$run" | json "len([p for p in d['run']['points'] if p['item']=='q3' and p['verdict']!='pending'])")" "9"
check "no meter failed or in error" "$(mctl --json run "$run" | json "sorted({v['verdict'] for v in d['run']['verdicts']})")" "['pass']"
check "the suspension is in the run's history" "$(grep -c 'suspended' "$TMP/metrod.log")" "1"
finish
