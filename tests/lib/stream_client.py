#!/usr/bin/python3
"""Clients of metrod's stream written with python3-zmq and python3-jsonschema, for
tests/integration/test_stream.sh and test_kill.sh.

  stream_client.py subscribe PUB OUT SECONDS [all] [kill-on=KIND:N:PID]
                                               record every document (one JSON line each) until
                                               a run's final `safe` document (with `all`: past
                                               it), or SECONDS; on SIGTERM, record what already
                                               arrived (until the socket has been quiet for
                                               200 ms), then stop.  kill-on: SIGKILL PID the
                                               moment the N-th document of KIND arrives (before
                                               recording it); KIND is a topic's first word, or
                                               `result` for any stored kind (not reading, health)
  stream_client.py check OUT SCHEMADIR         validate every document against its schema and
                                               check that seq has no gaps; prints a summary
  stream_client.py latejoin CTL OUT            as a late joiner: snapshot, then replay from 0,
                                               and compare the stored results with OUT
"""
import json
import os
import signal
import sys
import time

import zmq


def subscribe(pub, out, seconds, *opts):
    past_safe = "all" in opts
    aim = [o.split("=", 1)[1].split(":") for o in opts if o.startswith("kill-on=")]
    kind, nth, victim = (aim[0][0], int(aim[0][1]), int(aim[0][2])) if aim else (None, 0, 0)
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(pub)
    end = time.time() + float(seconds)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    with open(out, "w") as f:
        f.write("")
    print("subscribed", flush=True)
    with open(out, "a") as f:
        while time.time() < end:
            if not s.poll(200):
                if stop:
                    break
                continue
            topic, body = s.recv_multipart()
            if kind:
                k = topic.decode().split(".")[0]
                if k == kind or (kind == "result" and k not in ("reading", "health")):
                    nth -= 1
                    if nth == 0:
                        kind = None
                        try:
                            os.kill(victim, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            doc = json.loads(body)
            f.write(json.dumps({"topic": topic.decode(), "doc": doc}, ensure_ascii=False) + "\n")
            f.flush()
            if topic.startswith(b"run.") and doc.get("state") == "safe" and not past_safe:
                break


def check(out, schemadir):
    import jsonschema
    schemas = {}
    for kind in ["reading", "health", "alarm", "run", "point", "verdict", "prompt", "audit"]:
        with open(f"{schemadir}/{kind}.json") as f:
            schemas[kind] = json.load(f)
    docs = [json.loads(l) for l in open(out) if l.strip()]
    bad = 0
    kinds = {}
    for d in docs:
        kind = d["topic"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            jsonschema.validate(d["doc"], schemas[kind])
        except Exception as e:  # report the first few
            bad += 1
            if bad <= 3:
                print("INVALID", d["topic"], str(e).splitlines()[0], file=sys.stderr)
    seqs = [d["doc"]["seq"] for d in docs]
    gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    print(len(docs), bad, gaps, ",".join(f"{k}={v}" for k, v in sorted(kinds.items())))


def latejoin(ctl, out):
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(ctl)

    def req(**kw):
        s.send(json.dumps(kw).encode())
        if not s.poll(5000):
            raise SystemExit("no reply")
        return json.loads(s.recv())
    snap = req(id="late-1", cmd="snapshot")
    replay = req(id="late-2", cmd="replay", **{"from": 0, "limit": 10000})
    stored = {d["seq"]: d for d in replay["documents"]}
    seen = [json.loads(l) for l in open(out) if l.strip()]
    results = [d for d in seen if d["topic"].split(".")[0] in ("point", "verdict")]
    same = sum(1 for d in results
               if d["doc"]["seq"] in stored and stored[d["doc"]["seq"]]["doc"] == d["doc"])
    # the snapshot's last reading per rig: newer than any the subscriber saw, same channels
    last = {}
    for d in seen:
        if d["topic"].startswith("reading."):
            last[d["doc"]["rig"]] = d["doc"]
    rigs = {r["id"]: r for r in snap["rigs"]}
    last_ok = bool(last) and all(
        rigs.get(rig, {}).get("reading") and rigs[rig]["reading"]["tick"] >= doc["tick"]
        and set(rigs[rig]["reading"]["values"]) == set(doc["values"])
        for rig, doc in last.items())
    print(snap["seq"] >= max(d["doc"]["seq"] for d in seen), len(results), same,
          sum(1 for d in stored.values() if d["topic"].startswith("verdict.")), last_ok)


if __name__ == "__main__":
    {"subscribe": subscribe, "check": check, "latejoin": latejoin}[sys.argv[1]](*sys.argv[2:])
