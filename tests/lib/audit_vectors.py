#!/usr/bin/python3
"""The pinned values of tests/unit/test_audit.c, computed with the independent encoder of
tests/lib/chain_verify.py (written from docs/records.md, not from lib/records/audit.c) and
python3-cryptography's Ed25519.  Run it from the project root:

    /usr/bin/python3 tests/lib/audit_vectors.py

and copy the printed lines into the test if the rows there change.  The rows are given here
as (name, storage class, value) exactly as the test inserts them into SQLite."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chain_verify import checkpoint_message, link_record, row_record, sha256  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

READINGS = ('{"samples": [{"t": "2026-11-28T09:00:00.000Z", "meter_m3": 1234.567}, '
            '{"t": "2026-11-28T09:01:12.500Z", "meter_m3": 1234.6672}], "note": "\u6c34\u8868"}')

POINT = ("points", 42, [
    ("run", "integer", 3), ("position", "integer", 2), ("test_point", "text", "Q1"),
    ("attempt", "integer", 2), ("readings", "text", READINGS),
    ("intermediates", "text", '{"C":1.0011,"Va_l":100.158}'), ("environment", "null", None),
    ("error", "text", "-5.35"), ("rounded", "null", None), ("mpe", "text", "5"),
    ("verdict", "text", "fail"), ("rule", "text", "JJG162-2019 6.3.2"),
    ("recorded", "text", "2026-11-28T09:01:12.500000Z")])

STANDARD = ("standards", 3, [
    ("std_id", "text", "gs-bell-01"), ("description", "text", "Bell prover 200 L"),
    ("serial", "null", None), ("certificate", "text", "JL-2026-G-00193"),
    ("issuer", "text", "Example Provincial Institute of Metrology"),
    ("calibrated", "text", "2026-11-27"), ("due", "text", "2027-11-26"),
    ("uncertainty_pct", "real", 0.2), ("k", "real", 2.0), ("accuracy_class", "null", None),
    ("assessment_certificate", "text", "[2024]\u56fd\u91cf\u6807E\u8bc1\u5b57\u7b2c0117\u53f7"),
    ("assessment_due", "null", None), ("active", "integer", 1),
    ("updated", "text", "2026-11-28T08:00:00.000000Z")])

TYPES = ("t_types", -9, [
    ("zi", "integer", -1), ("big", "integer", 2**63 - 1), ("r", "real", -1.5e300),
    ("t", "text", ""), ("b", "blob", b"\x00\xff\x10"), ("n", "null", None)])

SEED = bytes(range(1, 33))
STATION, EPOCH, HEAD_SEQ, TIME = "demo-lab", 4, 57, "2026-11-28T13:08:39.491740Z"


def main():
    hashes = {}
    for table, rid, fields in (POINT, STANDARD, TYPES):
        rec = row_record(table, rid, fields)
        hashes[table] = sha256(rec)
        print("%-10s row hash   %s" % (table, hashes[table].hex()))
    print("t_types    row record %s" % row_record(*TYPES).hex())
    first = sha256(link_record(1, 1, "points", 42, hashes["points"], bytes(32)))
    print("link seq 1 insert points 42, prev zero        %s" % first.hex())
    second = sha256(link_record(57, 2, "standards", 3, hashes["standards"], first))
    print("link seq 57 update standards 3, prev the above %s" % second.hex())
    sk = Ed25519PrivateKey.from_private_bytes(SEED)
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    msg = checkpoint_message(STATION, EPOCH, HEAD_SEQ, second, TIME, pk)
    print("public key of seed 01..20  %s" % pk.hex())
    print("checkpoint signature       %s" % sk.sign(msg).hex())
    print("checkpoint short id        %s" % sha256(msg).hex()[:12])


if __name__ == "__main__":
    main()
