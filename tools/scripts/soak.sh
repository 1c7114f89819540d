#!/usr/bin/env bash
# The soak: batches run continuously on all three simulated rigs while the simulators inject
# random faults (lost and late replies, exceptions, bad checksums, a TCP bench that drops
# off the network every few minutes), for SOAK_MINUTES (default 30; SOAK_SECONDS overrides).
# metrod's resident memory, open file descriptors and threads are sampled every
# SOAK_SAMPLE_S seconds.  Afterwards:
#   - no growth after warm-up: RSS of the last third within SOAK_RSS_PCT % (default 10) of
#     the first third after warm-up (judged for runs of 10 minutes or more: memory fills for
#     minutes by design), and no more descriptors or threads than during warm-up;
#   - every run is done, or ended by a fault the rig reported (its end reason names it); no
#     run is left running or incomplete (there are no crashes to explain one);
#   - the record store passes PRAGMA integrity_check and `metroctl audit verify --pubkey`.
# Figures go to BUILD/soak/report.md and samples to BUILD/soak/samples.csv.
#
#   tools/scripts/soak.sh            the soak (make soak)
#   tools/scripts/soak.sh kill [N]   the kill -9 campaign of the records (make kill-campaign): N kills
#                            (default 200) of metrod during simulated runs, then integrity,
#                            audit and recovery checks (tests/integration/test_kill.sh)
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
export METRO_BUILD=$B
if [ "${1:-}" = kill ]; then
	KILLS=${2:-${KILLS:-200}} exec bash tests/integration/test_kill.sh
fi
SECS=${SOAK_SECONDS:-$((${SOAK_MINUTES:-30} * 60))}
SAMPLE=${SOAK_SAMPLE_S:-10}
RSS_PCT=${SOAK_RSS_PCT:-10}
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
wait $MPID 2>/dev/null
echo "soak: metrod exited $?"

sqlite3 "$TMP/records.db" 'PRAGMA integrity_check;' >"$OUT/integrity.txt"
"$B/metroctl" audit verify --db "$TMP/records.db" --pubkey "$TMP/records.pub" >"$OUT/verify.txt" 2>&1
verify=$?
/usr/bin/python3 - "$OUT" "$TMP/records.db" "$RSS_PCT" "$verify" "$SECS" "$SEED" <<'PY'
import csv, sqlite3, sys
out, db, rss_pct, verify, secs, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rows = [dict((k, int(v)) for k, v in r.items()) for r in csv.DictReader(open(out + "/samples.csv"))]
problems = []
if len(rows) < 6:
    problems.append("only %d samples: too short to judge growth" % len(rows))
warm = max(2, len(rows) // 5)          # the first fifth is warm-up
after = rows[warm:]
third = max(1, len(after) // 3)
first, last = after[:third], after[-third:]
mean = lambda xs: sum(xs) / len(xs)
rss_first, rss_last = mean([r["rss_kb"] for r in first]), mean([r["rss_kb"] for r in last])
growth = 100.0 * (rss_last - rss_first) / rss_first
# Memory fills up for minutes by design (the newest 16 runs in full, 64 summaries, SQLite's
# page cache): a run shorter than 10 minutes cannot tell that from a leak, so it reports the
# figures without judging them.
judged = int(secs) >= 600
if judged and growth > rss_pct:
    problems.append("RSS grew %.1f %% after warm-up (limit %g %%)" % (growth, rss_pct))
for k in ("fds", "threads"):
    before, later = max(r[k] for r in rows[:warm]), max(r[k] for r in after)
    if later > before:
        problems.append("%s rose after warm-up: %d -> %d" % (k, before, later))
c = sqlite3.connect(db)
states = dict(c.execute("select state, count(*) from runs group by state").fetchall())
unexplained = c.execute("select id, rig, state, coalesce(end_reason, '') from runs where state <> 'done' "
                        "and not (state in ('error', 'aborted') and end_reason is not null and end_reason <> '')").fetchall()
for u in unexplained:
    problems.append("run %d on %s ended %s without a fault reason %r" % u)
reasons = c.execute("select end_reason, count(*) from runs where state <> 'done' group by end_reason").fetchall()
verdicts = dict(c.execute("select verdict, count(*) from positions group by verdict").fetchall())
if open(out + "/integrity.txt").read().strip() != "ok":
    problems.append("integrity_check: " + open(out + "/integrity.txt").read().strip())
if verify != 0:
    problems.append("audit verify failed: " + open(out + "/verify.txt").read().strip()[-300:])
if states.get("done", 0) == 0:
    problems.append("no run completed")
with open(out + "/report.md", "w") as f:
    f.write("| figure | value |\n|---|---|\n")
    f.write("| duration | %s s (seed %s) |\n" % (secs, seed))
    f.write("| samples | %d (warm-up %d) |\n" % (len(rows), warm))
    f.write("| RSS after warm-up, first third → last third | %.0f → %.0f kB (%+.1f %%)%s |\n" % (rss_first, rss_last, growth, "" if judged else "; not judged: shorter than 10 minutes"))
    f.write("| RSS min / max | %d / %d kB |\n" % (min(r["rss_kb"] for r in rows), max(r["rss_kb"] for r in rows)))
    f.write("| descriptors warm-up max / later max | %d / %d |\n" % (max(r["fds"] for r in rows[:warm]), max(r["fds"] for r in after)))
    f.write("| threads warm-up max / later max | %d / %d |\n" % (max(r["threads"] for r in rows[:warm]), max(r["threads"] for r in after)))
    f.write("| runs by state | %s |\n" % ", ".join("%s %d" % kv for kv in sorted(states.items())))
    f.write("| end reasons of the others | %s |\n" % ("; ".join("%s ×%d" % r for r in reasons) or "none"))
    f.write("| meter verdicts | %s |\n" % ", ".join("%s %d" % (k or "none", v) for k, v in sorted(verdicts.items(), key=lambda kv: str(kv[0]))))
    f.write("| integrity_check, audit verify | %s, %s |\n" % (open(out + "/integrity.txt").read().strip(), "ok" if verify == 0 else "FAILED"))
    f.write("| result | %s |\n" % ("held" if not problems else "FAILED: " + "; ".join(problems)))
print(open(out + "/report.md").read())
sys.exit(1 if problems else 0)
PY
