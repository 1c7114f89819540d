# need.sh — sourced by shell tests: a test that needs a program or a Python module from a Debian
# package says so here.  When it is missing the test skips (exit 77) naming the package; under
# CI=true it fails instead, since `make deps` installs every package a test needs (tests/run.sh
# also counts every skip as a failure under CI).
#   need_cmd COMMAND PACKAGE
#   need_py MODULE PACKAGE      (imported by /usr/bin/python3, Debian's interpreter)
#   need_root WHAT              (e.g. mounting a tmpfs; such a test is on tests/skips.allow)
need_missing() { # PACKAGE WHAT
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $2 is missing: install the Debian package $1 (\`make deps\` does)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "SKIP: $2 is missing: install the Debian package $1 (\`make deps\` does)"
	echo "0 passed, 0 failed"
	exit 77
}
need_root() {
	[ "$(id -u)" = 0 ] && return 0
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $1 needs root (CI runs as root)"; echo "0 passed, 1 failed"; exit 1
	fi
	echo "SKIP: $1 needs root"; echo "0 passed, 0 failed"; exit 77
}
need_cmd() { command -v "$1" >/dev/null 2>&1 || need_missing "$2" "the command $1"; }
need_py() {
	local err
	err=$(/usr/bin/python3 -c "import $1" 2>&1) || need_missing "$2" "the Python module $1 ($(tail -n1 <<<"$err"))"
}
