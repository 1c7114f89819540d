/* electricity.c — electricity meters on a bench (JJG 596): load points, start and creep,
 * the constant test. */
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

/* ---- electricity ------------------------------------------------------------------------- */

static double phase_of(const char *pf)
{
	if (!strcmp(pf, "0.5L"))
		return 60.0;
	if (!strcmp(pf, "0.8C"))
		return -acos(0.8) * 180.0 / M_PI;
	return 0.0;
}

static int source(struct metro_engine *e, double u, double i, double phase, double settle)
{
	int rc;
	if ((rc = eng_wr(e, "source.voltage", u)) || (rc = eng_wr(e, "source.current", i)) ||
	    (rc = eng_wr(e, "source.phase", phase)) || (rc = eng_wr(e, "source.on", 1)))
		return rc;
	double waited = 0, ru = 0, ri = 0;
	double limit = fmax(settle, 1) + 30;
	uint64_t t0 = metro_now_ns();
	for (;;) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd(e, "ref.voltage", &ru)) || (rc = eng_rd(e, "ref.current", &ri)))
			return rc;
		int ok = fabs(ru - u) <= 0.01 * u && fabs(ri - i) <= fmax(0.01 * i, 1e-4);
		if (ok && waited >= settle)
			return METRO_OK;
		if (waited > limit)
			return eng_fault(
				e,
				"source did not reach %.6g V %.6g A (reference meter: %.6g V "
				"%.6g A)",
				u, i, ru, ri);
	}
}

static int elec_meter(const struct metro_engine *e, const struct pos *p,
		      struct metro_mx_elec_meter *m, enum metro_mx_phases *ph)
{
	const char *cls = metro_batch_text(e->b, p->m, "class");
	const char *conn = metro_batch_text(e->b, p->m, "connection");
	const char *phases = metro_batch_text(e->b, p->m, "phases");
	memset(m, 0, sizeof *m);
	if (metro_mx_parse_eclass(cls, &m->cls) || metro_mx_parse_connection(conn, &m->conn) ||
	    metro_mx_parse_phases(phases, ph))
		return METRO_E_INVAL;
	m->rated_a = metro_batch_value(e->b, p->m, "ib");
	m->imax_a = metro_batch_value(e->b, p->m, "imax");
	return METRO_OK;
}

/* Arm the error calculators of the positions and wait for every result; m[i] = counted
 * reference pulses, or -1 for a position whose calculator did not finish. */
static int calculators(struct metro_engine *e, struct pos **ps, size_t n, double seconds_each,
		       double *m)
{
	int rc;
	for (size_t i = 0; i < n; i++) {
		if ((rc = eng_wr_pos(e, "meter_constant", ps[i], eng_dd(ps[i]->constant))) ||
		    (rc = eng_wr_pos(e, "pulses_n", ps[i], (double)ps[i]->n_pulses)) ||
		    (rc = eng_wr_pos(e, "start", ps[i], 0)) ||
		    (rc = eng_wr_pos(e, "start", ps[i], 1)))
			return rc;
	}
	double status[MAX_POS] = {0}, waited = 0, limit = 3 * seconds_each + 20;
	uint64_t t0 = metro_now_ns();
	for (;;) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd_pos(e, "status", ps, n, status)))
			return rc;
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += status[i] == 2;
		if (done == n || waited > limit)
			break;
	}
	if ((rc = eng_rd_pos(e, "ref_pulses", ps, n, m)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (status[i] != 2)
			m[i] = -1;
		eng_wr_pos(e, "start", ps[i], 0);
	}
	return METRO_OK;
}

