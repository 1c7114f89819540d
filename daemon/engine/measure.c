/* measure.c — measurement items: a quantity with a unit per position (the pressure loss of a
 * gas meter at qmax, ...), read from a rig channel or typed by the operator, N readings
 * combined by their mean and judged against limits over the meter's nameplate. */
#include "engine.h"
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "metrology.h"
#include "util.h"

int eng_has_channel(struct metro_engine *e, const char *name)
{
	if (strncmp(name, "pos[N].", 7) != 0)
		return eng_chan(e, name) != NULL;
	for (size_t k = 0; k < e->npos; k++)
		if (!metro_profile_pos_channel(e->io.profile, name + 7, e->pos[k].m->position))
			return 0;
	return 1;
}

int eng_item_applies(const struct metro_engine *e, const struct pos *p,
		     const struct metro_proc_item *it)
{
	if (!it->only_field)
		return 1;
	return metro_item_applies(it, metro_batch_text(e->b, p->m, it->only_field));
}

/* Wait s rig seconds. */
static int wait_rig(struct metro_engine *e, double s)
{
	for (uint64_t t0 = metro_now_ns(); eng_rig_seconds(e, t0) < s;)
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
	return METRO_OK;
}

static int gas_rig(const struct metro_engine *e)
{
	return !strcmp(e->b->proc->meter, "gas");
}

/* The flow the item asks for: on (sp > 0), held settle_seconds; or off. */
static int flow_set(struct metro_engine *e, const struct metro_proc_item *it, double sp, int on)
{
	int rc;
	if (gas_rig(e)) {
		if (!on)
			return eng_wr(e, "valve", 0);
		/* a fresh stroke of the bell for the readings */
		if ((rc = eng_wr(e, "valve", 0)))
			return rc;
		if (eng_chan(e, "bell.reset") &&
		    ((rc = eng_wr(e, "bell.reset", 1)) || (rc = eng_wr(e, "bell.reset", 0))))
			return rc;
		if ((rc = eng_wr(e, "flow.setpoint", sp)) || (rc = eng_wr(e, "valve", 1)))
			return rc;
	} else {
		if (!on)
			return eng_wr(e, "flow.run", 0);
		if ((rc = eng_wr(e, "collect", 0)) || (rc = eng_wr(e, "flow.setpoint", sp)) ||
		    (rc = eng_wr(e, "flow.run", 1)))
			return rc;
	}
	return wait_rig(e, eng_dd(it->settle_seconds));
}

/* One reading of every position in ps from the item's channel; a value that is not a number
 * puts that position in error (skip). */
static int read_channel(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			size_t n, int *skip, struct metro_dec *out)
{
	double v[MAX_POS];
	int rc;
	if (!strncmp(it->channel, "pos[N].", 7)) {
		if ((rc = eng_rd_pos(e, it->channel + 7, ps, n, v)))
			return rc;
	} else {
		double one;
		if ((rc = eng_rd(e, it->channel, &one)))
			return rc;
		for (size_t i = 0; i < n; i++)
			v[i] = one;
	}
	for (size_t i = 0; i < n; i++) {
		if (skip[i])
			continue;
		out[i] = isfinite(v[i]) ? eng_rounded(v[i], 6) : metro_dec_invalid();
		if (!metro_dec_valid(out[i])) {
			eng_pos_error(e, ps[i], it, "%s read %g: not a measured value", it->channel,
				      v[i]);
			skip[i] = 1;
		}
	}
	return METRO_OK;
}

/* One typed reading of every position still in: a prompt of kind readings with the item's
 * unit; a position left out (or every one on a timeout) is put in error. */
static int read_typed(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
		      size_t n, int *skip, long r, struct metro_dec *out, char by[100])
{
	char q[1100];
	if (it->count > 1)
		snprintf(q, sizeof q, "%s (%s; reading %ld of %ld)", it->prompt, it->unit, r + 1,
			 it->count);
	else
		snprintf(q, sizeof q, "%s (%s)", it->prompt, it->unit);
	return eng_typed_readings(
		e, it, ps, n, "measurement", it->unit, q,
		json_pack("{sisi}", "reading", (int)(r + 1), "of", (int)it->count), out, skip, by);
}

/* The readings: count of them, interval_s apart (after the flow has settled), conditions
 * watched between them.  RERUN after a suspension. */
