/* common.c — the engine's helpers: documents, state, faults, waiting, channel access,
 * suspensions, point results (engine_int.h). */
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

/* ---- small helpers ---------------------------------------------------------------------- */

double eng_dd(struct metro_dec d)
{
	return metro_dec_to_double(d);
}

int64_t eng_run(const struct metro_engine *e)
{
	return strtoll(e->b->run_id, NULL, 10);
}

void eng_emit_run(struct metro_engine *e, struct metro_run_event *ev)
{
	e->io.emit_result(e->io.ctx, (struct metro_result){.kind = METRO_DOC_RUN, .u.run = ev});
}

void eng_set_state(struct metro_engine *e, enum metro_run_state s, const char *why)
{
	if (e->state == s)
		return;
	e->state = s;
	eng_emit_run(e, metro_run_event_new(eng_run(e), s, why));
}

/* A rig fault: every active position ends in `error` with the reason; the run ends. */
int eng_fault(struct metro_engine *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->fault, sizeof e->fault, fmt, ap);
	va_end(ap);
	metro_err("run %s: rig fault: %s", e->b->run_id, e->fault);
	for (size_t i = 0; i < e->npos; i++) {
		struct pos *p = &e->pos[i];
		if (!p->active)
			continue;
		p->active = 0;
		p->verdict = METRO_VERDICT_ERROR;
		snprintf(p->reason, sizeof p->reason, "rig fault: %s", e->fault);
	}
	return METRO_E_IO;
}

int eng_wait_real(struct metro_engine *e, double s)
{
	if (metro_engine_must_end(e))
		return METRO_E_STATE;
	int rc = e->io.wait(e->io.ctx, s);
	if (rc || metro_engine_must_end(e))
		return METRO_E_STATE;
	return METRO_OK;
}

/* The rig's seconds since t0 (metro_now_ns): real time on the monotonic clock times the
 * batch's time scale.  Durations are measured, never counted in poll periods: the reads and
 * the sampling between two looks at the rig take time of their own (a lost reply on a slow
 * line, seconds), and a simulated rig runs on while they do. */
double eng_rig_seconds(const struct metro_engine *e, uint64_t t0)
{
	return (double)(metro_now_ns() - t0) / 1e9 * e->b->time_scale;
}

double eng_rig_between(const struct metro_engine *e, uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (double)(t1 - t0) / 1e9 * e->b->time_scale : 0;
}

/* Real seconds since t0 (prompts and suspensions wait for people, not for the rig). */
double eng_real_seconds(uint64_t t0)
{
	return (double)(metro_now_ns() - t0) / 1e9;
}

/* How long (rig seconds) a condition has held: *since is when it became true (0: it is not),
 * updated with this look's answer `now_true`. */
double eng_held(const struct metro_engine *e, uint64_t *since, int now_true)
{
	if (!now_true) {
		*since = 0;
		return 0;
	}
	if (!*since)
		*since = metro_now_ns();
	return eng_rig_seconds(e, *since);
}

const struct metro_channel *eng_chan(struct metro_engine *e, const char *name)
{
	return metro_profile_channel(e->io.profile, name);
}

int eng_rd(struct metro_engine *e, const char *name, double *v)
{
	const struct metro_channel *c = eng_chan(e, name);
	if (!c)
		return eng_fault(e, "the rig profile has no channel %s", name);
	if (metro_device_read1(e->io.dev, c, v))
		return eng_fault(e, "reading %s: %s", name, metro_device_last_error(e->io.dev));
	return METRO_OK;
}

int eng_wr(struct metro_engine *e, const char *name, double v)
{
	const struct metro_channel *c = eng_chan(e, name);
	if (!c)
		return eng_fault(e, "the rig profile has no channel %s", name);
	if (metro_device_write(e->io.dev, c, v))
		return eng_fault(e, "writing %s = %g: %s", name, v,
				 metro_device_last_error(e->io.dev));
	return METRO_OK;
}

int eng_rd_pos(struct metro_engine *e, const char *base, struct pos **ps, size_t n, double *out)
{
	const struct metro_channel *chs[MAX_POS];
	for (size_t i = 0; i < n; i++) {
		chs[i] = metro_profile_pos_channel(e->io.profile, base, ps[i]->m->position);
		if (!chs[i])
			return eng_fault(e, "the rig profile has no channel pos[%d].%s",
					 ps[i]->m->position, base);
	}
	if (n && metro_device_read(e->io.dev, chs, n, out))
		return eng_fault(e, "reading pos[*].%s: %s", base,
				 metro_device_last_error(e->io.dev));
	return METRO_OK;
}

int eng_wr_pos(struct metro_engine *e, const char *base, const struct pos *p, double v)
{
	const struct metro_channel *c =
		metro_profile_pos_channel(e->io.profile, base, p->m->position);
	if (!c)
		return eng_fault(e, "the rig profile has no channel pos[%d].%s", p->m->position,
				 base);
	if (metro_device_write(e->io.dev, c, v))
		return eng_fault(e, "writing %s = %g: %s", c->name, v,
				 metro_device_last_error(e->io.dev));
	return METRO_OK;
}

