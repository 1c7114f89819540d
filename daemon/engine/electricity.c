/* electricity.c — electricity meters on a bench (JJG 596): load points, start and creep,
 * the constant (register) test, the daily timing error. */
#include "engine.h"
#include "engine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elecreg.h"
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

/* ---- the constant (register) test -------------------------------------------------------- */

/* The register test's limit for position p: the procedure's limit_pct, or (limit_pct: class)
 * the MPE of the meter's class at the test's load, from the table of the load points. */
static int register_limit(struct metro_engine *e, const struct pos *p,
			  const struct metro_proc_item *it, struct metro_dec cur,
			  struct metro_dec *limit)
{
	if (!it->limit_by_class) {
		*limit = it->limit_pct;
		return METRO_OK;
	}
	struct metro_mx_elec_meter mm;
	enum metro_mx_phases ph;
	enum metro_mx_pf pf;
	if (elec_meter(e, p, &mm, &ph) || metro_mx_parse_pf(it->pf, &pf))
		return METRO_E_INVAL;
	struct metro_mx_current c = {metro_dec_div(cur, mm.rated_a),
				     mm.conn == METRO_MX_CT ? METRO_MX_IN : METRO_MX_IB};
	struct metro_mx_limits lim = eng_limits_of(e);
	struct metro_mx_elec_point pt;
	if (metro_mx_elec_mpe(&mm, &c, pf, &lim, &pt))
		return METRO_E_INVAL;
	*limit = pt.mpe.mpe;
	return METRO_OK;
}

/* The register readings (kWh) of the positions not yet skipped: read over the rig
 * (pos[N].register) or typed by the operator at a prompt.  A position without a reading is put
 * in error and skipped.  by: who typed them ("" when read over the rig). */
static int register_read(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			 size_t n, const char *phase, struct metro_dec *out, int *skip,
			 char by[100])
{
	if (!it->register_typed) {
		double v[MAX_POS] = {0};
		int rc = eng_rd_pos(e, "register", ps, n, v);
		for (size_t i = 0; !rc && i < n; i++)
			out[i] = eng_rounded(v[i], 6); /* far below any register's step */
		return rc;
	}
	char q[240];
	snprintf(q, sizeof q,
		 "%s: type the %s register reading of each meter (kWh, every digit the display "
		 "shows)",
		 it->title ? it->title : it->id, phase);
	return eng_typed_readings(e, it, ps, n, phase, "kWh", q, NULL, out, skip, by);
}

/* Run the source at the test load until the reference meter has counted target_wh. */
static int register_run(struct metro_engine *e, const struct metro_proc_item *it, double volt,
			double cur, double target_wh, double e0)
{
	int rc = source(e, volt, cur, phase_of(it->pf), eng_dd(it->settle_seconds));
	if (rc)
		return rc;
	double waited = 0, e_now = e0;
	double power = volt * cur * cos(phase_of(it->pf) * M_PI / 180);
	double limit = 3 * target_wh / fmax(power, 1e-6) * 3600 + 30;
	uint64_t t0 = metro_now_ns();
	while (e_now - e0 < target_wh) {
		if (waited > limit)
			return eng_fault(e, "%s: %.6g Wh of %.6g Wh in %.0f s", it->id, e_now - e0,
					 target_wh, waited);
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd(e, "ref.energy", &e_now)))
			return rc;
	}
	return METRO_OK;
}

/* The energy each position needs (its register's step small against its limit) and the
 * largest of them, which the run gives every position; a position whose numbers cannot be
 * computed is put in error and skipped. */
static void register_plan(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			  size_t n, struct metro_dec cur, struct metro_dec min_kwh,
			  struct metro_dec *limit, struct metro_dec *res, int *skip,
			  struct metro_dec *target_kwh)
{
	*target_kwh = min_kwh;
	for (size_t i = 0; i < n; i++) {
		char err[200];
		struct metro_dec need;
		if (register_limit(e, ps[i], it, cur, &limit[i])) {
			eng_pos_error(e, ps[i], it, "no limit for this meter's class at this load");
			skip[i] = 1;
		} else if (metro_expr_eval(it->resolution_kwh, ps[i]->m->values, &res[i], err,
					   sizeof err)) {
			eng_pos_error(e, ps[i], it, "resolution_kwh: %s", err);
			skip[i] = 1;
		} else if (metro_mx_register_energy(res[i], limit[i], it->resolution_ratio, min_kwh,
						    &need)) {
			eng_pos_error(e, ps[i], it,
				      "cannot compute the energy for a resolution "
				      "of %g kWh",
				      eng_dd(res[i]));
			skip[i] = 1;
		} else if (metro_dec_cmp(need, *target_kwh) > 0) {
			*target_kwh = need;
		}
	}
}