static int take_readings(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			 size_t n, int *skip,
			 struct metro_dec (*vals)[METRO_MEASUREMENT_MAX_READINGS], char (*by)[100],
			 double *flow)
{
	int rc;
	double sp = 0;
	if (it->flow) {
		struct metro_dec f;
		if ((rc = eng_stim(e, it->flow, &f)))
			return rc;
		sp = eng_dd(f);
		if ((rc = flow_set(e, it, sp, 1)))
			return rc;
	}
	double fsum = 0;
	for (long r = 0; r < it->count; r++) {
		if (r > 0 && (rc = wait_rig(e, eng_dd(it->interval_s))))
			return rc;
		char why[200];
		if (eng_conditions_violated(e, why, sizeof why, &rc)) {
			if (it->flow && (rc = flow_set(e, it, 0, 0)))
				return rc;
			rc = eng_wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
		struct metro_dec got[MAX_POS];
		rc = it->operator_readings ? read_typed(e, it, ps, n, skip, r, got, by[r])
					   : read_channel(e, it, ps, n, skip, got);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (!skip[i])
				vals[i][r] = got[i];
		if (it->flow) {
			double q;
			if ((rc = eng_rd(e, "flow.actual", &q)))
				return rc;
			fsum += q;
		}
	}
	*flow = fsum / (double)it->count;
	if (it->flow && (rc = flow_set(e, it, 0, 0)))
		return rc;
	return METRO_OK;
}

/* A limit of position p: the expression over its nameplate, or NULL when the item has none;
 * 1 when it cannot be evaluated (the position is then in error). */
static int limit_of(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		    const struct metro_expr *x, struct metro_dec *out, const struct metro_dec **use)
{
	*use = NULL;
	if (!x)
		return 0;
	char err[200];
	if (metro_expr_eval(x, p->m->values, out, err, sizeof err)) {
		eng_pos_error(e, p, it, "limit '%s': %s", metro_expr_source(x), err);
		return 1;
	}
	*use = out;
	return 0;
}

/* Judge position p from its readings and record the point. */
static void judge(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		  const struct metro_dec *vals, char (*by)[100], double flow)
{
	struct metro_dec lo, hi;
	const struct metro_dec *plo, *phi;
	if (limit_of(e, p, it, it->limit_min, &lo, &plo) ||
	    limit_of(e, p, it, it->limit_max, &hi, &phi))
		return;
	struct metro_mx_measurement m;
	if (metro_mx_measurement_judge(vals, (size_t)it->count, plo, phi, &m)) {
		eng_pos_error(e, p, it, "cannot judge the readings: %s: %s",
			      m.bad.input ? m.bad.input : "?", m.bad.reason ? m.bad.reason : "?");
		return;
	}
	json_t *d = json_object();
	json_t *limits = json_object();
	if (plo)
		json_object_set_new(limits, "min", metro_dec_json(lo));
	if (phi)
		json_object_set_new(limits, "max", metro_dec_json(hi));
	json_object_set_new(d, "unit", json_string(it->unit));
	json_object_set_new(d, "readings", eng_runs_json(vals, (size_t)it->count));
	json_object_set_new(d, "mean", metro_dec_json(m.mean));
	json_object_set_new(d, "limits", limits);
	char rule[80];
	snprintf(rule, sizeof rule, "mean of %ld reading%s within the limits", it->count,
		 it->count > 1 ? "s" : "");
	json_object_set_new(d, "rule", json_string(rule));
	if (it->operator_readings) {
		json_t *who = json_array();
		for (long r = 0; r < it->count; r++)
			json_array_append_new(who, json_string(by[r]));
		json_object_set_new(d, "readings_typed_by", who);
	} else {
		json_object_set_new(d, "channel", json_string(it->channel));
	}
	if (it->flow)
		json_object_set_new(d, "flow_m3h", metro_dec_json(eng_rounded(flow, 6)));
	eng_point_doc(e, p, it, d, NULL, 1,
		      m.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
}

int eng_measurement(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec(*vals)[METRO_MEASUREMENT_MAX_READINGS] = metro_calloc(n, sizeof *vals);
	char(*by)[100] = metro_calloc(METRO_MEASUREMENT_MAX_READINGS, sizeof *by);
	int *skip = metro_calloc(n, sizeof *skip);
	double flow = 0;
	int rc = take_readings(e, it, ps, n, skip, vals, by, &flow);
	if (!rc)
		for (size_t i = 0; i < n; i++)
			if (!skip[i])
				judge(e, ps[i], it, vals[i], by, flow);
	free(vals);
	free(by);
	free(skip);
	return rc;
}
