"""A client of metrod that keeps one ZeroMQ socket (and so one connection, one CURVE session)
open across the steps of a test, driven by lines on standard input, one answer line each on
standard output.  ZeroMQ reconnects on its own when the daemon drops the connection; the
socket stays the same.

usage: /usr/bin/python3 tests/lib/curve_client.py dealer|sub ENDPOINT [KEYFILE SERVERPUB]
  KEYFILE is a `metroctl keygen` key pair file (public and secret), SERVERPUB the daemon's
  public key file; without them the socket has no CURVE (the NULL mechanism).
  dealer: each line is a request (JSON text with an `id`); the answer is `accepted` (the reply
          to that id has ok: true), the error code of a refusal, or `silent` when it could not
          be sent or no reply to it came within 2 s (a late reply to an earlier request is
          passed over).
  sub:    subscribed to everything; a line `after SEQ [MS]` answers with the seq of the first
          document above SEQ received within MS milliseconds (default 2000), or `silent`.
The first line printed is `ready` once the socket is connecting."""
import json
import sys
import time

import zmq

WAIT_MS = 2000


def key(path, field):
    for line in open(path):
        name, _, value = line.partition(":")
        if name.strip() == field:
            return value.strip().strip('"').encode()
    raise SystemExit(f"{path}: no {field}")


def main():
    kind, endpoint = sys.argv[1], sys.argv[2]
    s = zmq.Context().socket(zmq.DEALER if kind == "dealer" else zmq.SUB)
    s.linger = 0
    s.sndtimeo = WAIT_MS
    if len(sys.argv) > 4:
        s.curve_publickey = key(sys.argv[3], "public")
        s.curve_secretkey = key(sys.argv[3], "secret")
        s.curve_serverkey = key(sys.argv[4], "public")
    if kind == "sub":
        s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            print(answer(s, kind, line.strip()), flush=True)
        except (ValueError, KeyError, IndexError) as e:  # a step before went wrong
            print(f"bad line {line.strip()!r}: {e}", flush=True)


def answer(s, kind, line):
    if kind == "dealer":
        rid = json.loads(line)["id"]
        try:  # a DEALER with no peer that completed its handshake blocks on send
            s.send(line.encode())
        except zmq.Again:
            return "silent"
        end = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < end:
            if not s.poll(max(1, int((end - time.monotonic()) * 1000))):
                break
            r = json.loads(s.recv())
            if r.get("id") == rid:
                return "accepted" if r.get("ok") else r["error"]["code"]
        return "silent"
    words = line.split()
    after = int(words[1])
    ms = int(words[2]) if len(words) > 2 else WAIT_MS
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        if not s.poll(max(1, int((end - time.monotonic()) * 1000))):
            break
        seq = json.loads(s.recv_multipart()[-1]).get("seq")
        if isinstance(seq, int) and seq > after:
            return seq
    return "silent"


main()