int eng_load_point(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec cur = {0, 0}, volt = {0, 0};
	int rc = eng_stim(e, it->current, &cur);
	if (!rc)
		rc = it->voltage ? eng_stim(e, it->voltage, &volt)
				 : (volt = metro_batch_value(e->b, ps[0]->m, "un"), METRO_OK);
	if (rc)
		return rc;
	enum metro_mx_pf pf;
	metro_mx_parse_pf(it->pf, &pf);
	if ((rc = source(e, eng_dd(volt), eng_dd(cur), phase_of(it->pf),
			 eng_dd(it->settle_seconds))))
		return rc;
	double c0;
	if ((rc = eng_rd(e, "ref.constant", &c0)))
		return rc;
	double longest = 0;
	for (size_t i = 0; i < n; i++) {
		struct metro_mx_elec_meter mm;
		enum metro_mx_phases ph;
		elec_meter(e, ps[i], &mm, &ph);
		ps[i]->constant = metro_batch_value(e->b, ps[i]->m, "meter_constant");
		struct metro_mx_pulses_input pin = {volt,	    cur, pf, ph, ps[i]->constant,
						    it->min_seconds};
		if (!metro_dec_valid(pin.min_seconds) || metro_dec_sign(pin.min_seconds) <= 0)
			pin.min_seconds = metro_dec_e(5, 0);
		struct metro_mx_pulses_result pr;
		if (metro_mx_pulses_needed(&pin, &pr))
			return eng_fault(e, "%s: cannot compute the meter pulses for position %d",
					 it->id, ps[i]->m->position);
		ps[i]->n_pulses = pr.pulses;
		longest = fmax(longest, (double)pr.pulses * pr.period_s);
		ps[i]->nruns = 0;
		ps[i]->nextra = 0;
		ps[i]->done_item = 0;
	}
	struct metro_mx_limits lim = eng_limits_of(e);
	for (;;) {
		struct pos *need[MAX_POS];
		size_t nn = 0;
		for (size_t i = 0; i < n; i++)
			if (ps[i]->active && !ps[i]->done_item)
				need[nn++] = ps[i];
		if (!nn)
			break;
		double counted[MAX_POS] = {0};
		if ((rc = calculators(e, need, nn, longest, counted)))
			return rc;
		for (size_t i = 0; i < nn; i++) {
			struct pos *p = need[i];
			if (counted[i] < 0) {
				eng_pos_error(e, p, it, "error calculator gave no result in time");
				continue;
			}
			struct metro_mx_pulse_input pin = {
				metro_dec_from_double(c0),   p->constant,
				metro_dec_e(p->n_pulses, 0), metro_dec_from_double(counted[i]),
				metro_dec_e(1, 0),	     metro_dec_e(1, 0)};
			struct metro_dec m0, err;
			if (metro_mx_pulse_error(&pin, &m0, &err)) {
				eng_pos_error(e, p, it, "pulse counts refused (m = %.0f)",
					      counted[i]);
				continue;
			}
			p->runs[p->nruns++] = eng_carry(err);
			/* JJG 596 practice: two readings, averaged; two more when that mean lies in
			 * 80-120 % of the MPE, and then all four averaged. */
			if (p->nruns < 2 || (p->nextra && p->nruns < 2 + p->nextra))
				continue;
			struct metro_mx_elec_input in = {0};
			enum metro_mx_phases ph;
			elec_meter(e, p, &in.meter, &ph);
			in.current.mult = metro_dec_div(cur, in.meter.rated_a);
			in.current.base = in.meter.conn == METRO_MX_CT ? METRO_MX_IN : METRO_MX_IB;
			in.pf = pf;
			in.limits = lim;
			in.method = METRO_MX_ELEC_READINGS;
			memcpy(in.readings, p->runs, p->nruns * sizeof *p->runs);
			in.nreadings = p->nruns;
			in.nextra = p->nextra;
			struct metro_mx_elec_result res;
			if (metro_mx_elec_check(&in, &res)) {
				eng_pos_error(e, p, it, "cannot judge: %s %s",
					      res.bad.input ? res.bad.input : "",
					      res.bad.reason ? res.bad.reason : "");
				continue;
			}
			if (eng_plausible_error(e, p, it, NULL, metro_dec_e(0, 0),
						res.judgement.value, res.judgement.mpe))
				continue;
			if (!res.complete) {
				p->nextra = res.repeat.more;
				continue;
			}
			json_t *vals = json_object();
			json_object_set_new(vals, "voltage_v", metro_dec_json(volt));
			json_object_set_new(vals, "current_a", metro_dec_json(cur));
			json_object_set_new(vals, "current_ratio", metro_dec_json(in.current.mult));
			json_object_set_new(vals, "pf", json_string(metro_mx_pf_name(pf)));
			json_object_set_new(vals, "meter_pulses", json_integer(p->n_pulses));
			json_object_set_new(vals, "standard_constant", metro_dec_json(pin.c0));
			json_object_set_new(vals, "meter_constant", metro_dec_json(p->constant));
			json_object_set_new(vals, "computed_pulses_last", metro_dec_json(m0));
			json_object_set_new(vals, "standard_pulses_last", json_real(counted[i]));
			json_object_set_new(vals, "readings", eng_runs_json(p->runs, p->nruns));
			json_object_set_new(vals, "mean", metro_dec_json(res.repeat.mean));
			json_object_set_new(vals, "band_80_120", json_boolean(res.repeat.band));
			json_object_set_new(vals, "zone_low", metro_dec_json(res.point.low));
			p->done_item = 1;
			eng_point_doc(e, p, it, vals, &res.judgement, 1,
				      res.judgement.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS
									     : METRO_VERDICT_FAIL);
		}
	}
	return METRO_OK;
}

