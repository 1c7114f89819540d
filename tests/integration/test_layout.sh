#!/usr/bin/env bash
# The rooms of the house (docs/architecture.md): tools/scripts/check-layout.py resolves every
# include of every C file and checks who may use whom, that no two folders include each other
# and no two files of a folder (their units: foo.c, foo.h, foo_int.h), that a header declares
# only what the file of its name defines, that only lib/records includes <sqlite3.h>, and that
# no file is over 1,500 lines and no function over 150.  The tree must pass; copies of it with
# a forbidden include (lib/ using daemon/, drivers/ using daemon/), an include cycle between
# two files of a folder, a header declaring another file's function, <sqlite3.h> in metroctl or
# in a public header of lib/records, a function of 152 lines or a file of over 1,500 must
# fail, naming the file and line.
set -u
pass=0 fail=0
check() { if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1: got '$2', want '$3'"; fi; }
CHECK=$PWD/tools/scripts/check-layout.py
out=$(/usr/bin/python3 "$CHECK" 2>&1)
check "the tree keeps the layout rules" "$?" "0"
echo "$out" | sed 's/^/  /'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy() { rm -rf "$tmp/t"; mkdir "$tmp/t"; cp -r lib drivers daemon "$tmp/t/"; mkdir -p "$tmp/t/tools"; cp -r tools/metroctl tools/metrosim "$tmp/t/tools/"; }
judge() { # NAME FILE LINE-TO-ADD WANT-IN-OUTPUT
	copy
	printf '%s\n' "$3" >>"$tmp/t/$2"
	out=$(cd "$tmp/t" && /usr/bin/python3 "$CHECK" 2>&1)
	check "$1: refused" "$?" "1"
	check "$1: named" "$(grep -c -- "$4" <<<"$out" | awk '{ print ($1 > 0) }')" "1"
}
judge "lib/base using daemon" lib/base/util.h '#include "server.h"' "lib/base/util.h:.*may not include daemon/server.h"
judge "drivers using daemon" drivers/device.c '#include "config.h"' "drivers/device.c:.*may not include daemon/config.h"
judge "lib/records using drivers" lib/records/store.c '#include "driver.h"' "lib/records/store.c:.*may not include drivers/driver.h"
judge "lib/procedure using lib/records" lib/procedure/batch.c '#include "store.h"' "lib/procedure/batch.c:.*may not include lib/records/store.h"
judge "an unknown header" daemon/rig.c '#include "nowhere.h"' 'daemon/rig.c:.*"nowhere.h" is in no room'
judge "a file cycle in tools/metroctl" tools/metroctl/metroctl_report_pdf.h '#include "metroctl_report.h"' \
	"include cycle between files: tools/metroctl/metroctl_report -> tools/metroctl/metroctl_report_pdf -> tools/metroctl/metroctl_report (first edge at tools/metroctl/metroctl_report_pdf.h:"
judge "a file cycle in lib/records" lib/records/audit_int.h '#include "store_report.h"' \
	"include cycle between files: lib/records/audit -> lib/records/store_report -> lib/records/audit"
judge "a header declaring another file's function" tools/metroctl/metroctl_client.h \
	'int metroctl_run(int argc, char **argv, const struct metroctl_opts *o);' \
	"tools/metroctl/metroctl_client.h:[0-9]*: declares metroctl_run, which tools/metroctl/metroctl_run.c defines"
judge "SQL in metroctl" tools/metroctl/metroctl_report.c '#include <sqlite3.h>' \
	"tools/metroctl/metroctl_report.c:[0-9]*: <sqlite3.h> is for lib/records only"
judge "SQLite in a public header of lib/records" lib/records/store_report.h '#include <sqlite3.h>' \
	"lib/records/store_report.h:[0-9]*: <sqlite3.h> is for lib/records only"
long_fn=$(printf 'static void too_long(void)\n{\n'; for _ in $(seq 150); do printf '\t(void)0;\n'; done; printf '}\n')
judge "a function over 150 lines" daemon/runs.c "$long_fn" "daemon/runs.c:.*a function of 152 lines"
judge "a file over 1,500 lines" lib/base/util.c "$(for _ in $(seq 1500); do echo '/* */'; done)" "lib/base/util.c: .* lines (at most 1500)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
