"""Subscribe to a metrod publish endpoint and append every message to a JSON-lines file until
killed: {"topic": ..., "doc": ...} per line, flushed at once so a test can poll the file.

usage: /usr/bin/python3 tests/lib/subscribe.py ENDPOINT FILE [TOPIC-PREFIX...]
(no prefix: everything)."""
import json
import sys

import zmq

s = zmq.Context().socket(zmq.SUB)
for prefix in sys.argv[3:] or [""]:
    s.setsockopt(zmq.SUBSCRIBE, prefix.encode())
s.connect(sys.argv[1])
with open(sys.argv[2], "w") as f:
    while True:
        topic, body = s.recv_multipart()
        f.write(json.dumps({"topic": topic.decode(), "doc": json.loads(body)}) + "\n")
        f.flush()
