#!/usr/bin/env bash
# Fail closed on a wrong profile (issue #16, item 4): a profile whose word order or scale does not
# fit the device gives numbers that look like readings; the plausibility gate
# (daemon/engine/plausible.c) must make them a rig or profile fault, never a meter's `fail` with a
# notice of nonconformity.  The device is a flow bench written on python3-pymodbus
# (tests/lib/pymodbus_bench.py), not metrosim:
#  (a) the right profile: the batch runs to its end, the good meters pass, the +3.5 % one fails
#      with a notice (the bench is a fair device);
#  (b1) the profile says `order: CDAB` where the device sends ABCD (the issue's case): the setpoint
#      goes out as garbage, the equally mis-decoded flow looks right, the reference volume is
#      garbage; (b2) only ref.volume's order wrong;
#  (c) the scale of pos[N].volume 0.01 instead of 0.001 (every meter +900 %);
#  (d) the same scale typo on metrosim, to show the gate does not depend on the device;
#  (e) the right profile on a bench that holds its reply to "collect on" 0.25 s (30 s of rig
#      time at scale 120; the soak's late replies did this once): the gate compares with the
#      collection time's bounds (the diverter moved between the command and its reply), so the
#      batch is done and judged as in (a), not a rig fault.
# (b1), (b2), (c), (d): every position ends `error` with the check named, the database holds no
# certificate or notice and no point with a `fail` verdict for the run.
set -u
. tests/lib/need.sh
need_py serial_asyncio python3-serial-asyncio # Debian's pymodbus 3.0 imports it
need_py pymodbus.server python3-pymodbus
. tests/lib/rigs.sh
SCALE=120

# The profiles: the shipped one and three copies, each with one mistake.
P=config/profiles/flow-bench.yaml
sed 's/^order: ABCD /order: CDAB /' "$P" >"$TMP/order-all.yaml"
sed 's/^\(  - {name: ref.volume, .*type: f64,\)/\1 order: CDAB,/' "$P" >"$TMP/order-ref.yaml"
sed '/pos\[N\].volume/,/scale:/s/scale: 0.001,/scale: 0.01,/' "$P" >"$TMP/scale.yaml"
check "profile copy: order CDAB throughout" "$(diff "$P" "$TMP/order-all.yaml" | grep -c '^>')" "1"
check "profile copy: ref.volume order CDAB" "$(grep -c 'ref.volume, .*f64, order: CDAB' "$TMP/order-ref.yaml")" "1"
check "profile copy: meter scale 0.01" "$(diff "$P" "$TMP/scale.yaml" | grep -c '^>.*scale: 0.01,')" "1"

# (d)'s metrosim bench with its rig water-1, on the scale typo.
water_bench $SCALE
sed -i "s|profile: $PWD/$P|profile: $TMP/scale.yaml|" "$TMP/metrod.yaml"

# The pymodbus benches: six meters of -1.5 % .. +3.5 %; the second one late to "collect on".
# pybench VAR ARGS...: start one, its port in $VAR.
pybench() {
	local out="$TMP/pybench-$1.out" port
	/usr/bin/python3 tests/lib/pymodbus_bench.py --time-scale $SCALE --positions 6 \
		--meter 1=0.5 --meter 2=-0.8 --meter 3=3.5 --meter 4=1.2 --meter 5=-1.5 --meter 6=0 \
		"${@:2}" >"$out" 2>"$TMP/pybench-$1.err" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
	port=$(sed -n '1s/^listening 127.0.0.1://p' "$out")
	if [ -z "$port" ]; then echo "the pymodbus bench did not start:"; cat "$TMP/pybench-$1.err"; exit 1; fi
	printf -v "$1" %s "$port"
}
pybench pyport
pybench lateport --late-collect 0.25
# One device, four rigs that read it through the four profiles, one run at a time (an idle rig
# only samples; it writes its safe state once, at start).
for rig in right:$PWD/$P order-all:$TMP/order-all.yaml order-ref:$TMP/order-ref.yaml scale:$TMP/scale.yaml; do
	echo "  - {id: pyb-${rig%%:*}, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $pyport}, profile: ${rig#*:}, positions: 6, standards: [ws], sample_hz: 20, simulated: true, time_scale: $SCALE}"
