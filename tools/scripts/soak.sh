#!/usr/bin/env bash
# The soak: batches run continuously on all three simulated rigs while the simulators inject
# random faults (lost and late replies, exceptions, bad checksums, a TCP bench that drops
# off the network every few minutes), for SOAK_MINUTES (default 30; SOAK_SECONDS overrides).
# metrod's resident memory, open file descriptors and threads are sampled every
# SOAK_SAMPLE_S seconds.  Afterwards:
#   - memory: runs of 10 minutes or more: RSS of the last third within SOAK_RSS_PCT % (default
#     10) of the first third after warm-up (the first fifth); the 60-s soak of `make check`
#     (runs up to 90 s): RSS at the end within SOAK_SHORT_RSS_PCT % (default 40) of RSS at the
#     end of warm-up (see the measurement below); runs in between fill memory by design for
#     minutes and are reported, not judged.  No more descriptors or threads than during warm-up;
#   - every run is done, or ended `error` with a reason on the list below of what the injected
#     faults can cause (an unlisted reason fails the soak, naming the run); no run is left
#     running, aborted or incomplete (there are no crashes to explain one);
#   - metrod exits 0 on the final SIGTERM, within 60 s;
#   - the record store passes PRAGMA integrity_check and `metroctl audit verify --pubkey`.
# Figures go to BUILD/soak/report.md and samples to BUILD/soak/samples.csv.
#
#   tools/scripts/soak.sh            the soak (make soak)
#   tools/scripts/soak.sh kill [N]   the kill -9 campaign of the records (make kill-campaign): N kills
#                            (default 200) of metrod during simulated runs, then integrity,
#                            audit, recovery and seq checks (tests/integration/test_kill.sh)
set -u
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
export METRO_BUILD=$B
if [ "${1:-}" = kill ]; then
	KILLS=${2:-${KILLS:-200}} exec bash tests/integration/test_kill.sh
fi
SECS=${SOAK_SECONDS:-$((${SOAK_MINUTES:-30} * 60))}
SAMPLE=${SOAK_SAMPLE_S:-10}
RSS_PCT=${SOAK_RSS_PCT:-10}
SHORT_RSS_PCT=${SOAK_SHORT_RSS_PCT:-40}
SEED=${SOAK_SEED:-$$}
OUT=$B/soak
rm -rf "$OUT"
mkdir -p "$OUT"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "soak: $*" >&2; exit 1; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CTL=tcp://127.0.0.1:$(port)
PUB=tcp://127.0.0.1:$(port)
WPORT=$(port)
M() { "$B/metroctl" -e "$CTL" "$@"; }

sim() {
	local name=$1; shift
	"$B/metrosim" "$@" >"$TMP/$name.out" 2>"$OUT/$name.err" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$TMP/$name.out" ] && return 0; sleep 0.05; done
	die "metrosim $name did not start: $(cat "$OUT/$name.err")"
}
echo "soak: ${SECS} s, samples every ${SAMPLE} s, seed $SEED, output $OUT"
sim water --rig flow-bench --modbus-tcp 127.0.0.1:$WPORT --meters config/sim/water-meters.yaml \
	--time-scale 120 --seed "$SEED" \
	--faults noreply=0.003,late=0.01:150,exception=0.0002:4,disconnect=150:3:0
sim elec --rig electricity-bench --modbus-rtu --pty-link "$TMP/elec.pty" --positions 24 --baud 115200 \
	--meters config/sim/electricity-meters.yaml --time-scale 120 --seed "$((SEED + 1))" \
	--faults noreply=0.003,crc=0.003,late=0.01:100
sim gas --rig bell-prover --serial-line --pty-link "$TMP/gas.pty" --positions 6 \
	--meters config/sim/gas-meters.yaml --time-scale 120 --seed "$((SEED + 2))" \
	--faults noreply=0.003,crc=0.005
# The demo configuration with this soak's ports, store and devices.
sed -e "s|tcp://127.0.0.1:7710|$CTL|; s|tcp://127.0.0.1:7711|$PUB|" \
	-e "s|path: ../var/demo/records.db|path: $TMP/records.db|" \
	-e "s|../var/demo/elec-1.pty|$TMP/elec.pty|; s|../var/demo/gas-1.pty|$TMP/gas.pty|" \
	-e "s|port: 7720|port: $WPORT|; s|- ../procedures|- $PWD/procedures|" \
	-e "s|profile: profiles/|profile: $PWD/config/profiles/|" config/demo.yaml >"$TMP/metrod.yaml"
grep -q "$TMP/records.db" "$TMP/metrod.yaml" && grep -q "$WPORT" "$TMP/metrod.yaml" ||
	die "config/demo.yaml changed shape: cannot derive the soak configuration"
