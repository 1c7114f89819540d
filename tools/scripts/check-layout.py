#!/usr/bin/python3
"""check-layout.py — the rooms of the house and who may use whom (docs/architecture.md).

Every `#include "..."` of every C file in the rooms below is resolved to the file it names
(the including file's own folder first, then the include path the Makefile gives: SRC_DIRS)
and judged against the rules:

  lib/base        nothing of ours
  lib/metrology   lib/base
  lib/procedure   lib/base, lib/metrology
  lib/records     lib/base, lib/metrology, lib/procedure
  drivers         lib/*, drivers (drivers/modbus, drivers/serial use drivers; not the reverse)
  daemon/engine   lib/*, drivers
  daemon          lib/*, drivers, daemon/engine
  tools/metroctl  lib/*, drivers (it talks to the daemon over the control protocol only)
  tools/metrosim  lib/*, drivers, daemon

and no two folders may include each other, directly or through others (no cycle).

Inside a folder, the same for its files.  A file's unit is its name without the extension:
foo.c, foo.h and foo_int.h (foo's private header) are the unit foo; a header without a .c of
its name is a unit of its own (types only, like metroctl_cmd.h).  A unit depends on the units
whose headers it includes, and no two units of a folder may depend on each other, directly
or through others.  For that to mean something, a header declares only what the file of its
name defines: a function or extern object that a header declares and another .c file of the
folder defines is a problem (one header per file), except for the facades listed in FACADES,
a header over a unit split into several files (store.h over store.c, store_runs.c, ...).
Cycles among the files behind one facade are not seen; FACADES lists those files so that no
new one joins them unnoticed.

<sqlite3.h> is included only by lib/records: its .c files and its private *_int.h headers.
The record schema is known in one place; every other program reads records through the typed
API of lib/records (store.h, store_report.h).

Also: no .c file over 1,500 lines and no function over 150 (a function's body runs from a '{'
alone at the start of a line to the next '}' alone at the start of a line, as clang-format
writes them).  Prints every violation with file:line and exits 1, or prints a one-line
summary and exits 0.  Run from the project root.
"""
import os
import re
import sys

SRC_DIRS = ["lib/base", "lib/metrology", "lib/procedure", "lib/records", "drivers",
            "drivers/modbus", "drivers/serial", "daemon", "daemon/engine"]
ROOMS = SRC_DIRS + ["drivers/plugins", "tools/metroctl", "tools/metrosim"]
LIB = {"lib/base", "lib/metrology", "lib/procedure", "lib/records"}
DRIVERS = {"drivers", "drivers/modbus", "drivers/serial"}
MAY_USE = {
    "lib/base": set(),
    "lib/metrology": {"lib/base"},
    "lib/procedure": {"lib/base", "lib/metrology"},
    "lib/records": {"lib/base", "lib/metrology", "lib/procedure"},
    "drivers": LIB,
    "drivers/modbus": LIB | {"drivers"},
    "drivers/serial": LIB | {"drivers"},
    "drivers/plugins": LIB | {"drivers"},
    "daemon": LIB | DRIVERS | {"daemon/engine"},
    "daemon/engine": LIB | DRIVERS,
    "tools/metroctl": LIB | DRIVERS,
    "tools/metrosim": LIB | DRIVERS | {"daemon", "daemon/engine"},
}
# Headers over a unit split into several files: the other files whose functions and objects
# they may declare, besides the file of their own name.
FACADES = {
    "lib/records/store.h": {"store_registry.c", "store_runs.c", "store_query.c", "store_state.c",
                            "store_clock.c", "store_certs.c", "store_commission.c"},
    "lib/records/store_int.h": {"store_registry.c", "store_state.c", "store_clock.c",
                                "store_runs.c"},
    "lib/records/audit.h": {"audit_verify.c"},
    "drivers/driver.h": {"registry.c"},
    "daemon/server.h": {"publish.c", "control.c"},
    "daemon/config.h": {"config_endpoints.c", "config_standards.c", "config_rigs.c",
                        "config_people.c"},
    "daemon/config_int.h": {"config_endpoints.c", "config_standards.c", "config_rigs.c",
                            "config_people.c"},
    "daemon/engine/engine.h": {"judge.c"},
    "daemon/engine/engine_int.h": {"common.c", "flow.c", "judge.c", "electricity.c", "measure.c",
                                   "plausible.c", "commission.c"},
    "tools/metrosim/sim_model.h": {"sim_flow.c", "sim_elec.c", "sim_bell.c"},  # ops tables
}
# System headers that only one room may include (in its .c files and *_int.h headers).
PRIVATE_SYSTEM = {"sqlite3.h": "lib/records"}
MAX_FILE_LINES = 1500
MAX_FUNC_LINES = 150
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>')


def resolve(room, name):
    for d in [room] + SRC_DIRS:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def unit(path):
    """foo.c, foo.h and foo_int.h -> "dir/foo"; a header without a .c of its name -> itself."""
    d, name = os.path.split(path)
    base, ext = os.path.splitext(name)
    if ext == ".c":
        return os.path.join(d, base)
    for b in (base, base[:-4] if base.endswith("_int") else None):
        if b and os.path.isfile(os.path.join(d, b + ".c")):
            return os.path.join(d, b)
    return path


