#!/usr/bin/env bash
# JJG 162: the function check of meters with electronic devices.  A batch of two meters on the
# simulated flow bench, position 2 with `electronic: "yes"`: the function-check prompt asks
# position 2 only, its answer is recorded as position 2's point, position 1 (mechanical) sits
# the item out and both run every flow point and pass.  A batch that does not say whether a
# meter has electronics is refused before anything moves (fail closed).
set -u
. tests/lib/rigs.sh
water_bench 120
start_metrod "$TMP/metrod.yaml"
{
	sed -n '1,/^meters:/p' config/batches/water-initial.yaml
	grep -E 'position: 1,' config/batches/water-initial.yaml
	grep -E 'position: 2,' config/batches/water-initial.yaml | sed 's/electronic: "no"/electronic: "yes"/'
} >"$TMP/batch.yaml"
check "the batch has one meter with electronics" "$(grep -c 'electronic: "yes"' "$TMP/batch.yaml")" "1"
timeout 240 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait --auto-answer pass >"$TMP/start.out" 2>"$TMP/start.err"
check "the batch runs to its end, every meter passing (exit 0)" "$?" "0"
tail -n 1 "$TMP/start.out" >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "done" "$(v "d['result']")" "done"
check "the function check is recorded for position 2 only" \
	"$(v "[(p['position'], p['verdict']) for p in d['points'] if p['item']=='function']")" "[(2, 'pass')]"
check "... a judgement" "$(v "[p['kind'] for p in d['points'] if p['item']=='function'][0]")" "judgement"
check "both meters ran the flow points" \
	"$(v "sorted((p['position'], p['item']) for p in d['points'] if p['item'] in ('q3', 'q1') and p['verdict']!='pending')")" \
	"[(1, 'q1'), (1, 'q3'), (2, 'q1'), (2, 'q3')]"
check "both pass" "$(v "[(x['position'], x['verdict']) for x in d['verdicts']]")" "[(1, 'pass'), (2, 'pass')]"
check "the function prompt named position 2 only" \
	"$(sqlite3 "file:$TMP/records.db?mode=ro" "select group_concat(distinct json_extract(body, '$.positions')) from documents where topic like 'prompt.%' and json_extract(body, '$.item') = 'function'")" "[2]"
# Fail closed: without the field the batch is refused, naming it.
sed 's/, electronic: "[a-z]*"//' "$TMP/batch.yaml" >"$TMP/nofield.yaml"
out=$(mctl --json start "$TMP/nofield.yaml" 2>&1)
check "a batch without the electronic field is refused" "$(echo "$out" | json "'electronic' in d['error']['message']" 2>/dev/null)" "True"
finish
