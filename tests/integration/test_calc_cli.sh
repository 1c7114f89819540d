#!/usr/bin/env bash
# Integration test of `metroctl calc`: every command form of issue 3 with --json (including the
# values of the golden vectors, tests/data/golden/vectors.yaml), a few readable lines, the exit
# codes (0 computed and pass, 1 verdict fail, 2 bad input), and bad input that must exit 2 with
# a message naming the option.  Run by tests/run.sh with METRO_BUILD set; prints
# "N passed, M failed" last and exits nonzero on any failure.
set -u
M="${METRO_BUILD:-build/san}/metroctl"
PY=/usr/bin/python3
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$M" ]; then
	echo "FAIL: $M not built"
	echo "0 passed, 1 failed"
	exit 1
fi

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
}

# json NAME RC CONDITION ARGS...: `metroctl calc ARGS --json` exits RC, prints one JSON object
# on stdout and nothing on stderr, and the Python CONDITION holds for it (as d).
json() {
	local name=$1 want=$2 cond=$3 rc
	shift 3
	"$M" calc "$@" --json >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne "$want" ]; then
		bad "$name: exit $rc, want $want: $(cat "$tmp/err")"
		return
	fi
	if [ -s "$tmp/err" ]; then
		bad "$name: unexpected stderr: $(cat "$tmp/err")"
		return
	fi
	if ! "$PY" - "$tmp/out" "$cond" <<'EOF'; then
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
assert text.count("\n") == 1 and isinstance(d, dict), "not one JSON object on one line"
near = lambda x, y, tol: isinstance(x, (int, float)) and abs(x - y) <= tol
ok = eval(sys.argv[2], {"d": d, "near": near})
if not ok:
    print("  output: " + text.strip())
sys.exit(0 if ok else 1)
EOF
		bad "$name: condition failed: $cond"
		return
	fi
	ok
}

# exact NAME RC EXPECTED ARGS...: stdout is exactly EXPECTED (one line).
exact() {
	local name=$1 want=$2 expected=$3 out rc
	shift 3
	out=$("$M" "$@" 2>"$tmp/err")
	rc=$?
	if [ $rc -ne "$want" ] || [ "$out" != "$expected" ]; then
		bad "$name: exit $rc, output '$out'; want exit $want, '$expected'"
		return
	fi
	ok
}

# text NAME RC PATTERN ARGS...: the readable line (no --json) matches the grep -E PATTERN.
text() {
	local name=$1 want=$2 pattern=$3 out rc
	shift 3
	out=$("$M" calc "$@" 2>"$tmp/err")
	rc=$?
	if [ $rc -ne "$want" ] || ! printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
		bad "$name: exit $rc, output '$out'; want exit $want and /$pattern/"
		return
	fi
	ok
}

# usage NAME WORD ARGS...: exits 2, prints nothing on stdout, names WORD on stderr.
usage() {
	local name=$1 word=$2 rc
	shift 2
	"$M" calc "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 2 ]; then
		bad "$name: exit $rc, want 2 (stdout: $(cat "$tmp/out"))"
		return
	fi
	if [ -s "$tmp/out" ]; then
		bad "$name: printed on stdout: $(cat "$tmp/out")"
		return
	fi
	if ! grep -qF -- "$word" "$tmp/err"; then
		bad "$name: stderr does not name '$word': $(cat "$tmp/err")"
		return
	fi
	ok
}

# ---- round: the vectors' rounding section, then own ties ------------------------------------
while read -r iv v want; do
	json "round $v/$iv" 0 "d['rounded'] == $want and d['value'] == $v and d['interval'] == $iv" \
		round --interval "$iv" "$v"