done >>"$TMP/metrod.yaml"
echo "  - {id: pyb-late, kind: flow-bench, driver: modbus-tcp, connection: {host: 127.0.0.1, port: $lateport}, profile: $PWD/$P, positions: 6, standards: [ws], sample_hz: 20, simulated: true, time_scale: $SCALE}" >>"$TMP/metrod.yaml"
start_metrod "$TMP/metrod.yaml"

# batch RIG: six class 2 meters (Q3 2.5, R 100) on positions 1-6 of that rig.
batch() {
	sed -n '/^meters:/q;p' config/batches/water-initial.yaml | sed "s/^rig: .*/rig: $1/"
	echo "meters:"
	for i in 1 2 3 4 5 6; do
		echo "  - {position: $i, serial: PB-$i, model: LXS-15E, manufacturer: Example Meter Co., approval: \"CPA 2021-W123\", nameplate: {q3: 2.5, r: 100, class: \"2\", scale_interval_l: 0.05, electronic: \"no\", dn: 15}}"
	done
}
# start NAME BATCH: run the batch to its end; its run document in $TMP/NAME.json
start() {
	timeout 240 "$B/metroctl" -e "$CTL" --json start "$2" --wait --auto-answer pass \
		2>"$TMP/$1.err" | tail -n 1 >"$TMP/$1.json"
}
v() { json "$2" <"$TMP/$1.json"; }
sql() { /usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute(sys.argv[2]).fetchone()[0])' "$TMP/records.db" "$1"; }

# ---- (a) the right profile on the pymodbus bench ------------------------------------------------
batch pyb-right >"$TMP/right.yaml"
start a "$TMP/right.yaml"
run=$(v a "d['run']")
check "(a) the batch runs to its end" "$(v a "d['result']")" "done"
check "(a) the good meters pass" "$(v a "sorted(x['position'] for x in d['verdicts'] if x['verdict']=='pass')")" "[1, 2, 4, 5, 6]"
check "(a) the +3.5 % meter fails at q3" "$(v a "[(x['verdict'], x['failed_items']) for x in d['verdicts'] if x['position']==3][0]")" "('fail', ['q3'])"
# mean POS ITEM WANT: the point's error is the bench meter's, within the 1 mL counts of >= 10 L
mean() { v a "[abs(p['values']['mean'] - $3) < 0.015 for p in d['points'] if p['position']==$1 and p['item']=='$2' and p['verdict'] in ('pass', 'fail')]"; }
check "(a) q3 errors as the bench's meters are (1: +0.5, 3: +3.5, 5: -1.5 %)" "$(mean 1 q3 0.5) $(mean 3 q3 3.5) $(mean 5 q3 -1.5)" "[True] [True] [True]"
check "(a) q1 errors of positions 2 and 4 (-0.8, +1.2 %)" "$(mean 2 q1 -0.8) $(mean 4 q1 1.2)" "[True] [True]"
check "(a) a notice for position 3, certificates for the others" \
	"$(sql "select group_concat(kind || ':' || position, ' ') from (select kind, position from certificates where run = $run order by position)")" \
	"certificate:1 certificate:2 notice:3 certificate:4 certificate:5 certificate:6"