int eng_constant_test(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec cur = {0, 0}, volt = {0, 0}, min_kwh = {0, 0}, target;
	int rc = eng_stim(e, it->current, &cur);
	if (!rc)
		rc = it->voltage ? eng_stim(e, it->voltage, &volt)
				 : (volt = metro_batch_value(e->b, ps[0]->m, "un"), METRO_OK);
	if (!rc)
		rc = eng_stim(e, it->energy_kwh, &min_kwh);
	if (rc)
		return rc;
	struct metro_dec limit[MAX_POS] = {0}, res[MAX_POS] = {0}, r0[MAX_POS] = {0},
			 r1[MAX_POS] = {0};
	int skip[MAX_POS] = {0};
	register_plan(e, it, ps, n, cur, min_kwh, limit, res, skip, &target);
	/* Standing start and stop: the reference, the pulse counters and the registers are read
	 * with no current, so that reading 24 positions (or typing them) cannot skew them. */
	double e0 = 0, e1 = 0, p0[MAX_POS] = {0}, p1[MAX_POS] = {0};
	char by0[100] = "", by1[100] = "";
	if ((rc = source(e, eng_dd(volt), 0, phase_of(it->pf), 1)) ||
	    (rc = eng_rd(e, "ref.energy", &e0)) ||
	    (rc = eng_rd_pos(e, "meter_pulses", ps, n, p0)) ||
	    (rc = register_read(e, it, ps, n, "start", r0, skip, by0)) ||
	    (rc = register_run(e, it, eng_dd(volt), eng_dd(cur), eng_dd(target) * 1000, e0)) ||
	    (rc = source(e, eng_dd(volt), 0, phase_of(it->pf), 1)) ||
	    (rc = eng_rd(e, "ref.energy", &e1)) ||
	    (rc = eng_rd_pos(e, "meter_pulses", ps, n, p1)) ||
	    (rc = register_read(e, it, ps, n, "stop", r1, skip, by1)))
		return rc;
	/* the reference energy in kWh, exact to 1 mWh */
	struct metro_dec ref_kwh = metro_dec_div(
		metro_dec_sub(eng_rounded(e1, 3), eng_rounded(e0, 3)), metro_dec_e(1000, 0));
	for (size_t i = 0; i < n; i++) {
		if (skip[i] || !ps[i]->active)
			continue;
		struct metro_dec err;
		if (metro_mx_register_error(r0[i], r1[i], ref_kwh, &err)) {
			eng_pos_error(e, ps[i], it,
				      "register readings refused (start %g, stop %g kWh, reference "
				      "%g kWh)",
				      eng_dd(r0[i]), eng_dd(r1[i]), eng_dd(ref_kwh));
			continue;
		}
		struct metro_mx_judgement j;
		if (metro_mx_judge(err, limit[i], METRO_MX_RULE_FULL, metro_dec_e(0, 0), &j)) {
			eng_pos_error(e, ps[i], it, "cannot judge the register error");
			continue;
		}
		json_t *vals = json_pack(
			"{sosososososososssosososfsssf}", "start_kwh", metro_dec_json(r0[i]),
			"stop_kwh", metro_dec_json(r1[i]), "register_kwh",
			metro_dec_json(metro_dec_sub(r1[i], r0[i])), "reference_kwh",
			metro_dec_json(ref_kwh), "resolution_kwh", metro_dec_json(res[i]),
			"resolution_ratio", metro_dec_json(it->resolution_ratio), "energy_kwh",
			metro_dec_json(target), "limit_source",
			it->limit_by_class ? "class" : "procedure", "limit_pct",
			metro_dec_json(limit[i]), "voltage_v", metro_dec_json(volt), "current_a",
			metro_dec_json(cur), "meter_pulses", p1[i] - p0[i], "pf", it->pf,
			"standard_wh_read", e1 - e0);
		json_object_set_new(vals, "readings",
				    json_string(it->register_typed ? "operator" : "rig"));
		if (it->register_typed) {
			json_object_set_new(vals, "start_typed_by", json_string(by0));
			json_object_set_new(vals, "stop_typed_by", json_string(by1));
		}
		eng_point_doc(e, ps[i], it, vals, &j, 1,
			      j.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

/* ---- the daily timing error (meters with a clock) ------------------------------------------ */

/* One reading of the clock calculators of ps[0..n): arm them with the gate time and wait for
 * every result; out[i] = the daily error (s/d), status[i] = the calculator's final status. */
static int clock_reading(struct metro_engine *e, struct pos **ps, size_t n, double gate,
			 double *out, double *status)
{
	int rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = eng_wr_pos(e, "clock_gate", ps[i], gate)) ||
		    (rc = eng_wr_pos(e, "clock_start", ps[i], 0)) ||
		    (rc = eng_wr_pos(e, "clock_start", ps[i], 1)))
			return rc;
	double limit = 3 * gate + 20;
	uint64_t t0 = metro_now_ns();
	for (;;) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		double waited = eng_rig_seconds(e, t0);
		if ((rc = eng_rd_pos(e, "clock_status", ps, n, status)))
			return rc;
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += status[i] == 2 || status[i] == 3;
		if (done == n || waited > limit)
			break;
	}
	if ((rc = eng_rd_pos(e, "clock_error", ps, n, out)))
		return rc;
	for (size_t i = 0; i < n; i++)
		eng_wr_pos(e, "clock_start", ps[i], 0);
	return METRO_OK;
}