done <<'EOF'
0.1 0.25 0.2
0.1 0.35 0.4
0.2 0.30 0.4
0.2 0.10 0.0
0.05 -0.075 -0.10
0.05 0.125 0.10
0.02 0.03 0.04
0.02 0.05 0.04
0.1 1.05 1.0
0.2 -2.3 -2.4
0.02 0.21 0.20
0.05 -0.525 -0.50
0.1 0.25000000000001 0.3
0.1 0.24999999999999 0.2
EOF
exact "round json text" 0 '{"value":0.25,"interval":0.1,"rounded":0.2}' \
	calc round --interval 0.1 0.25 --json
exact "round global --json" 0 '{"value":-0.075,"interval":0.05,"rounded":-0.1}' \
	--json calc round --interval 0.05 -0.075
exact "round after --" 0 '{"value":-2.3,"interval":0.2,"rounded":-2.4}' \
	--json calc round --interval=0.2 -- -2.3
text "round text" 0 '^0\.25 rounded to a multiple of 0\.1 \(half to even\): 0\.2$' \
	round --interval 0.1 0.25
text "round text places" 0 '^-1\.05 rounded to a multiple of 0\.1 \(half to even\): -1\.0$' \
	round --interval 0.1 -1.05
text "round text exact" 0 '^0\.2500000000000000000001 rounded .*: 0\.3$' \
	round --interval 0.1 0.2500000000000000000001

# ---- water: the vectors -----------------------------------------------------------------
W="water --q3 2.5 --r 100 --class 2"
json "water q3-pass" 0 "near(d['error'], 1.20, 1e-9) and d['mpe'] == 2.0 and d['zone'] == 'upper' \
and d['verdict'] == 'pass' and d['rule'] == 'full-precision'" \
	$W --type initial --flow 2.45 --temp 20 --indicated 101.20 --actual 100.00
json "water q2-upper-zone-fail" 1 "near(d['error'], 3.50, 1e-9) and d['mpe'] == 2.0 and \
d['zone'] == 'upper' and d['verdict'] == 'fail' and d['q2'] == 0.04" \
	$W --type initial --flow 0.042 --temp 20 --indicated 10.35 --actual 10.00
json "water q1-pass" 0 "near(d['error'], -3.80, 1e-9) and d['mpe'] == 5.0 and d['zone'] == 'lower' \
and d['verdict'] == 'pass'" \
	$W --type initial --flow 0.026 --temp 20 --indicated 9.62 --actual 10.00
json "water in-service-double-mpe" 0 "d['error'] == 3.6 and d['mpe'] == 4.0 and d['verdict'] == 'pass'" \
	$W --type in-service --flow 2.45 --temp 20 --error 3.6
json "water warm-water" 0 "d['error'] == 2.6 and d['mpe'] == 3.0 and d['verdict'] == 'pass'" \
	$W --type initial --flow 2.45 --temp 35 --error 2.6
# own: Q2 exactly, the limit itself, gravimetric
json "water at Q2" 0 "d['zone'] == 'upper' and d['mpe'] == 2.0 and d['verdict'] == 'pass'" \
	$W --type initial --flow 0.04 --temp 20 --indicated 0.714 --actual 0.7
json "water below Q2" 0 "d['zone'] == 'lower' and d['mpe'] == 5.0" \
	$W --type initial --flow 0.0399999 --temp 20 --error -4
json "water gravimetric" 0 "near(d['actual_l'], 10.0290523, 1e-7) and near(d['error'], 0.2088702, 1e-7) \
and d['buoyancy'] == 1.0011 and d['density_kg_l'] == 0.9982 and d['verdict'] == 'pass'" \
	$W --type initial --flow 2.45 --temp 20 --mass 10.0 --density 0.9982 --indicated 10.05
json "water gravimetric buoyancy" 0 "d['actual_l'] == 10.0 and d['error'] == 0.0" \
	$W --type initial --flow 2.45 --temp 20 --mass 10 --density 1 --buoyancy 1 --indicated 10