# ---- the wrong profiles: no meter judged, nothing issued --------------------------------------
# closed NAME: the run ended in error or with every position in error, no verdict but `error`,
# no certificate or notice and no point with a fail verdict in the database.
closed() {
	local r
	r=$(v "$1" "d['run']")
	check "($1) every position ends in error" "$(v "$1" "sorted({x['verdict'] for x in d['verdicts']}), len(d['verdicts'])")" "['error'] $2"
	check "($1) no certificate or notice in the database" "$(sql "select count(*) from certificates where run = $r")" "0"
	check "($1) no verdict but error in the database" "$(sql "select count(*) from verdicts where run = $r and verdict <> 'error'")" "0"
	check "($1) no flow point with a verdict but error in the database" "$(sql "select count(*) from points where run = $r and test_point in ('q3', 'q2', 'q1') and verdict is not 'error'")" "0"
	check "($1) nothing measured after q3" "$(sql "select count(*) from points where run = $r and test_point in ('q2', 'q1')")" "0"
}

# The reference mis-decoded is a random double (its low word becomes the high word).  Mostly
# (99 %) the reference check ends the run: the reference is 0 L (a tiny double), not a volume
# (beyond 1e32 L) or not the flow's integral; else the reference never reaches the collection
# volume (0.1 %, "the reference volume reached ..."), or a read decodes to NaN or infinity
# (0.6 %, "reading ref.volume: ... not representable").  Each names the reference volume.
names_ref="(lambda f: ('reference volume' in f and 'rig or profile fault' in f) or (f.startswith('reading ref.volume: ') and f.endswith('not representable')))(d.get('fault', ''))"

# (b1) order: CDAB throughout, the device sends ABCD.
batch pyb-order-all >"$TMP/b1.yaml"
start b1 "$TMP/b1.yaml"
closed b1 6
check "(b1) the run ends in error" "$(v b1 "d['result']")" "error"
check "(b1) the fault names the reference volume" "$(v b1 "$names_ref")" "True"
echo "     (b1) fault: $(v b1 "d.get('fault')")"

# (b2) only ref.volume read with the wrong order.
batch pyb-order-ref >"$TMP/b2.yaml"
start b2 "$TMP/b2.yaml"
closed b2 6
check "(b2) the run ends in error" "$(v b2 "d['result']")" "error"
check "(b2) the fault names the reference volume" "$(v b2 "$names_ref")" "True"
echo "     (b2) fault: $(v b2 "d.get('fault')")"

# (c) the meters' scale 0.01 for 0.001: +900 %.
batch pyb-scale >"$TMP/c.yaml"
start c "$TMP/c.yaml"
closed c 6
check "(c) every reason names the plausibility bound" \
	"$(v c "all('beyond the plausibility bound' in x.get('reason', '') for x in d['verdicts'])")" "True"
check "(c) position 1's error was +905 % (10 x 1.005, less the 1 mL counts)" \
	"$(v c "[abs(float(m[1]) - 905) < 0.03 if m else x.get('reason') for x in d['verdicts'] if x['position']==1 for m in [__import__('re').search(r'error ([-+][0-9.]+) % is beyond', x.get('reason', ''))]]")" "[True]"

# (d) the same typo on metrosim, the batch of test_engine_water.sh.
start d config/batches/water-initial.yaml
closed d 9
check "(d) every reason names the plausibility bound" \
	"$(v d "all('beyond the plausibility bound' in x.get('reason', '') for x in d['verdicts'])")" "True"

# (e) the right profile, the reply to "collect on" 0.25 s late.
batch pyb-late >"$TMP/late.yaml"
start e "$TMP/late.yaml"
check "(e) the batch runs to its end" "$(v e "(d['result'], d.get('fault'))")" "('done', None)"
check "(e) the good meters pass, the +3.5 % one fails" \
	"$(v e "sorted((x['position'], x['verdict']) for x in d['verdicts'])")" \
	"[(1, 'pass'), (2, 'pass'), (3, 'fail'), (4, 'pass'), (5, 'pass'), (6, 'pass')]"

"$B/metroctl" audit verify --db "$TMP/records.db" >"$TMP/verify.out" 2>&1
check "the chain verifies" "$?" "0"
finish