"$B/metrod" -c "$TMP/metrod.yaml" 2>"$OUT/metrod.log" &
MPID=$!
PIDS+=($MPID)
for _ in $(seq 100); do M -t 200 ping >/dev/null 2>&1 && break; sleep 0.1; done
M ping >/dev/null || die "metrod does not answer"

declare -A batch=([water-1]=water [elec-1]=electricity [gas-1]=gas)
echo "t_s,rss_kb,fds,threads,runs" >"$OUT/samples.csv"
t0=$SECONDS next=0 started=0
while [ $((SECONDS - t0)) -lt "$SECS" ]; do
	if ! rigs=$(M --json rigs 2>/dev/null); then
		kill -0 $MPID 2>/dev/null || die "metrod died: $(tail -n 5 "$OUT/metrod.log")"
		fails=$((${fails:-0} + 1))
		[ "$fails" -lt 10 ] || die "metrod stopped answering: $(tail -n 5 "$OUT/metrod.log")"
		sleep 1
		continue
	fi
	fails=0
	for r in water-1 elec-1 gas-1; do
		st=$(echo "$rigs" | /usr/bin/python3 -c "import json,sys; r=[x for x in json.load(sys.stdin)['rigs'] if x['id']=='$r'][0]; print(r['state'], r.get('connected'), r.get('prompt') or '')")
		set -- $st
		if [ "$1" = idle ] && [ "$2" = True ]; then
			M --json start "config/batches/${batch[$r]}-initial.yaml" >/dev/null 2>&1 && started=$((started + 1))
		elif [ -n "${3:-}" ]; then
			M input "$r" "$3" pass --operator "soak" >/dev/null 2>&1
		fi
	done
	if [ $((SECONDS - t0)) -ge $next ]; then
		rss=$(awk '/^VmRSS:/ {print $2}' /proc/$MPID/status)
		thr=$(awk '/^Threads:/ {print $2}' /proc/$MPID/status)
		fds=$(ls /proc/$MPID/fd | wc -l)
		echo "$((SECONDS - t0)),$rss,$fds,$thr,$started" >>"$OUT/samples.csv"
		next=$((next + SAMPLE))
	fi
	sleep 0.5
done
# Let the runs in progress end (bounded), then stop cleanly.
busy=unknown
for _ in $(seq 240); do
	busy=$(M --json rigs 2>/dev/null | /usr/bin/python3 -c "import json,sys; print(sum(1 for x in json.load(sys.stdin)['rigs'] if x['state'] not in ('idle','fault','disconnected')))")
	[ "$busy" = 0 ] && break
	rigs=$(M --json rigs 2>/dev/null)
	for r in water-1 elec-1 gas-1; do
		p=$(echo "$rigs" | /usr/bin/python3 -c "import json,sys; r=[x for x in json.load(sys.stdin)['rigs'] if x['id']=='$r'][0]; print(r.get('prompt') or '')")
		[ -n "$p" ] && M input "$r" "$p" pass --operator soak >/dev/null 2>&1
	done
	sleep 1
done
kill -TERM $MPID
for _ in $(seq 600); do kill -0 $MPID 2>/dev/null || break; sleep 0.1; done
if kill -0 $MPID 2>/dev/null; then
	echo "soak: metrod still running 60 s after SIGTERM; killed"
	kill -9 $MPID
fi
wait $MPID
exit_status=$?
echo "soak: metrod exited $exit_status"

sqlite3 "$TMP/records.db" 'PRAGMA integrity_check;' >"$OUT/integrity.txt"
"$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >"$OUT/verify.txt" 2>&1
verify=$?
/usr/bin/python3 - "$OUT" "$TMP/records.db" "$RSS_PCT" "$verify" "$SECS" "$SEED" "$SHORT_RSS_PCT" "$exit_status" "$busy" <<'PY'
import csv, re, sqlite3, sys
out, db, rss_pct, verify, secs, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
short_pct, exit_status, busy = float(sys.argv[7]), int(sys.argv[8]), sys.argv[9]

# What the injected faults can end a run with, rig by rig: the engine's reason (a rig fault,
# daemon/engine.c) for the faults this script gives each simulator.  Anything else ending a
# run is a finding: the soak fails and names the run.
# "reading CH: " or "writing CH = V: ", then the channel and its profile line (drivers/device.c),
# then the device's error
DEV = r"^(reading|writing) \S+( = \S+)?: (channel \S+ \(\S+:\d+\): )?"


def stalled_in_band(m):
    """The engine's own limit (at least 60 s of rig time, daemon/engine.c) passed with the
    flow within its band: the time ran out, not the flow; a stalled read took it.  (The soak
    cannot tell that from a stabilisation that never counts as held; the fault-free engine
    tests can: test_engine_water.)"""
    band, sp, last = float(m["band"]), float(m["sp"]), float(m["last"])
    return int(m["lim"]) >= 60 and abs(last - sp) <= band / 100 * abs(sp) * (1 + 1e-6)