# without --density: the density of air-free water at --temp (Tanaka 2001, the metrology
# module's; 0.998206746 kg/L at 20 degC, 0.999702702 at 10 degC, to 1e-9 kg/L); --density wins
json "water gravimetric, water density at 20 degC" 0 "d['density_kg_l'] == 0.998206746 \
and d['density_source'] == 'water-formula' and near(d['actual_l'], 10.0289845, 1e-7) \
and near(d['error'], 0.2095475, 1e-7) and d['verdict'] == 'pass'" \
	$W --type initial --flow 2.45 --temp 20 --mass 10 --indicated 10.05
json "water gravimetric, water density at 10 degC" 0 "d['density_kg_l'] == 0.999702702 \
and d['density_source'] == 'water-formula'" \
	$W --type initial --flow 2.45 --temp 10 --mass 10 --indicated 10.05
json "water gravimetric, --density wins over the formula" 0 "d['density_kg_l'] == 0.9982 \
and d['density_source'] == 'given' and near(d['actual_l'], 10.0290523, 1e-7)" \
	$W --type initial --flow 2.45 --temp 20 --mass 10.0 --density 0.9982 --indicated 10.05
json "water gravimetric, --density also outside the formula's range" 0 "d['density_kg_l'] == 0.988 \
and d['density_source'] == 'given'" \
	$W --type initial --flow 2.45 --temp 50 --mass 10.0 --density 0.988 --indicated 10.05
text "water gravimetric text names the density" 0 \
	'reference volume 10\.02898[0-9]* L \(water density 0\.998206746 kg/L at 20 degC, Tanaka 2001\)$' \
	$W --type initial --flow 2.45 --temp 20 --mass 10 --indicated 10.05
json "water sampling-in-use" 0 "d['mpe'] == 4.0 and d['type'] == 'sampling-in-use'" \
	$W --type sampling-in-use --flow 2.45 --temp 20 --error 3
text "water text" 1 'error \+3\.5 %, MPE ±2 % \(upper zone\), judged at full precision: fail' \
	$W --type initial --flow 0.042 --temp 20 --indicated 10.35 --actual 10.00

# ---- water-retest: the vectors ------------------------------------------------------------
json "retest pass" 0 "near(d['mean'], -4.933, 5e-4) and d['verdict'] == 'pass' and d['runs'] == [-5.4, -4.6, -4.8]" \
	water-retest --mpe 5.0 -5.40 -4.60 -4.80
json "retest fail" 1 "near(d['mean'], -4.900, 1e-9) and d['verdict'] == 'fail'" \
	water-retest --mpe 5.0 -5.40 -5.10 -4.20
exact "retest mean at the MPE" 0 '{"runs":[-5.4,-4.8,-4.8],"mpe":5.0,"mean":-5.0,"rule":"full-precision","verdict":"pass"}' \
	--json calc water-retest --mpe 5 -- -5.4 -4.8 -4.8

# ---- electricity: the vectors -------------------------------------------------------------
E="electricity --connection direct"
json "elec pulse-error" 0 "near(d['computed_pulses'], 16666.667, 5e-4) and near(d['error'], 0.40161, 5e-6) \
and d['rounded'] == 0.4 and d['interval'] == 0.1 and d['mpe'] == 1.0 and d['verdict'] == 'pass' \
and d['rule'] == 'rounded'" \
	$E --class 1 --current Ib --pf 1.0 --standard-constant 2000000 --meter-constant 1200 \
	--meter-pulses 10 --standard-pulses 16600
json "elec averaging first two" 0 "d['needs_extra'] is True and d['mean'] == 1.76 and 'verdict' not in d" \
	$E --class 2 --current 0.1Ib --pf 1.0 --readings 1.72,1.80
json "elec averaging-band" 0 "d['needs_extra'] is True and near(d['mean'], 1.82, 1e-9) and d['rounded'] == 1.8 \
and d['mpe'] == 2.0 and d['verdict'] == 'pass'" \
	$E --class 2 --current 0.1Ib --pf 1.0 --readings 1.72,1.80,1.90,1.86
json "elec no extra needed" 0 "d['needs_extra'] is False and d['rounded'] == 1.2 and d['verdict'] == 'pass'" \
	$E --class 2 --current Ib --pf 1.0 --readings 1.2,1.3
