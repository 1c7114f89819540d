#!/usr/bin/python3
"""An independent verifier of metrod's record chain, written from docs/records.md alone
("The hash chain", "Canonical encoding (format 1)", "Checkpoints"), not from lib/records/audit.c:
a second implementation of the format, so that a bug shared by metrod's writer and its
verifier (they use one hashing function) shows up as a disagreement here.

  chain_verify.py DB --pubkey FILE [--pubkey FILE...]

Opens DB read-only (SQLite URI mode=ro, query_only, no triggers or views run) and checks:
  - every chained table exists (profiles from schema version 3 on: PRAGMA user_version) and
    has an INTEGER PRIMARY KEY and a chain_seq column;
  - the chain in seq order: seqs 1, 2, 3... without gaps, each prev equal to the previous
    record's hash, each hash recomputed from its link record;
  - every row of every chained table: its chain_seq names an existing record, that record
    names this table and row id, no other row claims it, it is the latest record of the row,
    and the row hash recomputed from the stored row equals the record's row_hash;
  - every chain record leads to a row: the latest record of each (table, row) is claimed;
    a row with several records belongs to a mutable table, its first record is an insert
    and the others updates;
  - checkpoints in chain order: epochs 1, 2, 3..., heads that do not go back and precede the
    checkpoint's own record, the signed head hash equal to the chain's hash at that seq, the
    Ed25519 signature valid under one of the given public keys, the short id;
  - every certificate step (schema 4, "Certificate steps"): its statement is the one its
    columns state, and its Ed25519 signature verifies under the key stored with it.

Prints "ok N records (...)" and exits 0, or one line per problem naming the table and row id
and exits 1.  Exit 2: usage or an unusable key file; 5: the database cannot be opened.

As a module: row_record(), link_record(), checkpoint_message() give the encodings, for
computing test vectors (tests/unit/test_audit.c).
"""
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import urllib.parse

CHAINED = ["stations", "standards", "rigs", "audit_events", "standard_changes", "procedures",
           "profiles", "software", "meters", "runs", "run_standards", "positions", "points",
           "verdicts", "inputs", "certificates", "checkpoints", "people", "person_changes",
           "certificate_steps"]
# The schema version that created a chained table (docs/records.md, "What is chained"): a file
# of an older version (PRAGMA user_version) does not have it.  The others date from version 1.
SINCE = {"profiles": 3, "people": 4, "person_changes": 4, "certificate_steps": 4}
MUTABLE = {"stations", "standards", "rigs", "runs", "positions", "people"}
OPS = {"insert": 1, "update": 2}
NAME_OK = set(b"abcdefghijklmnopqrstuvwxyz0123456789_")


class EncodeError(Exception):
    pass


def _name(n):
    """A table or field name: 1..63 bytes of [a-z0-9_], with its 1-byte length."""
    b = n.encode() if isinstance(n, str) else bytes(n)
    if not 1 <= len(b) <= 63 or not set(b) <= NAME_OK:
        raise EncodeError("name %r is not 1..63 characters of [a-z0-9_]" % (n,))
    return bytes([len(b)]) + b


def _i64(v):
    return struct.pack(">q", v)


def field(name, kind, value):
    """One field of a row record.  kind is SQLite's storage class: integer, real, text, blob."""
    out = _name(name)
    if kind == "integer":
        return out + b"\x01" + _i64(value)
    if kind == "real":
        if value != value:
            raise EncodeError("field %s is NaN" % name)
        return out + b"\x02" + struct.pack(">d", value)
    if kind in ("text", "blob"):
        data = value.encode() if isinstance(value, str) else bytes(value)
        return out + (b"\x03" if kind == "text" else b"\x04") + struct.pack(">I", len(data)) + data
    raise EncodeError("field %s has storage class %s" % (name, kind))


