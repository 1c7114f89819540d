#!/usr/bin/env bash
# resume-run: a gas batch is killed (SIGKILL) after its first flow point is committed; the
# restarted daemon marks the run incomplete; `metroctl resume-run` continues it as a new run
# linked to it, which runs exactly the points that had no committed result (a meter that
# failed before the crash stays failed, on the failed item), and a run can be resumed once.
set -u
. tests/lib/rigs.sh
PY=/usr/bin/python3
SCALE=60
gas_bench $SCALE
start_metrod "$TMP/metrod.yaml"
mctl --json start "$TMP/batch.yaml" >/dev/null 2>&1
check "the batch starts" "$?" "0"
DB=$TMP/records.db
committed() { sqlite3 "file:$DB?mode=ro" "select count(*) from points where run = 1 and test_point = 'qmax' and verdict is not null" 2>/dev/null || echo 0; }
for _ in $(seq 600); do
	p=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0].get('prompt') or ''" 2>/dev/null)
	[ -n "$p" ] && mctl input gas-1 "$p" pass --operator "resume test" >/dev/null 2>&1
	[ "$(committed)" -ge 5 ] && break
	sleep 0.05
done
kill -9 "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "killed after the qmax results were committed" "$(committed)" "5"
start_metrod "$TMP/metrod.yaml"
check "the interrupted run is incomplete" "$(sqlite3 "$DB" 'select state from runs where id = 1')" "incomplete"
mctl resume-run 1 >/dev/null 2>&1
check "resume-run without an operator (unauthenticated) is refused" "$?" "4"
timeout 300 "$B/metroctl" -e "$CTL" --json resume-run 1 --operator "resume test" --wait --auto-answer pass >"$TMP/resume.json" 2>"$TMP/resume.err"
rc=$?
check "resume-run runs to its end" "$(tail -n 1 "$TMP/resume.json" | json "d.get('result')")" "done"
# --wait exits as start --wait and follow do (docs/operations.md): 0 when every meter of the
# done run conforms, 1 when one does not
check "resume-run --wait exits by how the run ended" "$rc" \
	"$(tail -n 1 "$TMP/resume.json" | json "0 if all(v['verdict'] in ('pass', 'conditional') for v in d['verdicts']) else 1")"
check "the new run is linked to the interrupted one" "$(sqlite3 "$DB" 'select resumed_from from runs where id = 2')" "1"
problems=$($PY - "$DB" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
items = ["visual", "leak", "qmax", "0.2qmax", "qmin", "pressure_loss"]
done1 = {(p, t): v for p, t, v in c.execute(
    "select position, test_point, verdict from points where run = 1 and verdict in ('pass', 'conditional', 'fail')")}
ran2 = {(p, t) for p, t in c.execute("select position, test_point from points where run = 2")}
failed1 = {p for (p, t), v in done1.items() if v == "fail"}
out = []
for pos in range(1, 6):
    for it in items:
        if (pos, it) in done1 and (pos, it) in ran2:
            out.append("%s of position %d ran again" % (it, pos))
        if (pos, it) not in done1 and pos not in failed1 and (pos, it) not in ran2:
            out.append("%s of position %d never ran" % (it, pos))
        if pos in failed1 and (pos, it) in ran2:
            out.append("position %d failed before the crash but ran %s" % (pos, it))
if not any(t == "qmax" for _, t in done1):
    out.append("nothing was committed before the kill: the test proves nothing")
verdicts = dict(c.execute("select position, verdict || ' ' || coalesce(failed_items, '') from verdicts where run = 2"))
if verdicts.get(2) != 'fail ["qmax"]':
    out.append("position 2 (fails qmax before the crash): %r" % verdicts.get(2))
for pos in (1, 3, 4, 5):
    if not verdicts.get(pos, "").startswith("pass"):
        out.append("position %d: %r" % (pos, verdicts.get(pos)))
print("; ".join(out) or "ok")
PY
)
check "the new run ran exactly the points without a committed result" "$problems" "ok"
check "resuming the same run twice is refused" "$(mctl --json resume-run 1 --operator x 2>&1 | json "d['error']['code']" 2>/dev/null)" "exists"
check "resuming a finished run is refused" "$(mctl --json resume-run 2 --operator x 2>&1 | json "d['error']['code']" 2>/dev/null)" "state"
check "the certificate's evidence spans both runs" "$("$B/metroctl" trace --db "$DB" --json "$(sqlite3 "$DB" 'select number from certificates where run = 2 and position = 1')" | json "sorted({p['run'] for p in d['results'][0]['points']})")" "[1, 2]"

# A clean stop (SIGTERM) in the middle of a run: the run is marked incomplete at once, saying
# metrod was stopped (not "found running" at the next start), and can be resumed.
mctl --json start "$TMP/batch.yaml" >/dev/null 2>&1
check "a third batch starts" "$?" "0"
committed3() { sqlite3 "file:$DB?mode=ro" "select count(*) from points where run = 3 and test_point = 'qmax' and verdict is not null" 2>/dev/null || echo 0; }
for _ in $(seq 600); do
	p=$(mctl --json rigs 2>/dev/null | json "d['rigs'][0].get('prompt') or ''" 2>/dev/null)
	[ -n "$p" ] && mctl input gas-1 "$p" pass --operator "resume test" >/dev/null 2>&1
	[ "$(committed3)" -ge 5 ] && break
	sleep 0.05
done
kill -TERM "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "stopped (SIGTERM) after run 3's qmax results were committed" "$(committed3)" "5"
check "run 3 is marked incomplete by the stop itself" \
	"$(sqlite3 "file:$DB?mode=ro" "select state || ': ' || end_reason from runs where id = 3")" \
	"incomplete: interrupted: metrod was stopped during the run"
check "... with its audit event" \
	"$(sqlite3 "file:$DB?mode=ro" "select count(*) from audit_events where action = 'run.incomplete' and subject = 'run/3' and why like 'metrod was stopped with the run in progress%'")" "1"
start_metrod "$TMP/metrod.yaml"
timeout 300 "$B/metroctl" -e "$CTL" --json resume-run 3 --operator "resume test" --wait --auto-answer pass >"$TMP/resume3.json" 2>"$TMP/resume3.err"
check "the stopped run is resumed to its end" "$(tail -n 1 "$TMP/resume3.json" | json "d.get('result')")" "done"
kill -TERM "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
"$B/metroctl" audit verify --db "$DB" --pubkey "$TMP/records.pub" >/dev/null 2>&1
check "the records verify" "$?" "0"
finish