json "elec tie pass" 0 "d['rounded'] == 1.0 and d['verdict'] == 'pass'" \
	$E --class 1 --current Ib --pf 0.5L --error 1.05
json "elec tie fail" 1 "d['rounded'] == 1.2 and d['verdict'] == 'fail'" \
	$E --class 1 --current Ib --pf 0.8C --error 1.15
json "elec 0.1Ib boundary" 0 "d['zone'] == 'upper' and d['mpe'] == 1.0" \
	$E --class 1 --current 0.1Ib --pf 1.0 --error 0
json "elec 0.05Ib lower" 0 "d['zone'] == 'lower' and d['mpe'] == 1.5" \
	$E --class 1 --current 0.05Ib --pf 1 --error 0
json "elec 0.2Ib 0.5L" 0 "d['zone'] == 'upper' and d['mpe'] == 1.0" \
	$E --class 1 --current 0.2Ib --pf 0.5L --error 0
json "elec 0.5S ct" 0 "d['mpe'] == 0.5 and d['interval'] == 0.05 and d['rounded'] == 0.5" \
	electricity --class 0.5S --connection ct --current 0.05In --pf 1.0 --error 0.525
json "elec 0.2S ct" 1 "d['mpe'] == 0.3 and d['rounded'] == 0.32 and d['verdict'] == 'fail'" \
	electricity --class 0.2S --connection ct --current In --pf 0.5L --error 0.31
json "elec Imax" 0 "d['zone'] == 'upper'" \
	$E --class 2 --current 0.5Imax --pf 1.0 --error 1 --type in-service
text "elec text" 0 'rounded to 0\.1: \+0\.4 %, MPE ±1 % \(upper zone\), judged on the rounded value: pass' \
	$E --class 1 --current Ib --pf 1.0 --standard-constant 2000000 --meter-constant 1200 \
	--meter-pulses 10 --standard-pulses 16600

# ---- start and creep: the vectors and other arrangements -----------------------------------
json "start-time" 0 "d['start_current'] == 0.025 and near(d['start_time_min'], 10.909, 5e-4)" \
	start --class 2 --connection direct --ib 5 --un 220 --meter-constant 1200 --phases 1
json "start three-phase" 0 "d['start_current'] == 0.02 and near(d['start_time_min'], 4.545455, 5e-7)" \
	start --class 1 --connection direct --ib 5 --un 220 --meter-constant 1200 --phases 3
json "start ct three-wire" 0 "d['start_current'] == 0.0015 and near(d['start_time_min'], 13.856406, 5e-7)" \
	start --class 0.5S --connection ct --in 1.5 --un 100 --meter-constant 20000 --phases 3w
json "creep-time" 0 "d['creep_voltage'] == 253 and near(d['creep_time_min'], 30.303, 5e-4)" \
	creep --class 2 --connection direct --imax 60 --un 220 --meter-constant 1200 --phases 1
json "creep 0.2S" 0 "d['creep_voltage'] == 253 and d['k'] == 900 and near(d['creep_time_min'], 34.090909, 5e-7)" \
	creep --class 0.2S --connection ct --imax 6 --un 220 --meter-constant 20000 --phases 1
text "start text" 0 'starting current 0\.025 A .* within 10\.909 min' \
	start --class 2 --connection direct --ib 5 --un 220 --meter-constant 1200 --phases 1
text "creep text" 0 'creep test at 253 V \(115 % Un\) for 30\.303 min' \
	creep --class 2 --connection direct --imax 60 --un 220 --meter-constant 1200 --phases 1

# ---- pulses -------------------------------------------------------------------------------
json "pulses" 0 "d['meter_pulses'] == 2 and d['power_w'] == 1100" \
	pulses --un 220 --current 5 --pf 1.0 --meter-constant 1200 --min-seconds 5