def row_record(table, row_id, fields):
    """fields: (name, kind, value) for every column but the key and chain_seq; NULLs (kind
    'null' or value None) are omitted, the rest sorted by name bytewise."""
    kept = sorted(((n.encode() if isinstance(n, str) else n, k, v) for n, k, v in fields
                   if k != "null" and v is not None), key=lambda f: f[0])
    names = [f[0] for f in kept]
    if len(set(names)) != len(names):
        raise EncodeError("duplicate field name")
    if len(kept) > 64:
        raise EncodeError("%d fields (at most 64)" % len(kept))
    out = b"MROW\x01" + _name(table) + _i64(row_id) + struct.pack(">H", len(kept))
    for n, k, v in kept:
        out += field(n, k, v)
    return out


def link_record(seq, op, table, row_id, row_hash, prev):
    if op not in (1, 2) or len(row_hash) != 32 or len(prev) != 32:
        raise EncodeError("bad link record input")
    return (b"MLNK\x01" + _i64(seq) + bytes([op]) + _name(table) + _i64(row_id) + row_hash
            + prev)


def _text(v):
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    raise EncodeError("%r is not text" % (v,))


def checkpoint_message(station, epoch, head_seq, head_hash, time, pubkey):
    st, tm = _text(station), _text(time)
    if not 1 <= len(st) <= 63 or not 1 <= len(tm) <= 39 or len(head_hash) != 32 \
            or len(pubkey) != 32:
        raise EncodeError("bad checkpoint field length")
    return (b"MCKP\x01" + bytes([len(st)]) + st + _i64(epoch) + _i64(head_seq) + head_hash
            + bytes([len(tm)]) + tm + pubkey)


def sha256(b):
    return hashlib.sha256(b).digest()


def unhex(s):
    """Stored hex text (written lowercase; the case is not significant: what counts is the
    bytes it denotes, which the link hash covers).  None when it is not hex."""
    if isinstance(s, (bytes, bytearray)):
        try:
            s = bytes(s).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(s, str) or len(s) % 2 or not all(c in "0123456789abcdefABCDEF" for c in s):
        return None
    return bytes.fromhex(s)


def read_pubkey(path):
    """A public key file: 64 hex digits, white space around them allowed."""
    with open(path) as f:
        k = unhex(f.read().strip())
    if k is None or len(k) != 32:
        raise ValueError("%s: not a public key (64 hex digits)" % path)
    return k


def ed25519_verify(pubkey, sig, msg):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(pubkey).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


STEP_SCHEMA = "metrod.certificate-step/1"


def step_statement(station, number, step, person, time, why, replaces):
    """The signed statement of a certificate step, as docs/records.md describes it: compact
    JSON, keys sorted, why and replaces left out when absent."""
    d = {"number": number, "person": person, "schema": STEP_SCHEMA, "station": station,
         "step": step, "time": time}
    if why:
        d["why"] = why
    if replaces:
        d["replaces"] = replaces
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def qi(name):
    return '"' + name.replace('"', '""') + '"'