/* Evaluate a stimulus expression (one value for the whole batch). */
int eng_stim(struct metro_engine *e, const struct metro_expr *x, struct metro_dec *out)
{
	char err[200];
	if (metro_expr_eval(x, e->b->stimulus, out, err, sizeof err))
		return eng_fault(e, "expression '%s': %s", metro_expr_source(x), err);
	return METRO_OK;
}

size_t eng_active(struct metro_engine *e, struct pos **out)
{
	size_t n = 0;
	for (size_t i = 0; i < e->npos; i++)
		if (e->pos[i].active)
			out[n++] = &e->pos[i];
	return n;
}

/* Whether condition c applies to this batch: its guard (when:) holds for the batch's
 * nameplate.  1 or 0; a guard that cannot be evaluated is a fault (*rc set). */
static int condition_applies(struct metro_engine *e, const struct metro_proc_condition *c, int *rc)
{
	if (!c->when)
		return 1;
	struct metro_dec v;
	if ((*rc = eng_stim(e, c->when, &v)))
		return 0;
	return (!c->has_when_min || metro_dec_cmp(v, c->when_min) >= 0) &&
	       (!c->has_when_max || metro_dec_cmp(v, c->when_max) <= 0);
}

/* One reading of a condition's channel: a rig channel, or position p's for pos[N].x. */
static int condition_read(struct metro_engine *e, const char *name, const struct pos *p, double *v)
{
	if (!p || strncmp(name, "pos[N].", 7) != 0)
		return eng_rd(e, name, v);
	struct pos *one = (struct pos *)p;
	return eng_rd_pos(e, name + 7, &one, 1, v);
}

/* Condition c for position p (NULL: c names no per-position channel): 1 and why when its
 * value (channel, or channel - minus) is out of band. */
static int condition_out(struct metro_engine *e, const struct metro_proc_condition *c,
			 const struct pos *p, char *why, size_t whylen, int *rc)
{
	double v = 0, w = 0;
	if ((*rc = condition_read(e, c->channel, p, &v)))
		return 0;
	if (c->minus && (*rc = condition_read(e, c->minus, p, &w)))
		return 0;
	double d = v - w;
	if (isfinite(d) && d >= eng_dd(c->min) && d <= eng_dd(c->max))
		return 0;
	char pos[24] = "";
	if (p)
		snprintf(pos, sizeof pos, " (position %d)", p->m->position);
	if (c->minus)
		snprintf(why, whylen, "%s - %s = %.6g%s outside %.6g..%.6g%s%s", c->channel,
			 c->minus, d, pos, eng_dd(c->min), eng_dd(c->max), c->unit ? " " : "",
			 c->unit ? c->unit : "");
	else
		snprintf(why, whylen, "%s = %.6g%s outside %.6g..%.6g%s%s", c->channel, v, pos,
			 eng_dd(c->min), eng_dd(c->max), c->unit ? " " : "",
			 c->unit ? c->unit : "");
	return 1;
}

/* The conditions of the procedure (suspenders): 1 and a message when one is out of band.  A
 * condition on a channel of every position (pos[N].x) is checked for each active position; a
 * condition with a guard (when:) only when the guard holds for the batch. */
int eng_conditions_violated(struct metro_engine *e, char *why, size_t whylen, int *rc)
{
	const struct metro_procedure *p = e->b->proc;
	*rc = METRO_OK;
	for (size_t i = 0; i < p->nconditions; i++) {
		const struct metro_proc_condition *c = &p->conditions[i];
		int per_pos = !strncmp(c->channel, "pos[N].", 7) ||
			      (c->minus && !strncmp(c->minus, "pos[N].", 7));
		if (!per_pos && (!eng_chan(e, c->channel) || (c->minus && !eng_chan(e, c->minus))))
			continue; /* checked at start: a profile may lack an optional channel */
		if (!condition_applies(e, c, rc)) {
			if (*rc)
				return 0;
			continue;
		}
		if (!per_pos) {
			if (condition_out(e, c, NULL, why, whylen, rc) || *rc)
				return !*rc;
			continue;
		}
		struct pos *ps[MAX_POS];
		size_t n = eng_active(e, ps);
		for (size_t k = 0; k < n; k++)
			if (condition_out(e, c, ps[k], why, whylen, rc) || *rc)
				return !*rc;
	}
	return 0;
}