json "pulses exact integer" 0 "d['meter_pulses'] == 11" \
	pulses --un 220 --current 5 --pf 1.0 --meter-constant 1200 --min-seconds 30
json "pulses 0.5L" 0 "d['meter_pulses'] == 6" \
	pulses --un 220 --current 5 --pf 0.5L --meter-constant 1200 --min-seconds 30

# ---- gas: the vectors ---------------------------------------------------------------------
G="gas --class 1.5 --qmax 6 --type initial --p-atm 101.325"
json "gas bell-0.2qmax" 0 "near(d['reference_l'], 100.3470, 5e-5) and near(d['error'], 0.7005, 5e-5) \
and d['mpe'] == 1.5 and d['verdict'] == 'pass' and d['zone'] == 'upper' and 'pressure_factor' in d \
and 'temperature_factor' in d" \
	$G --flow 1.2 --ref-volume 100.00 --ref-p 1.20 --ref-t 20.0 --meter-volume 101.05 \
	--meter-p 0.95 --meter-t 20.3
json "gas bell-qmin" 0 "near(d['reference_l'], 20.0088, 5e-5) and near(d['error'], -2.443, 5e-4) \
and d['mpe'] == 3.0 and d['verdict'] == 'pass' and d['zone'] == 'lower'" \
	$G --flow 0.04 --ref-volume 20.00 --ref-p 0.45 --ref-t 20.1 --meter-volume 19.52 \
	--meter-p 0.44 --meter-t 20.2
json "gas factors of one" 0 "d['pressure_factor'] == 1 and d['temperature_factor'] == 1 and d['error'] == 1.5" \
	$G --flow 1.2 --ref-volume 100 --ref-p 1 --ref-t 20 --meter-volume 101.5 --meter-p 1 --meter-t 20
# --qmin: the module refuses a flow below it (without --qmin the minimum is unknown: unchecked)
json "gas at qmin" 0 "d['qmin'] == 0.04 and d['zone'] == 'lower' and d['mpe'] == 3.0" \
	gas --class 1.5 --qmax 6 --qmin 0.04 --flow 0.04 --type initial --error 1
json "gas below a qmin not given: unchecked" 0 "'qmin' not in d and d['zone'] == 'lower'" \
	gas --class 1.5 --qmax 6 --flow 0.03 --type initial --error 1
json "gas bell at qmin" 0 "d['qmin'] == 0.04 and d['verdict'] == 'pass'" \
	$G --qmin 0.04 --flow 0.04 --ref-volume 20.00 --ref-p 0.45 --ref-t 20.1 --meter-volume 19.52 \
	--meter-p 0.44 --meter-t 20.2
json "gas at qt" 0 "d['zone'] == 'upper' and d['qt'] == 0.6" \
	gas --class 1.0 --qmax 6 --flow 0.6 --type initial --error 1
json "gas in-service" 1 "d['mpe'] == 6.0 and d['verdict'] == 'fail'" \
	gas --class 1.5 --qmax 6 --flow 0.3 --type in-service --error 6.01
text "gas text" 0 'pressure factor .*temperature factor .*MPE ±1\.5 % \(upper zone\).*: pass' \
	$G --flow 1.2 --ref-volume 100.00 --ref-p 1.20 --ref-t 20.0 --meter-volume 101.05 \
	--meter-p 0.95 --meter-t 20.3

# ---- help ---------------------------------------------------------------------------------
if "$M" calc --help | grep -q 'water-retest --mpe M RUN1 RUN2 RUN3'; then ok; else bad "calc --help"; fi
if "$M" calc water --help | grep -q '^usage: metroctl'; then ok; else bad "calc water --help"; fi