ALLOWED = {
    "water-1": [  # Modbus TCP: noreply=0.003, late=0.01:150, exception=0.0002:4, disconnect=150:3:0
        (DEV + r"modbus-tcp \S+ unit \d+: (read|write) \w+ \d+\.\.\d+: Slave device or server failure$",
         "exception 4: the device's own failure, which the device layer does not retry"),
        (DEV + r"modbus-tcp \S+ unit \d+: (connect|(read|write) \w+ \d+\.\.\d+): "
         r"(Connection refused|Connection reset by peer|Broken pipe|Connection timed out)$",
         "disconnect: the bench off the network for 3 s (or three lost replies in a row)"),
        (r"^(?P<ch>\S+) did not stabilise within ±(?P<band>[0-9.e+-]+) % of (?P<sp>[0-9.e+-]+)"
         r"( and inside the window)? in (?P<lim>\d+) s \(last (?P<last>[0-9.e+-]+)\)$",
         "a lost or late reply and the reconnect after it: 0.5 s real per try is 60 s of rig time "
         "at time scale 120, the whole stabilisation limit; only with the last value in the band",
         stalled_in_band),
    ],
    "elec-1": [  # Modbus RTU: noreply=0.003, crc=0.003, late=0.01:100 (within the timeout)
        (DEV + r"modbus-rtu .* unit \d+: (read|write) \w+ \d+\.\.\d+: (Connection timed out|Invalid CRC)$",
         "three lost or spoilt replies in a row"),
    ],
    "gas-1": [  # serial line: noreply=0.003, crc=0.005
        (DEV + r"serial-line .*: no complete reply within \d+ ms \(got '.*'\)$",
         "three lost replies in a row"),
        (DEV + r"serial-line .*: reply '.*' at byte \d+: checksum mismatch: .*$",
         "three bad checksums in a row"),
        (r"^\S+ interrupted \d+ times$",
         "lost replies stall the flow reads; a disturbed point is run again, at most 5 times "
         "(docs/reliability.md)"),
    ],
}


def explained(rig, reason):
    # the device layer's additions after the driver's text: how many channels a refused read
    # asked for, and the hint at the usual cause
    reason = re.sub(r"( \(\d+ channels\))?( — hint: .*)?$", "", reason or "")
    for rule in ALLOWED.get(rig, []):
        m = re.match(rule[0], reason or "")
        if m and (len(rule) < 3 or rule[2](m)):
            return True
    return False


rows = [dict((k, int(v)) for k, v in r.items()) for r in csv.DictReader(open(out + "/samples.csv"))]
checks = []  # (name, problem or None)


def check(name, problem):
    checks.append((name, problem))