/* Suspended: wait (real time, bounded by prompt_timeout_s) until every condition is back. */
int eng_wait_recovery(struct metro_engine *e, const char *why)
{
	eng_set_state(e, METRO_RUN_SUSPENDED, why);
	metro_warn("run %s: suspended: %s", e->b->run_id, why);
	double limit =
		eng_dd(metro_procedure_param(e->b->proc, "prompt_timeout_s", metro_dec_e(600, 0)));
	for (uint64_t t0 = metro_now_ns(); eng_real_seconds(t0) < limit;) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		char w[200];
		int rc;
		if (!eng_conditions_violated(e, w, sizeof w, &rc) && !rc) {
			eng_set_state(e, METRO_RUN_RUNNING,
				      "conditions recovered: the point is re-run");
			return METRO_OK;
		}
		if (rc)
			return rc;
	}
	return eng_fault(e, "conditions did not recover within %.0f s: %s", limit, why);
}

void eng_point_doc(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		   json_t *details, const struct metro_mx_judgement *j, int attempt,
		   enum metro_verdict v)
{
	if (p->unrecorded) { /* the recorder refused this position's evidence: it is out */
		json_decref(details);
		return;
	}
	struct metro_point_result *r = eng_point_result(e, p, it, details, attempt);
	r->verdict = v;
	if (j) {
		r->judged = 1;
		r->judgement = *j;
	}
	e->io.emit_result(e->io.ctx, (struct metro_result){.kind = METRO_DOC_POINT, .u.point = r});
	if (v > p->verdict)
		p->verdict = v;
	if (v >= METRO_VERDICT_FAIL) {
		p->active = 0;
		json_array_append_new(p->failed_items, json_string(it->id));
	}
}

void eng_point_pending(struct metro_engine *e, const struct pos *p,
		       const struct metro_proc_item *it, json_t *details, int attempt)
{
	if (p->unrecorded) {
		json_decref(details);
		return;
	}
	struct metro_point_result *r = eng_point_result(e, p, it, details, attempt);
	r->pending = 1;
	e->io.emit_result(e->io.ctx, (struct metro_result){.kind = METRO_DOC_POINT, .u.point = r});
}

struct metro_point_result *eng_point_result(struct metro_engine *e, const struct pos *p,
					    const struct metro_proc_item *it, json_t *details,
					    int attempt)
{
	struct metro_point_result *r =
		metro_point_result_new(eng_run(e), p->m->position, p->m->serial, it->id, it->title,
				       metro_item_kind_name(it->kind), details);
	r->attempt = attempt > 0 ? attempt : 1;
	return r;
}

/* One position in error (e.g. its error calculator gave no result): it leaves the run. */
void eng_pos_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->reason, sizeof p->reason, "%s: %s", it->id, msg);
	eng_point_doc(e, p, it, json_pack("{ss}", "error", msg), NULL, 1, METRO_VERDICT_ERROR);
}

static enum metro_mx_vtype vtype_of(const struct metro_procedure *p)
{
	static const char *const names[] = {"initial",	       "subsequent",	     "in-service",
					    "supervision-new", "supervision-in-use", "complaint"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(names); i++)
		if (!strcmp(p->verification, names[i]))
			return (enum metro_mx_vtype)i;
	return METRO_MX_INITIAL;
}

struct metro_mx_limits eng_limits_of(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	struct metro_mx_limits l = {0};
	l.type = vtype_of(p);
	l.complaint = !strcmp(p->limits, "in-service") ? METRO_MX_COMPLAINT_IN_SERVICE
						       : METRO_MX_COMPLAINT_NEW;
	l.mpe_factor = metro_procedure_param(p, "mpe_factor", metro_dec_e(1, 0));
	return l;
}

json_t *eng_runs_json(const struct metro_dec *runs, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, metro_dec_json(runs[i]));
	return a;
}

int eng_typed_readings(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
		       size_t n, const char *phase, const char *unit, const char *question,
		       json_t *extra, struct metro_dec *out, int *skip, char by[100])
{
	json_t *fields = json_pack("{sssssss[s]}", "kind", "readings", "phase", phase, "unit", unit,
				   "answers", "reading");
	if (extra) {
		json_object_update(fields, extra);
		json_decref(extra);
	}
	struct pos *ask[MAX_POS];
	size_t idx[MAX_POS], na = 0;
	for (size_t i = 0; i < n; i++)
		if (!skip[i]) {
			idx[na] = i;
			ask[na++] = ps[i];
		}
	if (!na) {
		json_decref(fields);
		return METRO_OK;
	}
	int rc = eng_ask(e, it, ask, na, 1, question, fields);
	if (rc && rc != NO_ANSWER)
		return rc;
	for (size_t k = 0; k < na; k++) {
		char key[16];
		snprintf(key, sizeof key, "%d", ask[k]->m->position);
		json_t *v = rc == NO_ANSWER ? NULL : json_object_get(e->answer, key);
		if (!v || metro_engine_reading(v, &out[idx[k]])) {
			eng_pos_error(e, ask[k], it, "no %s reading typed%s", phase,
				      rc == NO_ANSWER ? " within the prompt timeout" : "");
			skip[idx[k]] = 1;
		}
	}
	if (by && rc != NO_ANSWER)
		metro_strlcpy(by, e->answer_operator, 100);
	return METRO_OK;
}