# ---- bad input: exit 2, the option named, nothing guessed ----------------------------------
usage "unknown form" "frobnicate" frobnicate --x 1
usage "no form" "usage" 
usage "round missing interval" "--interval" round 0.25
usage "round no value" "VALUE" round --interval 0.1
usage "round two values" "VALUE" round --interval 0.1 0.25 0.35
usage "round trailing garbage" "0.25x" round --interval 0.1 0.25x
usage "round zero interval" "--interval" round --interval 0 0.25
usage "round interval garbage" "--interval" round --interval 0.1a 0.25
usage "round unknown option" "--bogus" round --interval 0.1 --bogus 0.25
usage "round repeated option" "--interval" round --interval 0.1 --interval 0.2 0.25
usage "round option without value" "--interval" round 0.25 --interval
usage "water unknown class" "--class" $W --class 3 --type initial --flow 2 --temp 20 --error 1
usage "water missing type" "--type" $W --flow 2 --temp 20 --error 1
usage "water unknown type" "--type" $W --type first --flow 2 --temp 20 --error 1
usage "water complaint" "--type" $W --type complaint --flow 2 --temp 20 --error 1
usage "water missing flow" "--flow" $W --type initial --temp 20 --error 1
usage "water missing temp" "--temp" $W --type initial --flow 2 --error 1
usage "water negative volume" "--indicated" $W --type initial --flow 2 --temp 20 --indicated -1 --actual 10
usage "water zero actual" "--actual" $W --type initial --flow 2 --temp 20 --indicated 1 --actual 0
usage "water missing actual" "--actual" $W --type initial --flow 2 --temp 20 --indicated 1
usage "water no method" "--indicated" $W --type initial --flow 2 --temp 20
usage "water error and actual" "--actual" $W --type initial --flow 2 --temp 20 --error 1 --actual 3
usage "water mass without density, water too hot for the formula" "--temp 50: outside 0..40" $W --type initial --flow 2 --temp 50 --mass 10 --indicated 10
usage "water mass without density: the hint" "give --density" $W --type initial --flow 2 --temp 50 --mass 10 --indicated 10
usage "water mass without indicated" "--indicated" $W --type initial --flow 2 --temp 20 --mass 10
usage "water mass and actual" "--actual" $W --type initial --flow 2 --temp 20 --mass 10 --density 1 --indicated 10 --actual 10
usage "water density in kg/m3" "--density" $W --type initial --flow 2 --temp 20 --mass 10 --density 998.2 --indicated 10
usage "water flow below Q1" "--flow" $W --type initial --flow 0.01 --temp 20 --error 1
usage "water flow above Q4" "--flow" $W --type initial --flow 4 --temp 20 --error 1
usage "water cold" "--temp" $W --type initial --flow 2 --temp 0 --error 1
usage "water unparsable q3" "--q3" water --q3 2,5 --r 100 --class 2 --type initial --flow 2 --temp 20 --error 1
usage "water r too small" "--r" water --q3 2.5 --r 1.5 --class 2 --type initial --flow 2 --temp 20 --error 1
usage "water stray argument" "7" $W --type initial --flow 2 --temp 20 --error 1 7
usage "retest two runs" "three runs" water-retest --mpe 5 -5.4 -4.6
usage "retest no retest due" "RUN" water-retest --mpe 5 1 -4.6 -4.8
usage "retest bad run" "RUN2" water-retest --mpe 5 -5.4 x -4.8
usage "retest missing mpe" "--mpe" water-retest -5.4 -4.6 -4.8
usage "elec unknown class" "--class" $E --class 3 --current Ib --pf 1.0 --error 1
usage "elec unknown connection" "--connection" electricity --class 1 --connection delta --current Ib --pf 1.0 --error 1
usage "elec bad current" "--current" $E --class 1 --current 0.1Iq --pf 1.0 --error 1
usage "elec ct with Ib" "--current" electricity --class 1 --connection ct --current 0.1Ib --pf 1.0 --error 1
usage "elec unplaceable Imax" "--current" $E --class 1 --current 0.05Imax --pf 1.0 --error 1
usage "elec below the table" "--current" $E --class 1 --current 0.01Ib --pf 1.0 --error 1
usage "elec S class direct" "--connection" $E --class 0.5S --current Ib --pf 1.0 --error 1
usage "elec unknown pf" "--pf" $E --class 1 --current Ib --pf 0.5 --error 1
usage "elec three readings" "--readings" $E --class 1 --current Ib --pf 1.0 --readings 1,2,3
usage "elec bad reading" "--readings" $E --class 1 --current Ib --pf 1.0 --readings 1,x
usage "elec extra not due" "--readings" $E --class 1 --current Ib --pf 1.0 --readings 0.1,0.1,0.2,0.2
usage "elec half a pulse" "--meter-pulses" $E --class 1 --current Ib --pf 1.0 --standard-constant 2000000 --meter-constant 1200 --meter-pulses 10.5 --standard-pulses 16600
usage "elec missing pulses" "--standard-pulses" $E --class 1 --current Ib --pf 1.0 --standard-constant 2000000 --meter-constant 1200 --meter-pulses 10
usage "elec error and readings" "--readings" $E --class 1 --current Ib --pf 1.0 --error 1 --readings 1,2
usage "elec no method" "--error" $E --class 1 --current Ib --pf 1.0
usage "start ct with --ib" "--ib" start --class 1 --connection ct --ib 5 --un 220 --meter-constant 1200 --phases 1
usage "start missing current" "--ib" start --class 1 --connection direct --un 220 --meter-constant 1200 --phases 1
usage "start bad phases" "--phases" start --class 1 --connection direct --ib 5 --un 220 --meter-constant 1200 --phases 2
usage "start negative voltage" "--un" start --class 1 --connection direct --ib 5 --un -220 --meter-constant 1200 --phases 1
usage "creep S class direct" "--connection" creep --class 0.2S --connection direct --imax 60 --un 220 --meter-constant 1200 --phases 1
usage "creep missing imax" "--imax" creep --class 2 --connection direct --un 220 --meter-constant 1200 --phases 1
usage "pulses zero seconds" "--min-seconds" pulses --un 220 --current 5 --pf 1.0 --meter-constant 1200 --min-seconds 0
usage "pulses unknown option" "--phases" pulses --un 220 --current 5 --pf 1.0 --meter-constant 1200 --min-seconds 5 --phases 3
usage "gas unknown class" "--class" gas --class 2 --qmax 6 --flow 1 --type initial --error 1
usage "gas below qmin" "--flow 0.03: below the meter's minimum flow --qmin 0.04" gas --class 1.5 --qmax 6 --qmin 0.04 --flow 0.03 --type initial --error 1
usage "gas bell below qmin" "--qmin 0.04" $G --qmin 0.04 --flow 0.039 --ref-volume 20 --ref-p 0.45 --ref-t 20.1 --meter-volume 19.52 --meter-p 0.44 --meter-t 20.2
usage "gas qmin at qt" "--qmin 0.6: must be below qt" gas --class 1.5 --qmax 6 --qmin 0.6 --flow 1 --type initial --error 1
usage "gas qmin zero" "--qmin" gas --class 1.5 --qmax 6 --qmin 0 --flow 1 --type initial --error 1
usage "gas qmin unparsable" "--qmin" gas --class 1.5 --qmax 6 --qmin 0.04x --flow 1 --type initial --error 1
usage "gas above qmax" "--flow" gas --class 1.5 --qmax 6 --flow 7 --type initial --error 1
usage "gas negative meter volume" "--meter-volume" $G --flow 1.2 --ref-volume 100 --ref-p 1 --ref-t 20 --meter-volume -1 --meter-p 1 --meter-t 20
usage "gas missing meter-t" "--meter-t" $G --flow 1.2 --ref-volume 100 --ref-p 1 --ref-t 20 --meter-volume 100 --meter-p 1
usage "gas vacuum" "--ref-p" $G --flow 1.2 --ref-volume 100 --ref-p -102 --ref-t 20 --meter-volume 100 --meter-p 1 --meter-t 20
usage "gas error and reference" "--ref-volume" gas --class 1.5 --qmax 6 --flow 1 --type initial --error 1 --ref-volume 100

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