int eng_timing_test(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *all[MAX_POS], *ps[MAX_POS];
	size_t na = eng_active(e, all), n = 0;
	/* only meters with a clock (nameplate clock: "yes"; the procedure requires the field) */
	for (size_t i = 0; i < na; i++) {
		const char *clock = metro_batch_text(e->b, all[i]->m, "clock");
		if (clock && !strcmp(clock, "yes"))
			ps[n++] = all[i];
	}
	if (!n)
		return METRO_OK;
	struct metro_dec volt = metro_batch_value(e->b, ps[0]->m, "un");
	int rc = it->voltage ? eng_stim(e, it->voltage, &volt) : METRO_OK;
	if (!rc)
		rc = source(e, eng_dd(volt), 0, 0, 1);
	if (rc)
		return rc;
	struct metro_dec readings[MAX_POS][METRO_MX_MAX_RUNS];
	int bad[MAX_POS] = {0};
	double gate = eng_dd(it->gate_seconds);
	for (long r = 0; r < it->runs; r++) {
		double v[MAX_POS] = {0}, st[MAX_POS] = {0};
		if ((rc = clock_reading(e, ps, n, gate, v, st)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (!bad[i] && st[i] != 2) {
				eng_pos_error(e, ps[i], it,
					      "clock calculator gave no result (status %.0f)",
					      st[i]);
				bad[i] = 1;
			}
			readings[i][r] = eng_rounded(v[i], 4);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (bad[i])
			continue;
		struct metro_dec mean;
		struct metro_mx_judgement j;
		if (metro_mx_timing_judge(readings[i], (size_t)it->runs, it->limit_s_per_day, &mean,
					  &j)) {
			eng_pos_error(e, ps[i], it, "cannot judge the timing error");
			continue;
		}
		json_t *vals = json_pack("{sosososossso}", "readings",
					 eng_runs_json(readings[i], (size_t)it->runs), "gate_s",
					 metro_dec_json(it->gate_seconds), "mean_s_per_day",
					 metro_dec_json(mean), "limit_s_per_day",
					 metro_dec_json(it->limit_s_per_day), "unit", "s/d",
					 "applied_voltage_v", metro_dec_json(volt));
		eng_point_doc(e, ps[i], it, vals, &j, 1,
			      j.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}