class Verifier:
    def __init__(self, db, pubkeys):
        self.db = db
        self.pubkeys = pubkeys
        self.problems = []
        self.tmp = None

    def bad(self, where, what):
        self.problems.append("%s: %s" % (where, what))

    def open(self):
        """A read-only connection that leaves nothing beside the file.  SQLite reads a database
        in WAL mode through its -wal and -shm; a read-only connection creates whichever is
        missing and cannot remove it.  So the file is opened in place only when both exist (a
        live database: the writer owns them); otherwise a private copy of the file (and its
        -wal) is read, in a temporary directory removed afterwards."""
        path = os.path.abspath(self.db)
        if not os.path.isfile(path):
            raise sqlite3.OperationalError("no such file")
        if not (os.path.exists(path + "-wal") and os.path.exists(path + "-shm")):
            self.tmp = tempfile.mkdtemp(prefix="chain_verify.")
            copy = os.path.join(self.tmp, "copy.db")
            shutil.copyfile(path, copy)
            if os.path.exists(path + "-wal"):
                shutil.copyfile(path + "-wal", copy + "-wal")
            path = copy
        uri = "file:%s?mode=ro" % urllib.parse.quote(path)
        con = sqlite3.connect(uri, uri=True, isolation_level=None)
        con.text_factory = bytes
        for p in ("query_only = 1", "trusted_schema = 0"):
            con.execute("PRAGMA " + p)
        con.execute("BEGIN")
        con.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # one snapshot from here
        return con

    def run(self):
        con = None
        try:
            con = self.open()
            ok = con.execute("PRAGMA integrity_check").fetchall()
            if [r[0] for r in ok] != [b"ok"]:
                self.bad("database", "integrity_check: %s" % ok[0][0].decode(errors="replace"))
                return 0
            self.load_chain(con)
            rows = self.check_rows(con)
            self.check_records()
            self.check_checkpoints(con)
            self.check_steps(con)
            return rows
        finally:
            if con is not None:
                con.close()
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the chain -----------------------------------------------------------------------
    def load_chain(self, con):
        self.chain = {}  # seq -> dict
        cols = self.columns(con, "chain")
        if cols is None:
            self.bad("chain", "table chain is missing")
            return
        need = ["seq", "tbl", "row_id", "op", "row_hash", "prev", "hash"]
        missing = [c for c in need if c not in cols]
        if missing:
            self.bad("chain", "missing columns %s" % ", ".join(missing))
            return
        q = "SELECT %s FROM chain ORDER BY seq" % ", ".join(
            "%s, typeof(%s)" % (c, c) for c in need)
        prev_hash = bytes(32)
        expect = 1
        for r in con.execute(q):
            v = {c: r[2 * i] for i, c in enumerate(need)}
            t = {c: r[2 * i + 1].decode() for i, c in enumerate(need)}
            seq = v["seq"]
            tbl = v["tbl"].decode(errors="replace") if t["tbl"] == "text" else repr(v["tbl"])
            where = "chain record %s (%s row %s)" % (seq, tbl, v["row_id"])
            if t["seq"] != "integer" or t["row_id"] != "integer" or t["tbl"] != "text":
                self.bad(where, "seq, tbl or row_id has the wrong type")
                continue
            if seq != expect:
                if seq > expect:
                    self.bad(where, "chain records %d..%d are missing" % (expect, seq - 1))
                else:
                    self.bad(where, "seq out of order")
            expect = seq + 1
            op = OPS.get(v["op"].decode(errors="replace") if t["op"] == "text" else None)
            rh, pv, h = unhex(v["row_hash"]), unhex(v["prev"]), unhex(v["hash"])
            rec = {"seq": seq, "tbl": tbl, "row_id": v["row_id"], "op": op, "row_hash": rh,
                   "hash": h}
            self.chain[seq] = rec
            if op is None:
                self.bad(where, "op %r is neither insert nor update" % (v["op"],))
            if any(x is None or len(x) != 32 for x in (rh, pv, h)):
                self.bad(where, "row_hash, prev or hash is not 64 hex digits")
                prev_hash = h if h is not None and len(h) == 32 else bytes(32)
                continue
            if pv != prev_hash:
                self.bad(where, "prev differs from the hash of record %d" % (seq - 1))
            if op is not None:
                try:
                    calc = sha256(link_record(seq, op, tbl, v["row_id"], rh, pv))
                    if calc != h:
                        self.bad(where, "hash differs from the link record's (computed %s, "
                                 "stored %s)" % (calc.hex()[:16], h.hex()[:16]))
                except EncodeError as e:
                    self.bad(where, "cannot encode the link record: %s" % e)
            prev_hash = h

    # ---- rows ----------------------------------------------------------------------------
    @staticmethod
    def columns(con, table):
        info = con.execute("PRAGMA table_info(%s)" % qi(table)).fetchall()
        if not info:
            return None
        # cid, name, type, notnull, dflt_value, pk
        return {r[1].decode(): (r[2].decode().upper(), r[5]) for r in info}

    def check_rows(self, con):
        self.claimed = {}  # seq -> (table, row id)
        nrows = 0
        version = con.execute("PRAGMA user_version").fetchone()[0]
        for table in CHAINED:
            cols = self.columns(con, table)
            if cols is None:
                if version >= SINCE.get(table, 1):
                    self.bad(table, "table %s is missing" % table)
                continue
            keys = [c for c, (ty, pk) in cols.items() if pk]
            if len(keys) != 1 or cols[keys[0]][0] != "INTEGER":
                self.bad(table, "has no INTEGER PRIMARY KEY")
                continue
            key = keys[0]
            if "chain_seq" not in cols:
                self.bad(table, "has no chain_seq column")
                continue
            fields = sorted(c for c in cols if c not in (key, "chain_seq"))
            sel = [qi(key), "chain_seq", "typeof(chain_seq)"]
            for c in fields:
                sel += [qi(c), "typeof(%s)" % qi(c)]
            q = "SELECT %s FROM %s ORDER BY %s" % (", ".join(sel), qi(table), qi(key))
            for r in con.execute(q):
                nrows += 1
                self.check_row(table, r[0], r[1], r[2].decode(), [
                    (fields[i], r[4 + 2 * i].decode(), r[3 + 2 * i])
                    for i in range(len(fields))])
        return nrows

    def check_row(self, table, rid, cseq, ctype, fields):
        where = "%s row %s" % (table, rid)
        if ctype != "integer":
            self.bad(where, "chain_seq is %s, not an integer" % ctype)
            return
        rec = self.chain.get(cseq)
        if rec is None:
            self.bad(where, "chain_seq %s: that chain record does not exist (not in the "
                     "chain)" % cseq)
            return
        if rec["tbl"] != table or rec["row_id"] != rid:
            self.bad(where, "claims chain record %s, which records %s row %s" %
                     (cseq, rec["tbl"], rec["row_id"]))
            return
        if cseq in self.claimed:
            self.bad(where, "claims chain record %s, claimed already" % cseq)
            return
        self.claimed[cseq] = (table, rid)
        latest = max(s for s in self.history(table, rid))
        if cseq != latest:
            self.bad(where, "carries chain record %s but a later version (record %s) was "
                     "chained: rolled back" % (cseq, latest))
        try:
            h = sha256(row_record(table, rid, fields))
        except EncodeError as e:
            self.bad(where, "cannot encode the row: %s" % e)
            return
        if rec["row_hash"] is not None and h != rec["row_hash"]:
            self.bad(where, "row hash %s differs from chain record %s's %s: the row was "
                     "edited" % (h.hex()[:16], cseq, rec["row_hash"].hex()[:16]))

    def history(self, table, rid):
        if not hasattr(self, "_hist"):
            self._hist = {}
            for s, rec in self.chain.items():
                self._hist.setdefault((rec["tbl"], rec["row_id"]), []).append(s)
        return sorted(self._hist.get((table, rid), []))

    # ---- every record leads to a row ---------------------------------------------------------
    def check_records(self):
        self.history("", 0)
        for (tbl, rid), seqs in sorted(self._hist.items(), key=lambda kv: min(kv[1])):
            seqs.sort()
            where = "chain record %s (%s row %s)" % (seqs[-1], tbl, rid)
            if tbl not in CHAINED:
                self.bad(where, "names %s, which is not a chained table" % tbl)
                continue
            if seqs[-1] not in self.claimed:
                self.bad(where, "no row carries it: %s row %s was deleted or moved" %
                         (tbl, rid))
            ops = [self.chain[s]["op"] for s in seqs]
            if ops[0] != 1:
                self.bad("chain record %s (%s row %s)" % (seqs[0], tbl, rid),
                         "the row's first record is not an insert")
            if len(seqs) > 1:
                if tbl not in MUTABLE:
                    self.bad(where, "%s row %s has %d records but %s is immutable" %
                             (tbl, rid, len(seqs), tbl))
                elif any(o != 2 for o in ops[1:]):
                    self.bad(where, "a later record of %s row %s is not an update" %
                             (tbl, rid))

    # ---- checkpoints -------------------------------------------------------------------------
    def check_checkpoints(self, con):
        self.ncheckpoints = 0
        self.signed_to = 0
        cols = self.columns(con, "checkpoints")
        need = ["epoch", "station", "time", "head_seq", "head_hash", "pubkey", "signature",
                "short_id", "chain_seq"]
        if cols is None:
            return
        missing = [c for c in need if c not in cols]
        if missing:
            self.bad("checkpoints", "missing columns %s" % ", ".join(missing))
            return
        key = [c for c, (ty, pk) in cols.items() if pk][0]
        q = "SELECT %s, %s FROM checkpoints ORDER BY chain_seq" % (qi(key), ", ".join(need))
        last_epoch, last_head = 0, 0
        for r in con.execute(q):
            rid = r[0]
            v = dict(zip(need, r[1:]))
            where = "checkpoints row %s" % rid
            self.ncheckpoints += 1
            if v["epoch"] != last_epoch + 1:
                self.bad(where, "epoch %s follows epoch %s" % (v["epoch"], last_epoch))
            last_epoch = v["epoch"] if isinstance(v["epoch"], int) else last_epoch + 1
            hs = v["head_seq"]
            if not isinstance(hs, int) or not isinstance(v["chain_seq"], int):
                self.bad(where, "head_seq or chain_seq is not an integer")
                continue
            if hs < last_head:
                self.bad(where, "head %s goes back before the previous checkpoint's %s" %
                         (hs, last_head))
            if not 1 <= hs < v["chain_seq"]:
                self.bad(where, "head %s is not before the checkpoint's own record %s" %
                         (hs, v["chain_seq"]))
            last_head = hs
            hh, pk, sig = unhex(v["head_hash"]), unhex(v["pubkey"]), unhex(v["signature"])
            if hh is None or pk is None or sig is None or len(hh) != 32 or len(pk) != 32 \
                    or len(sig) != 64:
                self.bad(where, "head_hash, pubkey or signature is not hex of the right "
                         "length")
                continue
            rec = self.chain.get(hs)
            if rec is None or rec["hash"] != hh:
                self.bad(where, "signed head hash differs from the chain's hash at record %s"
                         % hs)
            try:
                msg = checkpoint_message(v["station"], v["epoch"], hs, hh, v["time"], pk)
            except (EncodeError, TypeError, struct.error) as e:
                self.bad(where, "cannot encode the signed message: %s" % e)
                continue
            if not any(ed25519_verify(k, sig, msg) for k in self.pubkeys):
                self.bad(where, "signature does not verify with the given public key")
            sid = v["short_id"].decode(errors="replace") if isinstance(
                v["short_id"], bytes) else v["short_id"]
            if sid != sha256(msg).hex()[:12]:
                self.bad(where, "short id %s is not the message's %s" %
                         (sid, sha256(msg).hex()[:12]))
            self.signed_to = max(self.signed_to, hs)


    def check_steps(self, con):
        """Every certificate step: the statement its columns state, signed by the key stored
        with it (docs/records.md "Certificate steps")."""
        if self.columns(con, "certificate_steps") is None:
            return
        q = ("SELECT id, station, certificate, step, person, time, why, replaces, statement, "
             "signature, sign_pk FROM certificate_steps ORDER BY id")
        for r in con.execute(q):
            vals = [None if v is None else v.decode(errors="replace") for v in r[1:]]
            station, number, step, person, time, why, replaces, statement, sig, pk = vals
            where = "certificate_steps row %s" % r[0]
            if statement != step_statement(station, number, step, person, time, why, replaces):
                self.bad(where, "the signed statement is not the one its columns state")
            k, g = unhex(pk), unhex(sig)
            if k is None or g is None or len(k) != 32 or len(g) != 64 or \
                    not ed25519_verify(k, g, (statement or "").encode()):
                self.bad(where, "the signature does not verify under the key stored with it")

def main(argv):
    args, keys = [], []
    it = iter(argv)
    for a in it:
        if a == "--pubkey":
            keys.append(next(it, None))
        else:
            args.append(a)
    if len(args) != 1 or not keys or None in keys:
        sys.stderr.write("usage: chain_verify.py DB --pubkey FILE [--pubkey FILE...]\n")
        return 2
    try:
        pubkeys = [read_pubkey(k) for k in keys]
    except (OSError, ValueError) as e:
        sys.stderr.write("chain_verify: %s\n" % e)
        return 2
    v = Verifier(args[0], pubkeys)
    try:
        rows = v.run()
    except sqlite3.Error as e:
        print("%s: cannot read the database: %s" % (args[0], e))
        return 5
    if v.problems:
        for p in v.problems:
            print(p)
        return 1
    print("ok %d records (%d rows, %d checkpoints, signed to record %d)" %
          (len(v.chain), rows, v.ncheckpoints, v.signed_to))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
