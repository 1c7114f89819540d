/* flow.c — flow points: water on a flow bench (JJG 162), gas on a bell prover (JJG 577). */
#include "engine.h"
#include "engine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "metrology.h"
#include "util.h"

/* ---- flow points (water on a flow bench, gas on a bell prover) --------------------------- */

struct flow_meas {
	struct metro_dec ref;	      /* reference volume collected, L */
	struct metro_dec vi[MAX_POS]; /* indicated volume per position, L */
	double flow;		      /* mean actual flow, m3/h */
	double temp0, temp1;	      /* water or bell temperature at start and end */
	double bell_p, ambient_p;
	double pos_p[MAX_POS], pos_t[MAX_POS];
	double seconds; /* simulated duration */
	/* The collection lasted between these (rig seconds): a command to the rig takes effect
	 * between its sending and its reply, which a late or lost reply can make seconds of rig
	 * time apart; the plausibility gate knows no more than this interval. */
	double seconds_min, seconds_max;
	/* typed readings (readings: operator): the dial at the start and the end, m3, who typed
	 * them; skip[i]: position i has no reading (it was put in error) */
	int typed;
	struct metro_dec start_m3[MAX_POS], end_m3[MAX_POS];
	char start_by[100], end_by[100];
	int skip[MAX_POS];
	/* gas: the room's temperature and relative humidity at the start, recorded with the point
	 * when the rig has ambient.temp / ambient.humidity (JJG 577 conditions) */
	double amb_t, humidity;
	int has_amb_t, has_humidity;
};

/* Wait until flow.actual has stayed within band of the setpoint, and inside the item's flow
 * window, for `secs` (simulated).  A flow that approaches from below (a standing start) can
 * be within the band but not yet in the window: it is not stable until it is in both. */
static int stabilise(struct metro_engine *e, const struct metro_proc_item *it, double sp)
{
	double band = it->has_stabilise ? eng_dd(it->stab_band_pct) : 5;
	double secs = it->has_stabilise ? eng_dd(it->stab_seconds) : 5;
	const char *chname =
		it->has_stabilise && it->stab_channel ? it->stab_channel : "flow.actual";
	double lim = fmax(60, 10 * secs), stable = 0, waited = 0, v = 0;
	struct metro_dec lo, hi;
	int rc;
	if ((rc = eng_stim(e, it->window_min, &lo)) || (rc = eng_stim(e, it->window_max, &hi)))
		return rc;
	int windowed = !strcmp(chname, "flow.actual");
	uint64_t t0 = metro_now_ns(), in_since = 0;
	while (stable < secs) {
		if (waited > lim)
			return eng_fault(
				e,
				"%s did not stabilise within ±%g %% of %.6g%s in %.0f s (last "
				"%.6g)",
				chname, band, sp, windowed ? " and inside the window" : "", lim, v);
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd(e, chname, &v)))
			return rc;
		struct metro_dec f = metro_dec_from_double(v);
		int in = fabs(v - sp) <= band / 100 * sp &&
			 (!windowed || (metro_dec_cmp(f, lo) >= 0 && metro_dec_cmp(f, hi) <= 0));
		stable = eng_held(e, &in_since, in);
	}
	return METRO_OK;
}

static int in_window(struct metro_engine *e, const struct metro_proc_item *it, double flow)
{
	struct metro_dec lo, hi, f = metro_dec_from_double(flow);
	int rc = eng_stim(e, it->window_min, &lo);
	if (!rc)
		rc = eng_stim(e, it->window_max, &hi);
	if (rc)
		return rc;
	if (metro_dec_cmp(f, lo) < 0 || metro_dec_cmp(f, hi) > 0)
		return eng_fault(e, "%s: actual flow %.6g m3/h outside the window %.6g..%.6g m3/h",
				 it->id, flow, eng_dd(lo), eng_dd(hi));
	return METRO_OK;
}

