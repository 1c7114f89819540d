#!/usr/bin/env bash
# A measurement typed by the operator through the control API (the prompt/answer machinery):
# a water procedure whose one measurement asks two readings (kPa) of every position; the
# prompt is a `readings` prompt with the item's unit; an answer naming a position the prompt
# does not ask about, or a value that is not a number, is refused with bad-request before it is
# recorded and the prompt stays open; the mean of the two readings is judged against the limit
# (position 1: 150 and 160 -> 155, within 160; position 2: 170 and 165.5 -> 167.75, over).
set -u
. tests/lib/rigs.sh
water_bench 120
mkdir -p "$TMP/procs"
cat >"$TMP/procs/test-measure-typed.yaml" <<'YAML'
procedure: {id: test-measure-typed, title: t, regulation: {id: JJG 162, edition: "2019"},
  meter: water, rig: flow-bench, verification: initial}
nameplate:
  q3: {unit: m3/h, min: 0.4, max: 100}
  r: {min: 40, max: 1000}
  class: {values: ["1", "2"]}
  scale_interval_l: {unit: L, min: 0.00001, max: 10}
  electronic: {values: ["no", "yes"]}
  dn: {unit: mm, min: 8, max: 1000}
parameters: {uncertainty_ratio: 1 / 5, prompt_timeout_s: 120}
items:
  - id: gauge
    kind: measurement
    title: Typed gauge
    unit: kPa
    readings: operator
    prompt: Read the gauge of each meter
    count: 2
    interval_s: 0
    limits: {min: 0, max: "q3 * 64"}
teardown: safe-state
YAML
sed -i "s|^procedures: \[$PWD/procedures\]|procedures: [$PWD/procedures, $TMP/procs]|" "$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"
{
	sed -n '1,/^meters:/p' config/batches/water-initial.yaml | sed 's/^procedure: .*/procedure: test-measure-typed/'
	grep -E 'position: [12],' config/batches/water-initial.yaml
} >"$TMP/batch.yaml"
run=$(mctl --json start "$TMP/batch.yaml" | json "d['run']")
check "the batch starts" "$([ -n "$run" ] && echo yes)" "yes"
prompt() { # wait for an open prompt other than $1; print its id
	local p
	for _ in $(seq 100); do
		p=$(mctl --json rigs | json "d['rigs'][0].get('prompt') or ''")
		[ -n "$p" ] && [ "$p" != "$1" ] && { echo "$p"; return; }
		sleep 0.1
	done
}
p1=$(prompt "")
check "a readings prompt opens" "$([ -n "$p1" ] && echo yes)" "yes"
doc=$(sqlite3 "file:$TMP/records.db?mode=ro" "select body from documents where topic like 'prompt.%' and json_extract(body, '$.prompt') = '$p1' order by seq limit 1")
check "the prompt asks readings in kPa, the first of two" \
	"$(echo "$doc" | json "(d['kind'], d['unit'], d['phase'], d['reading'], d['of'], d['positions'])")" \
	"('readings', 'kPa', 'measurement', 1, 2, [1, 2])"
out=$(mctl --json input water-1 "$p1" 1=150 3=150 --operator "王工 (test)" 2>&1)
check "a position the prompt does not ask about is refused" "$(echo "$out" | json "d['error']['code']")" "bad-request"
out=$(mctl --json input water-1 "$p1" 1=150 2=abc --operator "王工 (test)" 2>&1)
check "a value that is not a number is refused" "$(echo "$out" | json "d['error']['code']")" "bad-request"
check "the prompt stays open" "$(mctl --json rigs | json "d['rigs'][0].get('prompt')")" "$p1"
mctl input water-1 "$p1" 1=150 2=170 --operator "王工 (test)" >/dev/null
check "the first readings are taken" "$?" "0"
p2=$(prompt "$p1")
mctl input water-1 "$p2" 1=160 2=165.5 --operator "李工 (test)" >/dev/null
check "the second readings are taken" "$?" "0"
for _ in $(seq 100); do [ "$(mctl --json run "$run" | json "d['run'].get('result') or ''")" = done ] && break; sleep 0.1; done
mctl --json run "$run" >"$TMP/run.json"
v() { json "$1" <"$TMP/run.json"; }
check "the run is done" "$(v "d['run']['result']")" "done"
pt() { v "[p['values']$2 for p in d['run']['points'] if p['position']==$1 and p['item']=='gauge'][0]"; }
check "position 1: mean 155 kPa within 160, pass" "$(pt 1 "['mean']") $(v "[x['verdict'] for x in d['run']['verdicts'] if x['position']==1][0]")" "155 pass"
check "position 2: mean 167.75 kPa over 160, fail" "$(pt 2 "['mean']") $(v "[x['verdict'] for x in d['run']['verdicts'] if x['position']==2][0]")" "167.75 fail"
check "the readings and who typed them are recorded" "$(pt 2 "['readings']") $(pt 2 "['readings_typed_by']")" \
	"[170, 165.5] ['王工 (test)', '李工 (test)']"
check "the limits evaluated over the meter's nameplate (q3 2.5 x 64)" "$(pt 1 "['limits']")" "{'min': 0, 'max': 160}"
finish
