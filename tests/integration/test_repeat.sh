#!/usr/bin/env bash
# The repeat cache of the control API (#17 case 4): a state-changing request sent again by the
# same connection is answered from its first reply ("repeated": true), never executed twice;
# the same request from another connection (another ROUTER routing id) is a request of its
# own and acts on what is there now.  Two DEALER clients send the same
# {"id":1,"cmd":"abort","rig":"water-1"} for two different runs: each aborts its own run.
# The cache is bounded: after METRO_REPEAT_MAX (256) newer entries the first reply is gone and
# the request is executed again.
set -u
. tests/lib/need.sh
need_py zmq python3-zmq
. tests/lib/rigs.sh
water_bench 60
start_metrod "$TMP/metrod.yaml"
out=$(/usr/bin/python3 - "$CTL" "$B/metroctl" <<'PY'
import json, subprocess, sys, time, zmq
ep, metroctl = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
def client():
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep)
    return s
def ask(s, req):
    s.send(req.encode() if isinstance(req, str) else json.dumps(req).encode())
    if not s.poll(5000):
        sys.exit("no reply to %r" % (req,))
    return json.loads(s.recv())
ctl = client()
def until(what, pred, seconds=20):
    for _ in range(seconds * 10):
        if pred():
            return
        time.sleep(0.1)
    sys.exit("timed out waiting for " + what)
def run_doc(run):
    return ask(ctl, {"id": "q", "cmd": "run", "run": run})["run"]
def rig():
    return ask(ctl, {"id": "q", "cmd": "rigs"})["rigs"][0]
def start():
    until("the rig to be idle", lambda: rig()["state"] == "idle" and "run" not in rig())
    r = json.loads(subprocess.run([metroctl, "-e", ep, "--json", "start",
                                   "config/batches/water-initial.yaml"],
                                  capture_output=True, text=True).stdout)
    run = r["run"]
    until("run %s to be active" % run, lambda: rig().get("run") == run)
    return run
def ended(run):
    until("run %s to end" % run, lambda: run_doc(run).get("result") is not None)
    return run_doc(run)["result"]
ABORT = '{"id":1,"cmd":"abort","rig":"water-1"}'
a, b = client(), client()
class Res:  # each result printed at once: a step that times out leaves the earlier ones
    def __setitem__(self, k, v):
        print(k + "=" + json.dumps(v), flush=True)
res = Res()
run1 = start()
r = ask(a, ABORT)
res["a aborts its run"] = (r.get("ok"), r.get("run") == run1, "repeated" in r)
res["run 1 result"] = ended(run1)
r = ask(a, ABORT)  # a true repeat: same connection, same request
res["a's repeat is answered from the cache"] = (r.get("ok"), r.get("run") == run1,
                                                r.get("repeated"))
run2 = start()
r = ask(b, ABORT)  # the same text from another connection: its own request
res["b's abort acts on the run there now"] = (r.get("ok"), r.get("run") == run2,
                                              "repeated" in r)
res["run 2 result"] = ended(run2)
r = ask(a, ABORT)
res["a's repeat still answers the first reply"] = (r.get("run") == run1, r.get("repeated"))
# the bound on entries: 256 newer requests from a push the first reply out
for k in range(256):
    ask(a, {"id": "fill-%d" % k, "cmd": "pause", "rig": "water-1"})
r = ask(a, ABORT)
res["after 256 newer entries the request is executed again"] = (
    r.get("ok"), (r.get("error") or {}).get("code"), "repeated" in r)
PY
)
echo "$out" | sed 's/^/  /'
val() { echo "$out" | grep -F "$1=" | cut -d= -f2-; }
check "a's abort ends run 1" "$(val "a aborts its run")" "[true, true, false]"
check "run 1 aborted" "$(val "run 1 result")" '"aborted"'
check "a true repeat (same connection) is answered from the first reply" "$(val "a's repeat is answered from the cache")" "[true, true, true]"
check "the same request from another client acts on its own run" "$(val "b's abort acts on the run there now")" "[true, true, false]"
check "run 2 aborted (not left running)" "$(val "run 2 result")" '"aborted"'
check "the first client's repeat still gets its own first reply" "$(val "a's repeat still answers the first reply")" "[true, true]"
check "the cache is bounded: the oldest entry is gone" "$(val "after 256 newer entries the request is executed again")" '[false, "no-run", false]'
kill "$METROD_PID"; wait "$METROD_PID" 2>/dev/null
check "each abort that acted is recorded once" "$(sqlite3 "$TMP/records.db" "SELECT count(*) FROM audit_events WHERE action='abort' AND why='accepted';")" "2"
finish