check("enough samples to judge growth", None if len(rows) >= 6 else "only %d samples" % len(rows))
warm = max(3, len(rows) // 5)          # the first fifth is warm-up
after = rows[warm:] or rows[-1:]
third = max(1, len(after) // 3)
first, last = after[:third], after[-third:]
mean = lambda xs: sum(xs) / len(xs)
rss_first, rss_last = mean([r["rss_kb"] for r in first]), mean([r["rss_kb"] for r in last])
growth = 100.0 * (rss_last - rss_first) / rss_first
# The short run's figure: the end (mean of the last 3 samples) against the end of warm-up
# (mean of its last 3 samples).
rss_warm, rss_end = mean([r["rss_kb"] for r in rows[warm - 3:warm]]), mean([r["rss_kb"] for r in rows[-3:]])
short_growth = 100.0 * (rss_end - rss_warm) / rss_warm
# Memory fills up for minutes by design: the newest 16 runs in full, the summaries of 64,
# SQLite's page cache.  Runs of 10 minutes or more compare the last third with the first
# third after warm-up.  The 60-s soak of `make check` is still filling the 16 full runs
# (about 50 kB/s, linearly), so it judges the growth from the end of warm-up to the end
# against a bound measured on this machine (2026-12-03, release build, 2-s samples, seeds 1-5
# and 7): +21.9, +22.8, +23.1, +24.7, +25.7, +30.0 % (2.6-3.5 MB on a warm RSS of
# 11.7-11.9 MB).  The limit, 40 %, leaves 10 points above the highest: a leak fails it when
# it adds about 1.2 MB (on the highest measured growth) to 2.1 MB (on the lowest) in the 48 s
# judged.  Tried: 4 KiB leaked per reading published (about 3.9 MB) failed at +55.7 %; a
# copy of each reading leaked (about 1.4 MB) passed at +36.2 %.  Smaller leaks, and the
# retention of too many runs (fewer than 16 runs end in 60 s), are the long soak's to find.
# Runs between 90 s and 10 minutes are filling further than that measurement: reported only.
if secs >= 600:
    judged = "last third vs first third, limit %g %%" % rss_pct
    check("RSS of the last third within %g %% of the first third after warm-up" % rss_pct,
          None if growth <= rss_pct else "grew %.1f %% (%.0f -> %.0f kB)" % (growth, rss_first, rss_last))
elif secs <= 90:
    judged = "end vs end of warm-up, limit %g %%" % short_pct
    check("RSS at the end within %g %% of the end of warm-up" % short_pct,
          None if short_growth <= short_pct else "grew %.1f %% (%.0f -> %.0f kB)" % (short_growth, rss_warm, rss_end))
else:
    judged = ""
for k in ("fds", "threads"):
    before, later = max(r[k] for r in rows[:warm]), max(r[k] for r in after)
    check("no more %s after warm-up than during it" % k,
          None if later <= before else "%d -> %d" % (before, later))
c = sqlite3.connect(db)
states = dict(c.execute("select state, count(*) from runs group by state").fetchall())
check("runs completed", None if states.get("done", 0) > 0 else "none")
bad = []
for run, rig, state, reason in c.execute("select id, rig, state, end_reason from runs where state <> 'done' order by id"):
    if state != "error":
        bad.append("run %d on %s ended %s (reason %r)" % (run, rig, state, reason))
    elif not explained(rig, reason):
        bad.append("run %d on %s ended error with a reason no injected fault explains: %r" % (run, rig, reason))
check("every run done, or ended error by a fault the injected faults explain",
      "; ".join(bad[:5]) + ("; and %d more" % (len(bad) - 5) if len(bad) > 5 else "") or None)
check("every run ended before the stop",
      None if busy == "0" else "rigs still busy after 240 s of waiting: %s" % (busy or "metrod did not answer"))
check("metrod exits 0 on SIGTERM", None if exit_status == 0 else "exit status %d" % exit_status)
reasons = c.execute("select end_reason, count(*) from runs where state <> 'done' group by end_reason").fetchall()
verdicts = dict(c.execute("select verdict, count(*) from positions group by verdict").fetchall())
integrity = open(out + "/integrity.txt").read().strip()
check("integrity_check", None if integrity == "ok" else integrity)
check("audit verify with the station's public key",
      None if verify == 0 else open(out + "/verify.txt").read().strip()[-300:])
problems = ["%s: %s" % (n, p) for n, p in checks if p]
with open(out + "/report.md", "w") as f:
    f.write("| figure | value |\n|---|---|\n")
    f.write("| duration | %s s (seed %s) |\n" % (secs, seed))
    f.write("| samples | %d (warm-up %d) |\n" % (len(rows), warm))
    f.write("| RSS after warm-up, first third → last third | %.0f → %.0f kB (%+.1f %%) |\n" % (rss_first, rss_last, growth))
    f.write("| RSS end of warm-up → end | %.0f → %.0f kB (%+.1f %%) |\n" % (rss_warm, rss_end, short_growth))
    f.write("| memory judged | %s |\n" % (judged or "no: between 90 s and 10 minutes memory is still filling"))
    f.write("| RSS min / max | %d / %d kB |\n" % (min(r["rss_kb"] for r in rows), max(r["rss_kb"] for r in rows)))
    f.write("| descriptors warm-up max / later max | %d / %d |\n" % (max(r["fds"] for r in rows[:warm]), max(r["fds"] for r in after)))
    f.write("| threads warm-up max / later max | %d / %d |\n" % (max(r["threads"] for r in rows[:warm]), max(r["threads"] for r in after)))
    f.write("| runs by state | %s |\n" % ", ".join("%s %d" % kv for kv in sorted(states.items())))
    f.write("| end reasons of the others | %s |\n" % ("; ".join("%s ×%d" % r for r in reasons) or "none"))
    f.write("| meter verdicts | %s |\n" % ", ".join("%s %d" % (k or "none", v) for k, v in sorted(verdicts.items(), key=lambda kv: str(kv[0]))))
    f.write("| metrod's exit status on SIGTERM | %d |\n" % exit_status)
    f.write("| integrity_check, audit verify | %s, %s |\n" % (integrity, "ok" if verify == 0 else "FAILED"))
    f.write("| result | %s |\n" % ("held" if not problems else "FAILED: " + "; ".join(problems)))
print(open(out + "/report.md").read())
for name, problem in checks:
    print("ok   %s" % name if not problem else "FAIL %s: %s" % (name, problem))
print("%d passed, %d failed" % (sum(1 for _, p in checks if not p), len(problems)))
sys.exit(1 if problems else 0)
PY
