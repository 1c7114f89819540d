"""An operator whose meters are near-perfect, for test_near_zero.sh (issue 16, case 1).

usage: near_zero_operator.py PUB CTL RIG METROCTL PROBE-ARGS-JSON ERROR-PCT

Answers the prompts of a typed-readings batch (readings: operator): a judgement "pass"; the
start readings 1000 m3 on every dial; the end readings such that each meter indicates the
reference volume times (1 + ERROR-PCT/100), written with every digit (no exponent), so the
error the engine computes is ERROR-PCT up to the 1 uL rounding of the reference.  The
reference is read from the bench (`metroctl probe ref.volume`, a connection of its own) once
the flow has stopped, as the engine reads it: rounded to 1 uL.  Exits when the run is done.
"""
import json
import subprocess
import sys
from decimal import Decimal, getcontext

import zmq

getcontext().prec = 50
pub, ctl, rig, metroctl, probe_args, error_pct = sys.argv[1:7]
probe_args = json.loads(probe_args)
factor = 1 + Decimal(error_pct) / 100
START = Decimal(1000)

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect(pub)
for t in ("prompt.", "run.", "reading."):
    sub.setsockopt(zmq.SUBSCRIBE, (t + rig).encode())
if not sub.poll(10000):
    raise SystemExit("no reading from the daemon in 10 s: the subscription is not live")
sub.setsockopt(zmq.UNSUBSCRIBE, ("reading." + rig).encode())
print("subscribed", flush=True)


def answer(pid, values):
    subprocess.check_call([metroctl, "-e", ctl, "input", rig, pid] + values +
                          ["--operator", "near-zero test"], stdout=subprocess.DEVNULL)


while True:
    if not sub.poll(120000):
        raise SystemExit("no document for 120 s")
    topic, body = sub.recv_multipart()
    doc = json.loads(body)
    if topic.startswith(b"run.") and doc.get("state") == "done":
        break
    if not topic.startswith(b"prompt.") or doc.get("closed"):
        continue
    if doc.get("kind") != "readings":
        answer(doc["prompt"], ["pass"])
        continue
    if doc["phase"] == "start":
        reading = START
    else:
        got = json.loads(subprocess.check_output([metroctl, "--json", "probe"] + probe_args +
                                                 ["ref.volume"]))
        ref_l = Decimal("%.6f" % got["ref.volume"])
        reading = START + ref_l * factor / 1000
    answer(doc["prompt"], ["%d=%s" % (p, format(reading, "f")) for p in doc["positions"]])
