"""An operator at a flow bench of mechanical water meters, for test_engine_typed.sh.

usage: typed_operator.py PUB CTL RIG METROCTL PROBE-ARGS-JSON OUT

Subscribes to prompt.RIG and run.RIG.  A judgement prompt is answered "pass".  A prompt for
typed readings is answered the way a person would: by looking at each meter's dial.  The dial
is the simulator's pulse count of the position (read with `metroctl probe`, a connection of its
own) on top of a per-meter starting value, written with five decimals of m3 (0.01 L) and
rounded down as a dial shows it.  The first readings prompt first gets two wrong answers over
the control socket (a comma for a decimal point, a position it did not ask about), which must
be refused with bad-request; the real answer then goes through `metroctl input`.  Position 4's
reader is broken: it is never typed.  When the run is done, prints one JSON line: what was
typed (item, phase, position -> text), the refusals' codes, the prompts opened and closed.
"""
import json
import subprocess
import sys
from decimal import ROUND_FLOOR, Decimal

import zmq

pub, ctl, rig, metroctl, probe_args, out = sys.argv[1:7]
probe_args = json.loads(probe_args)
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect(pub)
for t in ("prompt.", "run."):
    sub.setsockopt(zmq.SUBSCRIBE, (t + rig).encode())
req = ctx.socket(zmq.DEALER)
req.connect(ctl)
# The subscriptions are live once a reading (subscribed after them on the same connection) has
# come through: only then does the test start the run, so no prompt can be missed.
sub.setsockopt(zmq.SUBSCRIBE, ("reading." + rig).encode())
if not sub.poll(10000):
    raise SystemExit("no reading from the daemon in 10 s: the subscription is not live")
sub.recv_multipart()
sub.setsockopt(zmq.UNSUBSCRIBE, ("reading." + rig).encode())
print("subscribed", flush=True)

typed, refusals, opened, closed, nreq = [], [], 0, 0, 0


def request(**kw):
    global nreq
    nreq += 1
    kw["id"] = "op-%d" % nreq
    req.send(json.dumps(kw).encode())
    if not req.poll(10000):
        raise SystemExit("no reply from the daemon")
    return json.loads(req.recv())


def dial(position, litres):
    base = Decimal(1000 + 10 * position)  # what the meter showed before the bench
    v = base + Decimal(repr(litres)) / 1000
    return str(v.quantize(Decimal("0.00001"), rounding=ROUND_FLOOR))


while True:
    if not sub.poll(120000):
        raise SystemExit("no document for 120 s")
    topic, body = sub.recv_multipart()
    doc = json.loads(body)
    if topic.startswith(b"run.") and doc.get("state") == "done":
        break
    if not topic.startswith(b"prompt."):
        continue
    if doc.get("closed"):
        closed += 1
        continue
    opened += 1
    pid = doc["prompt"]
    if doc.get("kind") != "readings":
        r = request(cmd="input", rig=rig, prompt=pid, answer="pass", operator="王工 (test)")
        assert r["ok"], r
        continue
    positions = [p for p in doc["positions"] if p != 4]
    chans = ["pos[%d].volume" % p for p in positions]
    got = json.loads(subprocess.check_output([metroctl, "--json", "probe"] + probe_args + chans))
    answer = {str(p): dial(p, got["pos[%d].volume" % p]) for p in positions}
    if not refusals:
        for bad in ({str(positions[0]): "1012,5"}, {"99": "1.0"}):
            r = request(cmd="input", rig=rig, prompt=pid, answer=bad, operator="王工 (test)")
            refusals.append(r["error"]["code"] if not r["ok"] else "accepted")
    subprocess.check_call([metroctl, "-e", ctl, "input", rig, pid]
                          + ["%s=%s" % kv for kv in answer.items()]
                          + ["--operator", "王工 (test)"], stdout=subprocess.DEVNULL)
    for p, v in answer.items():
        typed.append([doc["item"], doc["phase"], int(p), v])

with open(out, "w") as f:
    json.dump({"typed": typed, "refusals": refusals, "opened": opened, "closed": closed}, f)
