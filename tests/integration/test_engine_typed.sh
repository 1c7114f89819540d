#!/usr/bin/env bash
# Typed readings end to end (procedures/jjg162-water-initial-typed.yaml): mechanical water
# meters read by the operator at a standing start and stop.  A Python operator
# (tests/lib/typed_operator.py) answers every readings prompt from the meters' dials (the
# simulator's counts on top of a starting value, typed as exact decimal text through
# `metroctl input`), after two wrong answers that must be refused; position 4's dial is never
# typed.  Position 3 reads +3.5 % at Q2 (tests/data/sim/flow-bench-meters.yaml): three typed
# runs there, then it fails.  Checks the verdicts, that the errors come from exactly the typed
# text, that every prompt closed, and the safe state.
set -u
. tests/lib/rigs.sh
water_bench 120
start_metrod "$TMP/metrod.yaml"
sed -n '1,/^meters:/p' config/batches/water-initial.yaml | sed 's/^procedure: .*/procedure: jjg162-water-initial-typed/' >"$TMP/batch.yaml"
grep -E 'position: [1-4],' config/batches/water-initial.yaml >>"$TMP/batch.yaml"

probe="[\"--driver\",\"modbus-tcp\",\"--host\",\"127.0.0.1\",\"--port\",\"$port\",\"--profile\",\"config/profiles/flow-bench.yaml\",\"--positions\",\"10\"]"
/usr/bin/python3 tests/lib/typed_operator.py "$PUB" "$CTL" water-1 "$B/metroctl" "$probe" "$TMP/operator.json" >"$TMP/operator.out" 2>&1 &
op=$!
PIDS+=($op)
for _ in $(seq 150); do grep -q subscribed "$TMP/operator.out" 2>/dev/null && break; sleep 0.1; done
timeout 300 "$B/metroctl" -e "$CTL" --json start "$TMP/batch.yaml" --wait 2>"$TMP/start.err" | tail -n 1 >"$TMP/run.json"
check "batch runs to its end" "$(json "d['result']" <"$TMP/run.json")" "done"
check "start --wait returns with the rig idle again" "$(mctl --json rigs | json "d['rigs'][0]['state']")" "idle"
check "and the safe state read back" "$(json "d['safe_state_verified']" <"$TMP/run.json")" "True"
wait "$op"
check "the operator client finished" "$?" "0"
cat "$TMP/operator.out"
v() { json "$1" <"$TMP/run.json"; }
verdict() { v "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==$1][0]"; }
check "position 1 passes" "$(verdict 1)" "('pass', [])"
check "position 2 passes" "$(verdict 2)" "('pass', [])"
check "position 3 fails at q2" "$(verdict 3)" "('fail', ['q2'])"
check "position 4 (never typed) is in error, not failed" "$(verdict 4 | cut -c1-8)" "('error'"
check "position 4's reason names the missing reading" "$(v "[x['reason'] for x in d['verdicts'] if x['position']==4][0]")" "q3: no start reading typed"
check "wrong answers refused with bad-request" "$(json "d['refusals']" <"$TMP/operator.json")" "['bad-request', 'bad-request']"
check "every prompt opened was closed" "$(json "d['opened'] == d['closed'] and d['opened'] > 0" <"$TMP/operator.json")" "True"
# The errors are computed from exactly what was typed: for every final or pending point of a
# typed position, the start and end readings equal the typed text and the indicated volume is
# their difference in litres, exactly (Python's Decimal, not floats).
/usr/bin/python3 - "$TMP/run.json" "$TMP/operator.json" >"$TMP/exact.out" <<'PY'
import json, sys
from decimal import Decimal
run = json.load(open(sys.argv[1])); op = json.load(open(sys.argv[2]))
typed = {}
for item, phase, pos, v in op["typed"]:
    typed.setdefault((item, pos, phase), []).append(v)
pts = [p for p in run["points"] if p["values"].get("start_reading_m3") is not None]
ok = 0
for p in pts:
    val = p["values"]; key = (p["item"], p["position"])
    s = Decimal(str(val["start_reading_m3"])); e = Decimal(str(val["end_reading_m3"]))
    if (any(s == Decimal(x) for x in typed.get(key + ("start",), []))
            and any(e == Decimal(x) for x in typed.get(key + ("end",), []))
            and Decimal(str(val["indicated_l"])) == (e - s) * 1000
            and val["readings_typed_by"] == ["王工 (test)", "王工 (test)"]):
        ok += 1
q3 = [p["values"]["judgement"]["error"] for p in run["points"]
      if p["position"] == 1 and p["item"] == "q3" and p["verdict"] == "pass"][0]
print(len(pts), ok, abs(q3 - 0.2) < 0.15)
PY
read -r npts exact q3ok <"$TMP/exact.out"
check "typed points recorded" "$([ "${npts:-0}" -ge 8 ] && echo yes)" "yes"
check "every typed point: readings as typed, volume their exact difference" "$exact" "$npts"
check "position 1's error at q3 is the meter's +0.2 % within the dial resolution" "$q3ok" "True"
check "q2 of position 3 took three typed runs" "$(v "[len(p['values']['runs']) for p in d['points'] if p['position']==3 and p['item']=='q2' and p['verdict']=='fail'][0]")" "3"
safe=$(water_probe flow.run collect)
check "flow.run off after the run" "$(echo "$safe" | json "d['flow.run']")" "0.0"
check "collect off after the run" "$(echo "$safe" | json "d['collect']")" "0.0"
finish
