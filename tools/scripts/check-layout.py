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
  tools/*         lib/*, drivers, daemon

and no two folders may include each other, directly or through others (no cycle).
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
    "tools/metroctl": LIB | DRIVERS | {"daemon", "daemon/engine"},
    "tools/metrosim": LIB | DRIVERS | {"daemon", "daemon/engine"},
}
MAX_FILE_LINES = 1500
MAX_FUNC_LINES = 150
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def resolve(room, name):
    for d in [room] + SRC_DIRS:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def main():
    problems = []
    edges = {}  # room -> {room: "file:line"}
    nfiles = nincl = 0
    for room in ROOMS:
        if not os.path.isdir(room):
            problems.append("%s: the room is missing" % room)
            continue
        for name in sorted(os.listdir(room)):
            if not name.endswith((".c", ".h")):
                continue
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
    for p in problems:
        print(p)
    if problems:
        print("layout: %d problem(s)" % len(problems))
        return 1
    print("layout: ok (%d files, %d includes across %d rooms, no cycle)" % (nfiles, nincl, len(ROOMS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