/* Start and creep tests share a shape: a fixed stimulus for the longest of the positions' time
 * limits, watching each position's free-running pulse counter.  watched_min is, for each
 * position, the rig time of the last look whose counts were taken: the time the counted
 * pulses were counted over (the time limit, up to the wake-up jitter). */
static int pulse_watch(struct metro_engine *e, struct pos **ps, size_t n, const double *limit_min,
		       double *first_min, long *pulses, double *watched_min)
{
	double base[MAX_POS] = {0}, now[MAX_POS] = {0}, longest = 0;
	int rc = eng_rd_pos(e, "meter_pulses", ps, n, base);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		longest = fmax(longest, limit_min[i]);
		first_min[i] = -1;
		pulses[i] = 0;
		watched_min[i] = 0;
	}
	double elapsed_min = 0, prev_min = 0;
	uint64_t t0 = metro_now_ns();
	while (elapsed_min < longest) {
		/* the next look is at the next position's time limit at the latest, so that the
		 * counts read there are the counts within the limit (up to the wake-up jitter) */
		double next = longest;
		for (size_t i = 0; i < n; i++)
			if (limit_min[i] > elapsed_min && limit_min[i] < next)
				next = limit_min[i];
		double wait_s = fmin(e->io.poll_s, (next - elapsed_min) * 60 / e->b->time_scale);
		if (eng_wait_real(e, fmax(wait_s, 0.001)))
			return METRO_E_STATE;
		prev_min = elapsed_min;
		elapsed_min = eng_rig_seconds(e, t0) / 60;
		if ((rc = eng_rd_pos(e, "meter_pulses", ps, n, now)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (prev_min >= limit_min[i])
				continue; /* this position's time was over before this look: later
					     pulses do not count */
			long c = (long)(now[i] - base[i]);
			if (c > 0 && first_min[i] < 0)
				first_min[i] = elapsed_min;
			pulses[i] = c;
			watched_min[i] = elapsed_min;
		}
		char why[200];
		if (eng_conditions_violated(e, why, sizeof why, &rc)) {
			rc = eng_wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
	}
	return METRO_OK;
}

int eng_start_or_creep(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	int creep = it->kind == METRO_ITEM_CREEP_TEST;
	double limit_min[MAX_POS] = {0}, first[MAX_POS] = {0}, watched[MAX_POS] = {0};
	long pulses[MAX_POS];
	struct metro_dec current = metro_dec_e(0, 0), voltage = metro_dec_e(0, 0);
	json_t *info[MAX_POS];
	for (size_t i = 0; i < n; i++) {
		struct metro_mx_elec_meter mm;
		enum metro_mx_phases ph;
		elec_meter(e, ps[i], &mm, &ph);
		struct metro_dec un = metro_batch_value(e->b, ps[i]->m, "un");
		struct metro_dec c = metro_batch_value(e->b, ps[i]->m, "meter_constant");
		if (creep) {
			struct metro_mx_creep_input in = {mm.cls, mm.conn, mm.imax_a, un, c, ph};
			struct metro_mx_creep_result r;
			if (metro_mx_creep(&in, &r))
				return eng_fault(e, "creep test: %s",
						 r.bad.reason ? r.bad.reason : "refused");
			voltage = r.voltage_v;
			limit_min[i] = r.time_min;
			info[i] = json_pack("{sosfsosf}", "voltage_v", metro_dec_json(r.voltage_v),
					    "time_min", r.time_min, "k", metro_dec_json(r.k), "m",
					    r.m);
		} else {
			struct metro_mx_start_input in = {mm.cls, mm.conn, mm.rated_a, un, c, ph};
			struct metro_mx_start_result r;
			if (metro_mx_start(&in, &r))
				return eng_fault(e, "start test: %s",
						 r.bad.reason ? r.bad.reason : "refused");
			current = r.current_a;
			voltage = un;
			limit_min[i] = r.time_min;
			info[i] = json_pack("{sososfsf}", "current_a", metro_dec_json(r.current_a),
					    "factor", metro_dec_json(r.factor), "time_min",
					    r.time_min, "m", r.m);
		}
	}
	if (it->voltage && !creep && eng_stim(e, it->voltage, &voltage))
		return METRO_E_IO;
	/* The error calculators learn each meter's constant (their pulse inputs are scaled by it,
	 * and a simulated meter takes it as its own). */
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = eng_wr_pos(e, "meter_constant", ps[i],
				eng_dd(metro_batch_value(e->b, ps[i]->m, "meter_constant")));
	if (!rc)
		rc = source(e, eng_dd(voltage), eng_dd(current), 0, 1);
	if (!rc)
		rc = pulse_watch(e, ps, n, limit_min, first, pulses, watched);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			json_decref(info[i]);
		return rc;
	}
	/* The evidence of each point: the stimulus applied (voltage, current), the time limit and
	 * the time watched, the pulses counted and the pulses allowed (creep) or required (start).
	 */
	for (size_t i = 0; i < n; i++) {
		enum metro_mx_verdict v;
		json_object_set_new(info[i], "pulses", json_integer(pulses[i]));
		json_object_set_new(info[i], "watched_min", json_real(watched[i]));
		json_object_set_new(info[i], "applied_voltage_v", metro_dec_json(voltage));
		json_object_set_new(info[i], "applied_current_a", metro_dec_json(current));
		if (creep) {
			metro_mx_creep_judge(pulses[i], it->allowed_pulses, &v);
			json_object_set_new(info[i], "allowed_pulses",
					    json_integer(it->allowed_pulses));
		} else {
			json_object_set_new(info[i], "required_pulses", json_integer(1));
			struct metro_mx_start_result r = {0};
			r.time_min = limit_min[i];
			metro_mx_start_judge(&r, pulses[i], first[i] < 0 ? 0 : first[i], &v);
			if (first[i] >= 0)
				json_object_set_new(info[i], "first_pulse_min",
						    json_real(first[i]));
		}
		eng_point_doc(e, ps[i], it, info[i], NULL, 1,
			      v == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

int eng_constant_test(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec cur = {0, 0}, volt = {0, 0}, kwh = {0, 0};
	int rc = eng_stim(e, it->current, &cur);
	if (!rc)
		rc = it->voltage ? eng_stim(e, it->voltage, &volt)
				 : (volt = metro_batch_value(e->b, ps[0]->m, "un"), METRO_OK);
	if (!rc)
		rc = eng_stim(e, it->energy_kwh, &kwh);
	/* Standing start and stop: the reference and the meters are read with no current, so
	 * that reading 24 positions over a slow line cannot skew them against each other. */
	if (!rc)
		rc = source(e, eng_dd(volt), 0, phase_of(it->pf), 1);
	if (rc)
		return rc;
	double e0 = 0, e1 = 0, p0[MAX_POS] = {0}, p1[MAX_POS] = {0};
	if ((rc = eng_rd(e, "ref.energy", &e0)) ||
	    (rc = eng_rd_pos(e, "meter_pulses", ps, n, p0)) ||
	    (rc = source(e, eng_dd(volt), eng_dd(cur), phase_of(it->pf),
			 eng_dd(it->settle_seconds))))
		return rc;
	double target = eng_dd(kwh) * 1000, waited = 0, e_now = e0;
	double power = eng_dd(volt) * eng_dd(cur) * cos(phase_of(it->pf) * M_PI / 180);
	double limit = 3 * target / fmax(power, 1e-6) * 3600 + 30;
	uint64_t t0 = metro_now_ns();
	while (e_now - e0 < target) {
		if (waited > limit)
			return eng_fault(e, "%s: %.6g Wh of %.6g Wh in %.0f s", it->id, e_now - e0,
					 target, waited);
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd(e, "ref.energy", &e_now)))
			return rc;
	}
	if ((rc = source(e, eng_dd(volt), 0, phase_of(it->pf), 1)) ||
	    (rc = eng_rd_pos(e, "meter_pulses", ps, n, p1)) || (rc = eng_rd(e, "ref.energy", &e1)))
		return rc;
	struct metro_dec ref_wh =
		metro_dec_sub(metro_dec_from_double(e1), metro_dec_from_double(e0));
	for (size_t i = 0; i < n; i++) {
		struct metro_dec c = metro_batch_value(e->b, ps[i]->m, "meter_constant");
		struct metro_dec pulses = metro_dec_from_double(p1[i] - p0[i]);
		/* indicated energy in Wh = pulses / C[imp/kWh] × 1000 */
		struct metro_dec ind =
			metro_dec_div(metro_dec_mul(pulses, metro_dec_e(1000, 0)), c);
		struct metro_dec err;
		json_t *vals =
			json_pack("{sosososo}", "pulses", metro_dec_json(pulses), "meter_constant",
				  metro_dec_json(c), "indicated_wh", metro_dec_json(ind),
				  "reference_wh", metro_dec_json(ref_wh));
		if (metro_mx_volume_error(ind, ref_wh, &err)) {
			json_decref(vals);
			eng_pos_error(e, ps[i], it, "no reference energy");
			continue;
		}
		struct metro_mx_judgement j;
		metro_mx_judge(err, it->limit_pct, METRO_MX_RULE_FULL, metro_dec_e(0, 0), &j);
		eng_point_doc(e, ps[i], it, vals, &j, 1,
			      j.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}