/* Collect vol litres into the reference (the diverter already sends the water to it) and at
 * least the item's min_seconds, watching the flow's steadiness, the temperature change and the
 * conditions; sets out->flow (mean) and out->seconds.  A violation turns the diverter away
 * and suspends: RERUN once the conditions are back. */
static int collect_volume(struct metro_engine *e, const struct metro_proc_item *it, double sp,
			  double vol, double r0, uint64_t t0, struct flow_meas *out)
{
	int rc = METRO_OK;
	double flow = 0;
	double elapsed = 0, sum = 0, r = r0, steady = eng_dd(it->steady_pct),
	       maxdt = eng_dd(it->max_temp_change), min_s = eng_dd(it->min_seconds);
	long samples = 0;
	double expected = vol / (sp * 1000 / 3600);
	double limit = 3 * fmax(expected, min_s) + 30;
	while (r - r0 < vol || elapsed < min_s) {
		if (elapsed > limit) {
			eng_wr(e, "collect", 0);
			return eng_fault(
				e,
				"%s: the reference volume reached %.6g L of %.6g L in %.0f s "
				"at %.6g m3/h: a rig or profile fault (diverter, word order, "
				"scale?), no meter is judged",
				it->id, r - r0, vol, elapsed, flow);
		}
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		elapsed = eng_rig_seconds(e, t0);
		double t;
		if ((rc = eng_rd(e, "flow.actual", &flow)) || (rc = eng_rd(e, "ref.volume", &r)) ||
		    (rc = eng_rd(e, "water.temp", &t)))
			return rc;
		sum += flow;
		samples++;
		char why[200] = "";
		if (eng_conditions_violated(e, why, sizeof why, &rc) ||
		    (steady > 0 && fabs(flow - sp) > steady / 100 * sp &&
		     snprintf(why, sizeof why, "flow %.6g m3/h not steady within ±%g %% of %.6g",
			      flow, steady, sp)) ||
		    (maxdt > 0 && fabs(t - out->temp0) > maxdt &&
		     snprintf(why, sizeof why, "water temperature changed by %.3g °C (limit %g)",
			      t - out->temp0, maxdt))) {
			if ((rc = eng_wr(e, "collect", 0)))
				return rc;
			rc = eng_wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
	}
	out->flow = samples ? sum / (double)samples : flow;
	out->seconds = elapsed;
	return METRO_OK;
}

/* Wait until the flow has stopped: flow.actual within 0.1 % of the test flow sp (and below
 * 0.0005 m3/h) for one second, simulated time; a fault after a minute. */
static int standstill(struct metro_engine *e, const struct metro_proc_item *it, double sp)
{
	double still = 0, waited = 0, v = 0, lim = fmin(0.001 * sp, 0.0005);
	uint64_t t0 = metro_now_ns(), still_since = 0;
	while (still < 1) {
		if (waited > 60)
			return eng_fault(e, "%s: the flow did not stop within 60 s (%.6g m3/h)",
					 it->id, v);
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		int rc = eng_rd(e, "flow.actual", &v);
		if (rc)
			return rc;
		still = eng_held(e, &still_since, fabs(v) <= lim);
	}
	return METRO_OK;
}

/* Ask the operator for the dial readings (m3) of the positions that still have them. */
static int typed_readings(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			  size_t n, const char *phase, struct metro_dec *vals, char by[100],
			  struct flow_meas *out)
{
	char q[200];
	snprintf(q, sizeof q,
		 "%s: type the %s reading of each meter (m3, every digit the dial shows, "
		 "including the red ones)",
		 it->title ? it->title : it->id, phase);
	return eng_typed_readings(e, it, ps, n, phase, "m3", q, NULL, vals, out->skip, by);
}

/* readings: operator — a mechanical meter without a pulse pick-up, read by the operator at a
 * standing start and a standing stop.  The flow is stopped with the diverter already on the
 * reference, the operator types every dial, the flow runs until the reference volume is
 * collected (steadiness and conditions watched after it has stabilised), stops, and the
 * operator types the dials again.  The indicated volume is the difference, in litres. */
static int water_measure_typed(struct metro_engine *e, const struct metro_proc_item *it, double sp,
			       double vol, struct pos **ps, size_t n, struct flow_meas *out)
{
	int rc;
	double r0 = 0, r1 = 0, flow = 0;
	out->typed = 1;
	if ((rc = eng_wr(e, "flow.run", 0)) || (rc = eng_wr(e, "collect", 0)) ||
	    (rc = standstill(e, it, sp)))
		return rc;
	if (eng_chan(e, "totals.reset") &&
	    ((rc = eng_wr(e, "totals.reset", 1)) || (rc = eng_wr(e, "totals.reset", 0))))
		return rc;
	if ((rc = eng_wr(e, "collect", 1)) || (rc = eng_rd(e, "ref.volume", &r0)) ||
	    (rc = eng_rd(e, "water.temp", &out->temp0)))
		return rc;
	if ((rc = typed_readings(e, it, ps, n, "start", out->start_m3, out->start_by, out)))
		return rc;
	if ((rc = eng_wr(e, "flow.setpoint", sp)) || (rc = eng_wr(e, "flow.run", 1)) ||
	    (rc = stabilise(e, it, sp)) || (rc = eng_rd(e, "flow.actual", &flow)) ||
	    (rc = in_window(e, it, flow)) ||
	    (rc = collect_volume(e, it, sp, vol, r0, metro_now_ns(), out)))
		return rc;
	if ((rc = eng_wr(e, "flow.run", 0)) || (rc = standstill(e, it, sp)) ||
	    (rc = eng_wr(e, "collect", 0)) || (rc = eng_wait_real(e, fmin(0.2, e->io.poll_s))) ||
	    (rc = eng_rd(e, "ref.volume", &r1)) || (rc = eng_rd(e, "water.temp", &out->temp1)))
		return rc;
	if ((rc = typed_readings(e, it, ps, n, "end", out->end_m3, out->end_by, out)))
		return rc;
	out->ref = metro_dec_sub(eng_litres(r1), eng_litres(r0));
	for (size_t i = 0; i < n; i++) {
		if (out->skip[i])
			continue;
		out->vi[i] = metro_dec_mul(metro_dec_sub(out->end_m3[i], out->start_m3[i]),
					   metro_dec_e(1000, 0));
		if (metro_dec_sign(out->vi[i]) <= 0) {
			eng_pos_error(e, ps[i], it, "end reading not above the start reading");
			out->skip[i] = 1;
		}
	}
	return METRO_OK;
}

static int water_measure(struct metro_engine *e, const struct metro_proc_item *it, double sp,
			 double vol, struct pos **ps, size_t n, struct flow_meas *out)
{
	int rc;
	double v0[MAX_POS] = {0}, v1[MAX_POS] = {0}, r0 = 0, r1 = 0;
	if (it->operator_readings)
		return water_measure_typed(e, it, sp, vol, ps, n, out);
	if ((rc = eng_wr(e, "collect", 0)) || (rc = eng_wr(e, "flow.setpoint", sp)) ||
	    (rc = eng_wr(e, "flow.run", 1)) || (rc = stabilise(e, it, sp)))
		return rc;
	double flow = 0;
	if ((rc = eng_rd(e, "flow.actual", &flow)) || (rc = in_window(e, it, flow)))
		return rc;
	if (eng_chan(e, "totals.reset") &&
	    ((rc = eng_wr(e, "totals.reset", 1)) || (rc = eng_wr(e, "totals.reset", 0))))
		return rc;
	if ((rc = eng_rd(e, "ref.volume", &r0)) || (rc = eng_rd_pos(e, "volume", ps, n, v0)) ||
	    (rc = eng_rd(e, "water.temp", &out->temp0)))
		return rc;
	/* The diverter moves somewhere between the sending of each command and its reply. */
	uint64_t open_sent = metro_now_ns(), open_acked, close_sent;
	if ((rc = eng_wr(e, "collect", 1)))
		return rc;
	open_acked = metro_now_ns();
	if ((rc = collect_volume(e, it, sp, vol, r0, open_acked, out)))
		return rc;
	close_sent = metro_now_ns();
	if ((rc = eng_wr(e, "collect", 0)))
		return rc;
	out->seconds_min = eng_rig_between(e, open_acked, close_sent);
	out->seconds_max = eng_rig_seconds(e, open_sent);
	if ((rc = eng_wait_real(e, fmin(0.2, e->io.poll_s))))
		return rc;
	if ((rc = eng_rd(e, "ref.volume", &r1)) || (rc = eng_rd_pos(e, "volume", ps, n, v1)) ||
	    (rc = eng_rd(e, "water.temp", &out->temp1)))
		return rc;
	out->ref = metro_dec_sub(eng_litres(r1), eng_litres(r0));
	for (size_t i = 0; i < n; i++)
		out->vi[i] = metro_dec_sub(eng_litres(v1[i]), eng_litres(v0[i]));
	return METRO_OK;
}

/* The room's temperature and humidity, recorded with a gas point where the rig has them; a
 * reading that is not a number is a rig fault (never a value in a record). */
static int room_conditions(struct metro_engine *e, struct flow_meas *out)
{
	int rc;
	if ((out->has_amb_t = eng_chan(e, "ambient.temp") != NULL) &&
	    (rc = eng_rd(e, "ambient.temp", &out->amb_t)))
		return rc;
	if ((out->has_humidity = eng_chan(e, "ambient.humidity") != NULL) &&
	    (rc = eng_rd(e, "ambient.humidity", &out->humidity)))
		return rc;
	if ((out->has_amb_t && !isfinite(out->amb_t)) ||
	    (out->has_humidity && !isfinite(out->humidity)))
		return eng_fault(e, "ambient.temp or ambient.humidity is not a number");
	return METRO_OK;
}

static int gas_measure(struct metro_engine *e, const struct metro_proc_item *it, double sp,
		       double vol, struct pos **ps, size_t n, struct flow_meas *out)
{
	int rc;
	double v0[MAX_POS] = {0}, v1[MAX_POS] = {0}, p0[MAX_POS] = {0}, p1[MAX_POS] = {0};
	double t0[MAX_POS] = {0}, t1[MAX_POS] = {0};
	double b0 = 0, b1 = 0, bp0 = 0, bp1 = 0, bt1 = 0;
	/* Standing start and stop: the bell and the meters are read with the valve closed, so a
	 * slow serial line cannot skew the volumes against each other. */
	if ((rc = eng_wr(e, "valve", 0)) || (rc = eng_wr(e, "flow.setpoint", sp)))
		return rc;
	if (eng_chan(e, "bell.reset") &&
	    ((rc = eng_wr(e, "bell.reset", 1)) || (rc = eng_wr(e, "bell.reset", 0))))
		return rc;
	if ((rc = eng_rd(e, "bell.volume", &b0)) || (rc = eng_rd_pos(e, "volume", ps, n, v0)) ||
	    (rc = eng_rd_pos(e, "pressure", ps, n, p0)) ||
	    (rc = eng_rd_pos(e, "temp", ps, n, t0)) || (rc = eng_rd(e, "bell.pressure", &bp0)) ||
	    (rc = eng_rd(e, "bell.temp", &out->temp0)) ||
	    (rc = eng_rd(e, "ambient.pressure", &out->ambient_p)))
		return rc;
	if ((rc = room_conditions(e, out)))
		return rc;
	/* The bell moves from some time between the opening command and its reply until the
	 * flow has come to rest after the closing one. */
	uint64_t open_sent = metro_now_ns(), close_sent = 0;
	if ((rc = eng_wr(e, "valve", 1)))
		return rc;
	double elapsed = 0, b = b0, flow = 0, sum = 0, min_s = eng_dd(it->min_seconds);
	double settle = it->has_stabilise ? eng_dd(it->stab_seconds) : 5;
	double band = it->has_stabilise ? eng_dd(it->stab_band_pct) : 5;
	long samples = 0;
	double limit = 3 * fmax(vol / (sp * 1000 / 3600), min_s) + 30;
	uint64_t start = metro_now_ns();
	while (b - b0 < vol || elapsed < min_s) {
		if (elapsed > limit) {
			eng_wr(e, "valve", 0);
			return eng_fault(e, "%s: %.6g L of %.6g L passed in %.0f s", it->id, b - b0,
					 vol, elapsed);
		}
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		if ((rc = eng_rd(e, "bell.volume", &b)))
			return rc;
		/* The time of the bell reading: a read that waited for a lost reply took seconds,
		 * at a time scale minutes of the rig's time, and the bell ran on meanwhile. */
		elapsed = eng_rig_seconds(e, start);
		/* Collected, with the flow seen in band at least once: the valve closes now, the
		 * flow is not judged any more.  After a stall on the line (a lost reply's timeout
		 * is a minute of rig time at time scale 120) the bell may already be at the
		 * bottom of its stroke, flow 0: for the volumes, read at rest, that is a standing
		 * stop like closing the valve, not a disturbed collection. */
		if (b - b0 >= vol && elapsed >= min_s && samples)
			break;
		if ((rc = eng_rd(e, "flow.actual", &flow)))
			return rc;
		char why[200];
		if (elapsed >= settle && fabs(flow - sp) > band / 100 * sp) {
			/* A disturbed flow (a meter that sticks, the bell at the bottom of its
			 * stroke after a long stall on the line) invalidates the run: the valve
			 * closes and the point is run again, as after a suspension; after
			 * MAX_RERUNS the point is a rig fault. */
			snprintf(why, sizeof why,
				 "%s: flow %.6g m3/h not within ±%g %% of %.6g (%.1f s after the "
				 "valve opened, %.6g L passed, bell at %.6g L)",
				 it->id, flow, band, sp, elapsed, b - b0, b);
			if ((rc = eng_wr(e, "valve", 0)))
				return rc;
			metro_warn("run %s: %s: the point is run again", e->b->run_id, why);
			rc = eng_wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (elapsed >= settle) {
			sum += flow;
			samples++;
		}
		if (eng_conditions_violated(e, why, sizeof why, &rc)) {
			if ((rc = eng_wr(e, "valve", 0)))
				return rc;
			rc = eng_wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
	}
	close_sent = metro_now_ns();
	if ((rc = eng_wr(e, "valve", 0)))
		return rc;
	/* Let the bell and the meters come to rest before reading them. */
	for (uint64_t rest = metro_now_ns(); eng_rig_seconds(e, rest) < 30;) {
		if ((rc = eng_wait_real(e, e->io.poll_s)) || (rc = eng_rd(e, "flow.actual", &flow)))
			return rc;
		if (flow <= 0.001 * sp)
			break;
	}
	out->seconds_min = eng_rig_between(e, start, close_sent);
	out->seconds_max = eng_rig_seconds(e, open_sent);
	if ((rc = eng_rd(e, "bell.volume", &b1)) || (rc = eng_rd_pos(e, "volume", ps, n, v1)) ||
	    (rc = eng_rd_pos(e, "pressure", ps, n, p1)) ||
	    (rc = eng_rd_pos(e, "temp", ps, n, t1)) || (rc = eng_rd(e, "bell.pressure", &bp1)) ||
	    (rc = eng_rd(e, "bell.temp", &bt1)))
		return rc;
	out->flow = samples ? sum / (double)samples : flow;
	if ((rc = in_window(e, it, out->flow)))
		return rc;
	out->ref = metro_dec_sub(eng_litres(b1), eng_litres(b0));
	out->bell_p = (bp0 + bp1) / 2;
	out->temp1 = bt1;
	for (size_t i = 0; i < n; i++) {
		out->vi[i] = metro_dec_sub(eng_litres(v1[i]), eng_litres(v0[i]));
		out->pos_p[i] = (p0[i] + p1[i]) / 2;
		out->pos_t[i] = (t0[i] + t1[i]) / 2;
	}
	out->seconds = elapsed;
	return METRO_OK;
}

/* An error as carried into a repeat rule: rounded half to even to 1e-10 %.  The errors of
 * measured volumes are exact fractions whose denominators are the reference volumes' digits;
 * the mean of three or four of them can exceed exact 128-bit arithmetic.  1e-10 % is far below
 * any rounding interval or meaningful digit (a verdict at a boundary is not affected: a value
 * that is exactly on a limit has few decimals and is kept exactly). */
struct metro_dec eng_carry(struct metro_dec err)
{
	struct metro_dec out;
	if (metro_mx_round(err, metro_dec_e(1, -10), &out))
		return err;
	return out;
}

/* Judge one position's run of a water point: the error and its judgement from the indicated
 * and the reference volume; the inputs and intermediate values into vals.  Returns the
 * metrology module's code (0, or the point cannot be judged: the reason is in vals). */
static int judge_water(struct metro_engine *e, const struct pos *p, const struct flow_meas *m,
		       size_t i, struct metro_dec flow_d, struct metro_mx_limits lim, json_t *vals,
		       struct metro_mx_judgement *jm, struct metro_dec *mpe)
{
	const char *cls = metro_batch_text(e->b, p->m, "class");
	int crc;
	struct metro_mx_water_input in = {0};
	struct metro_mx_water_result res;
	in.meter.q3 = metro_batch_value(e->b, p->m, "q3");
	in.meter.r = metro_batch_value(e->b, p->m, "r");
	metro_mx_parse_wclass(cls, &in.meter.cls);
	in.limits = lim;
	/* The zone is the test point's: the nominal flow, exact.  The
	 * window has already checked that the measured flow belongs to it.
	 */
	in.flow = flow_d;
	in.temp_c = eng_rounded((m->temp0 + m->temp1) / 2, 3);
	in.method = METRO_MX_WATER_VOLUMETRIC;
	in.indicated_l = m->vi[i];
	in.actual_l = m->ref;
	crc = metro_mx_water_check(&in, &res);
	*jm = res.judgement;
	*mpe = res.point.mpe.mpe;
	json_object_set_new(vals, "indicated_l", metro_dec_json(m->vi[i]));
	json_object_set_new(vals, "reference_l", metro_dec_json(m->ref));
	if (m->typed) {
		json_object_set_new(vals, "start_reading_m3", metro_dec_json(m->start_m3[i]));
		json_object_set_new(vals, "end_reading_m3", metro_dec_json(m->end_m3[i]));
		json_object_set_new(vals, "readings_typed_by",
				    json_pack("[ss]", m->start_by, m->end_by));
	}
	json_object_set_new(vals, "flow_m3h", metro_dec_json(eng_rounded(m->flow, 6)));
	json_object_set_new(vals, "test_flow_m3h", metro_dec_json(flow_d));
	json_object_set_new(vals, "temp_c", metro_dec_json(in.temp_c));
	json_object_set_new(vals, "zone", json_string(metro_mx_zone_name(res.point.mpe.zone)));
	if (crc)
		json_object_set_new(vals, "error",
				    json_string(res.bad.reason ? res.bad.reason : "refused"));
	return crc;
}

/* The same for a gas point on a bell prover: the bell volume corrected to the meter's
 * pressure and temperature. */
static int judge_gas(struct metro_engine *e, const struct pos *p, const struct flow_meas *m,
		     size_t i, struct metro_dec flow_d, struct metro_mx_limits lim, json_t *vals,
		     struct metro_mx_judgement *jm, struct metro_dec *mpe)
{
	const char *cls = metro_batch_text(e->b, p->m, "class");
	int crc;
	struct metro_mx_gas_input in = {0};
	struct metro_mx_gas_result res;
	metro_mx_parse_gclass(cls, &in.cls);
	in.qmax = metro_batch_value(e->b, p->m, "qmax");
	struct metro_dec qmin = metro_batch_value(e->b, p->m, "qmin");
	in.qmin = metro_dec_valid(qmin) ? qmin : metro_dec_e(0, 0);
	in.flow = flow_d;
	in.limits = lim;
	in.method = METRO_MX_GAS_BELL;
	in.ref.p_atm_kpa = eng_rounded(m->ambient_p, 4);
	in.ref.ref_volume_l = m->ref;
	in.ref.ref_p_kpa = eng_rounded(m->bell_p, 4);
	in.ref.ref_t_c = eng_rounded((m->temp0 + m->temp1) / 2, 3);
	in.ref.meter_volume_l = m->vi[i];
	in.ref.meter_p_kpa = eng_rounded(m->pos_p[i], 4);
	in.ref.meter_t_c = eng_rounded(m->pos_t[i], 3);
	crc = metro_mx_gas_check(&in, &res);
	*jm = res.judgement;
	*mpe = res.point.mpe.mpe;
	json_object_set_new(vals, "indicated_l", metro_dec_json(m->vi[i]));
	json_object_set_new(vals, "bell_l", metro_dec_json(m->ref));
	json_object_set_new(vals, "reference_l", metro_dec_json(res.ref.reference_l));
	json_object_set_new(vals, "pressure_factor", metro_dec_json(res.ref.pressure_factor));
	json_object_set_new(vals, "temperature_factor", metro_dec_json(res.ref.temperature_factor));
	json_object_set_new(vals, "flow_m3h", metro_dec_json(eng_rounded(m->flow, 6)));
	json_object_set_new(vals, "test_flow_m3h", metro_dec_json(flow_d));
	json_object_set_new(vals, "p_atm_kpa", metro_dec_json(in.ref.p_atm_kpa));
	json_object_set_new(vals, "bell_p_kpa", metro_dec_json(in.ref.ref_p_kpa));
	json_object_set_new(vals, "bell_t_c", metro_dec_json(in.ref.ref_t_c));
	json_object_set_new(vals, "meter_p_kpa", metro_dec_json(in.ref.meter_p_kpa));
	json_object_set_new(vals, "meter_t_c", metro_dec_json(in.ref.meter_t_c));
	if (m->has_amb_t)
		json_object_set_new(vals, "ambient_t_c", metro_dec_json(eng_rounded(m->amb_t, 2)));
	if (m->has_humidity)
		json_object_set_new(vals, "humidity_pct",
				    metro_dec_json(eng_rounded(m->humidity, 1)));
	json_object_set_new(vals, "zone", json_string(metro_mx_zone_name(res.point.mpe.zone)));
	if (crc)
		json_object_set_new(vals, "error",
				    json_string(res.bad.reason ? res.bad.reason : "refused"));
	return crc;
}

int eng_flow_point(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec flow_d, vol_d;
	int rc = eng_stim(e, it->flow, &flow_d);
	if (!rc)
		rc = eng_stim(e, it->volume_l, &vol_d);
	if (rc)
		return rc;
	int gas = !strcmp(e->b->proc->meter, "gas");
	for (size_t i = 0; i < n; i++) {
		ps[i]->nruns = 0;
		ps[i]->nextra = 0;
		ps[i]->done_item = 0;
	}
	struct metro_mx_limits lim = eng_limits_of(e);
	struct flow_meas *m = metro_calloc(1, sizeof *m);
	int reruns = 0;
	for (;;) {
		/* Positions that still need runs of this point. */
		struct pos *need[MAX_POS];
		size_t nn = 0;
		for (size_t i = 0; i < n; i++)
			if (ps[i]->active && !ps[i]->done_item)
				need[nn++] = ps[i];
		if (!nn)
			break;
		memset(m, 0, sizeof *m);
		rc = gas ? gas_measure(e, it, eng_dd(flow_d), eng_dd(vol_d), need, nn, m)
			 : water_measure(e, it, eng_dd(flow_d), eng_dd(vol_d), need, nn, m);
		if (rc == RERUN) {
			if (++reruns > MAX_RERUNS) {
				rc = eng_fault(e, "%s interrupted %d times", it->id, reruns);
				break;
			}
			continue;
		}
		if (rc)
			break;
		/* A flying start and stop: the reference is the flow's integral over the
		 * collection.  (With a standing start the ramps are in the reference too.) */
		if (!m->typed && (rc = eng_plausible_reference(e, it, m->ref, m->flow,
							       m->seconds_min, m->seconds_max)))
			break;
		for (size_t i = 0; i < nn; i++) {
			struct pos *p = need[i];
			if (m->skip[i])
				continue; /* no typed reading: already in error */
			json_t *vals = json_object();
			struct metro_mx_judgement jm;
			struct metro_dec mpe;
			int crc;
			crc = gas ? judge_gas(e, p, m, i, flow_d, lim, vals, &jm, &mpe)
				  : judge_water(e, p, m, i, flow_d, lim, vals, &jm, &mpe);
			json_object_set_new(vals, "seconds", json_real(m->seconds));
			if (gas) /* the test volume asked for: whole cycles of the meter */
				json_object_set_new(vals, "test_volume_l", metro_dec_json(vol_d));
			if (crc) {
				/* The measured point is outside what the rule covers (e.g. a flow
				 * outside Q1..Q4): a rig or procedure problem, not the meter's. */
				json_decref(vals);
				eng_pos_error(e, p, it, "cannot judge the measured point");
				continue;
			}
			if (eng_plausible_error(e, p, it, &m->vi[i], m->ref, jm.value, mpe)) {
				json_decref(vals);
				continue;
			}
			p->runs[p->nruns++] = eng_carry(jm.value);
			/* The water rule decides after the first run and again after the two
			 * extra ones; a run in between only waits for its sibling. */
			if (it->repeat == METRO_REPEAT_WATER_RETEST && p->nruns > 1 &&
			    p->nruns < 1 + p->nextra) {
				json_object_set_new(vals, "run",
						    json_integer((json_int_t)p->nruns));
				json_object_set_new(vals, "last_run", metro_mx_judgement_json(&jm));
				eng_point_pending(e, p, it, vals, (int)p->nruns);
				continue;
			}
			struct metro_mx_repeat rep;
			if (gas) {
				struct metro_mx_gas_rule rule = {(size_t)it->runs,
								 METRO_MX_MEAN_ONLY};
				crc = metro_mx_gas_repeat(p->runs, p->nruns, &rule, mpe, &rep);
			} else if (it->repeat == METRO_REPEAT_WATER_RETEST) {
				crc = metro_mx_water_repeat(p->runs, p->nruns, mpe, &rep);
			} else {
				struct metro_mx_gas_rule rule = {1, METRO_MX_MEAN_ONLY};
				crc = metro_mx_gas_repeat(p->runs, p->nruns, &rule, mpe, &rep);
			}
			json_object_set_new(vals, "run", json_integer((json_int_t)p->nruns));
			json_object_set_new(vals, "last_run", metro_mx_judgement_json(&jm));
			if (crc) {
				json_decref(vals);
				eng_pos_error(e, p, it, "repeat rule refused the runs");
				continue;
			}
			if (rep.needs_more) {
				p->nextra = rep.more;
				/* Published as an intermediate point: the run that asks for more.
				 */
				json_object_set_new(vals, "needs_more",
						    json_integer((json_int_t)rep.more));
				eng_point_pending(e, p, it, vals, (int)p->nruns);
				continue;
			}
			json_object_set_new(vals, "runs", eng_runs_json(p->runs, p->nruns));
			json_object_set_new(vals, "mean", metro_dec_json(rep.mean));
			p->done_item = 1;
			eng_point_doc(e, p, it, vals, &rep.judgement, (int)p->nruns,
				      rep.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS
								   : METRO_VERDICT_FAIL);
		}
	}
	free(m);
	return rc;
}