def file_scope(text):
    """The declarations and definitions at file scope of a C file: (line, text, kind), kind ';'
    for a declaration and '{' for the head of a definition (its body left out).  Comments,
    string and character literals and preprocessor lines are blanked out first."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    text = re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', blank, text,
                  flags=re.S)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", blank, text, flags=re.M)
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                out.append((text.count("\n", 0, start) + 1, text[start:i], "{"))
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif ch == ";" and depth == 0:
            out.append((text.count("\n", 0, start) + 1, text[start:i], ";"))
            start = i + 1
    return [(line + s[: len(s) - len(s.lstrip())].count("\n"), " ".join(s.split()), k)
            for line, s, k in out if s.strip()]


def declared_name(stmt):
    """The function or object a file-scope statement declares or defines, or None (types,
    typedefs, statics, the tail of a struct or enum definition)."""
    if re.match(r"(static|typedef)\b", stmt) or re.match(r"(struct|enum|union)\s+\w+$", stmt):
        return None
    if re.match(r"(struct|enum|union)\s*\w*$", stmt) or not re.match(r"[A-Za-z_]", stmt):
        return None
    head = stmt.split("=")[0]
    m = re.search(r"(\w+)\s*\(", head)
    if m and "(" not in head[: m.start()]:
        return m.group(1)
    m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", head.strip())
    return m.group(1) if m and " " in head.strip() else None


def file_rules(room, names, problems):
    """Cycles between the units of a room, and headers that declare another file's names."""
    defined = {}  # name -> .c file of the room that defines it
    declared = []  # (header, line, name)
    for name in names:
        path = os.path.join(room, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line, stmt, kind in file_scope(text):
            n = declared_name(stmt)
            if not n:
                continue
            if name.endswith(".c") and (kind == "{" or not stmt.startswith("extern")):
                defined.setdefault(n, name)
            elif name.endswith(".h") and kind == ";":
                declared.append((name, line, n))
    for header, line, n in declared:
        owner = defined.get(n)
        if owner is None:
            continue
        own = os.path.basename(unit(os.path.join(room, header))) + ".c"
        if owner != own and owner not in FACADES.get(os.path.join(room, header), ()):
            problems.append("%s:%d: declares %s, which %s defines (a header declares what the "
                            "file of its name defines)" % (os.path.join(room, header), line, n,
                                                            os.path.join(room, owner)))


def unit_cycles(edges, problems):
    """Report each cycle of a unit graph {unit: {unit: "file:line"}} once."""
    state, seen = {}, set()

    def visit(u, stack):
        state[u] = 1
        for t, where in sorted(edges.get(u, {}).items()):
            if state.get(t) == 1:
                cyc = stack[stack.index(t):]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    problems.append("include cycle between files: %s (first edge at %s)"
                                    % (" -> ".join(cyc + [t]), where))
            elif not state.get(t):
                visit(t, stack + [t])
        state[u] = 2

    for u in sorted(edges):
        if not state.get(u):
            visit(u, [u])


def main():
    problems = []
    edges = {}  # room -> {room: "file:line"}
    units = {}  # unit -> {unit: "file:line"}, inside a room
    nfiles = nincl = 0
    for room in ROOMS:
        if not os.path.isdir(room):
            problems.append("%s: the room is missing" % room)
            continue
        names = sorted(n for n in os.listdir(room) if n.endswith((".c", ".h")))
        file_rules(room, names, problems)
        for name in names:
            path = os.path.join(room, name)
            nfiles += 1
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            if name.endswith(".c") and len(lines) > MAX_FILE_LINES:
                problems.append("%s: %d lines (at most %d)" % (path, len(lines), MAX_FILE_LINES))
            start = None
            for no, line in enumerate(lines, 1):
                if line.rstrip("\n") == "{":
                    start = no
                elif line.rstrip("\n") == "}" and start is not None:
                    if no - start + 1 > MAX_FUNC_LINES:
                        problems.append("%s:%d: a function of %d lines (at most %d)"
                                        % (path, start, no - start + 1, MAX_FUNC_LINES))
                    start = None
            for no, line in enumerate(lines, 1):
                m = SYSTEM_INCLUDE.match(line)
                owner = PRIVATE_SYSTEM.get(m.group(1)) if m else None
                if owner and (room != owner or (name.endswith(".h") and
                                                not name.endswith("_int.h"))):
                    problems.append("%s:%d: <%s> is for %s only (its .c files and *_int.h "
                                    "headers)" % (path, no, m.group(1), owner))
                m = INCLUDE.match(line)
                if not m:
                    continue
                nincl += 1
                target = resolve(room, m.group(1))
                where = "%s:%d" % (path, no)
                if target is None:
                    problems.append("%s: \"%s\" is in no room" % (where, m.group(1)))
                    continue
                troom = os.path.dirname(target)
                if troom == room:
                    if unit(path) != unit(target):
                        units.setdefault(unit(path), {}).setdefault(unit(target), where)
                    continue
                if troom not in MAY_USE[room]:
                    problems.append("%s: %s may not include %s (%s)" % (where, room, target, troom))
                edges.setdefault(room, {}).setdefault(troom, where)
    # cycles between folders: a depth-first search over the room graph
    state = {}

    def visit(r, stack):
        state[r] = 1
        for t, where in edges.get(r, {}).items():
            if state.get(t) == 1:
                cyc = stack[stack.index(t):] + [t]
                problems.append("include cycle: %s (first edge at %s)" % (" -> ".join(cyc), where))
            elif not state.get(t):
                visit(t, stack + [t])
        state[r] = 2

    for r in ROOMS:
        if not state.get(r):
            visit(r, [r])
    unit_cycles(units, problems)
    for p in problems:
        print(p)
    if problems:
        print("layout: %d problem(s)" % len(problems))
        return 1
    print("layout: ok (%d files, %d includes across %d rooms, no cycle between folders or "
          "between files)" % (nfiles, nincl, len(ROOMS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
