"""An operator commissioning a rig, for test_commission.sh.

usage: display_operator.py PUB RIG METROCTL-ARGS-JSON DISPLAY-FILE OUT

METROCTL-ARGS-JSON: the metroctl command line up to the subcommand, as a JSON list (the
binary, -e CTL, the person's --key and the daemon's --server-key).

Subscribes to prompt.RIG and run.RIG.  A judgement is answered "pass"; a prompt for readings
is answered with what each meter's own display shows (the PLC's display file: a person
looking at the meters), through `metroctl input`.  When the run ends, writes one JSON line
to OUT: the readings typed (phase, position -> text) and how the run ended.
"""
import json
import subprocess
import sys

import zmq

pub, rig, metroctl, display_file, out = sys.argv[1:6]
metroctl = json.loads(metroctl)
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.connect(pub)
for t in ("prompt.", "run."):
    sub.setsockopt(zmq.SUBSCRIBE, (t + rig).encode())
# Live once a reading (subscribed after them on the same connection) has come through.
sub.setsockopt(zmq.SUBSCRIBE, ("reading." + rig).encode())
if not sub.poll(10000):
    raise SystemExit("no reading from the daemon in 10 s: the subscription is not live")
sub.recv_multipart()
sub.setsockopt(zmq.UNSUBSCRIBE, ("reading." + rig).encode())
print("subscribed", flush=True)

typed, end = [], None
while end is None:
    if not sub.poll(120000):
        raise SystemExit("no document for 120 s")
    topic, body = sub.recv_multipart()
    doc = json.loads(body)
    if topic.startswith(b"run.") and doc.get("state") == "done":
        end = doc.get("result")
        break
    if not topic.startswith(b"prompt.") or doc.get("closed"):
        continue
    pid = doc["prompt"]
    args = metroctl + ["input", rig, pid]
    if doc.get("kind") == "readings":
        with open(display_file) as f:
            shown = json.load(f)
        answer = {str(p): shown[str(p)] for p in doc["positions"]}
        args += ["%s=%s" % kv for kv in answer.items()]
        typed += [[doc["phase"], int(p), v] for p, v in answer.items()]
    else:
        args += ["pass"]
    subprocess.check_call(args, stdout=subprocess.DEVNULL)  # in the name of the key's person

with open(out, "w") as f:
    json.dump({"typed": typed, "end": end}, f)
