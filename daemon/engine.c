#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "metrology.h"
#include "util.h"

#define MAX_POS 256
#define RERUN 1 /* internal: the point was interrupted (suspender); run it again */
#define MAX_RERUNS 5
#define NO_ANSWER 2 /* internal: a prompt timed out */

static const char *const verdict_names[] = {"pass", "conditional", "fail", "aborted", "error"};
static const char *const state_names[] = {"idle",      "starting", "running",  "pausing", "paused",
					  "suspended", "stopping", "aborting", "done"};

const char *metro_verdict_name(enum metro_verdict v)
{
	return (unsigned)v < METRO_ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

const char *metro_run_state_name(enum metro_run_state s)
{
	return (unsigned)s < METRO_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

struct pos {
	const struct metro_batch_meter *m;
	enum metro_verdict verdict;
	int active; /* still taking part: not failed, not in error */
	json_t *failed_items;
	char reason[256];
	/* per-item scratch */
	struct metro_dec runs[METRO_MX_MAX_RUNS];
	size_t nruns, nextra;
	int done_item;
	long long n_pulses;
	struct metro_dec constant;
};

struct metro_engine {
	struct metro_batch *b;
	struct metro_engine_io io;
	enum metro_run_state state;
	struct pos pos[MAX_POS];
	size_t npos;
	int pause_req, stop_req, abort_req, halt_req;
	const char *end_state;
	/* the open prompt: its id, what it asks (a pass/fail judgement or typed meter readings)
	 * and of which positions */
	char prompt_id[64];
	int prompt_readings;
	int prompt_pos[MAX_POS];
	size_t nprompt_pos;
	json_t *answer;
	char answer_operator[100];
	unsigned prompts;
	char fault[320];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static double dd(struct metro_dec d)
{
	return metro_dec_to_double(d);
}

static json_t *jdec(struct metro_dec d)
{
	char buf[64];
	if (!metro_dec_valid(d) || metro_dec_format_sig(d, 15, buf, sizeof buf))
		return json_null();
	/* Decimal text as a JSON number: exact as written, parsed by any client. */
	json_t *j = json_loads(buf, JSON_DECODE_ANY, NULL);
	return j ? j : json_string(buf);
}

static void emit(struct metro_engine *e, const char *kind, json_t *doc)
{
	json_object_set_new(doc, "run", json_string(e->b->run_id));
	e->io.emit(e->io.ctx, kind, doc);
}

static void set_state(struct metro_engine *e, enum metro_run_state s, const char *why)
{
	if (e->state == s)
		return;
	e->state = s;
	json_t *doc = json_pack("{ss}", "state", state_names[s]);
	if (why)
		json_object_set_new(doc, "reason", json_string(why));
	emit(e, "run", doc);
}

static int fault(struct metro_engine *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A rig fault: every active position ends in `error` with the reason; the run ends. */
static int fault(struct metro_engine *e, const char *fmt, ...)
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

static int wait_real(struct metro_engine *e, double s)
{
	if (e->abort_req || e->halt_req)
		return METRO_E_STATE;
	int rc = e->io.wait(e->io.ctx, s);
	if (rc || e->abort_req || e->halt_req)
		return METRO_E_STATE;
	return METRO_OK;
}

/* The rig's seconds since t0 (metro_now_ns): real time on the monotonic clock times the
 * batch's time scale.  Durations are measured, never counted in poll periods: the reads and
 * the sampling between two looks at the rig take time of their own (a lost reply on a slow
 * line, seconds), and a simulated rig runs on while they do. */
static double rig_seconds(const struct metro_engine *e, uint64_t t0)
{
	return (double)(metro_now_ns() - t0) / 1e9 * e->b->time_scale;
}

/* Real seconds since t0 (prompts and suspensions wait for people, not for the rig). */
static double real_seconds(uint64_t t0)
{
	return (double)(metro_now_ns() - t0) / 1e9;
}

/* How long (rig seconds) a condition has held: *since is when it became true (0: it is not),
 * updated with this look's answer `now_true`. */
static double held(const struct metro_engine *e, uint64_t *since, int now_true)
{
	if (!now_true) {
		*since = 0;
		return 0;
	}
	if (!*since)
		*since = metro_now_ns();
	return rig_seconds(e, *since);
}

static const struct metro_channel *chan(struct metro_engine *e, const char *name)
{
	return metro_profile_channel(e->io.profile, name);
}

static int rd(struct metro_engine *e, const char *name, double *v)
{
	const struct metro_channel *c = chan(e, name);
	if (!c)
		return fault(e, "the rig profile has no channel %s", name);
	if (metro_device_read1(e->io.dev, c, v))
		return fault(e, "reading %s: %s", name, metro_device_last_error(e->io.dev));
	return METRO_OK;
}

static int wr(struct metro_engine *e, const char *name, double v)
{
	const struct metro_channel *c = chan(e, name);
	if (!c)
		return fault(e, "the rig profile has no channel %s", name);
	if (metro_device_write(e->io.dev, c, v))
		return fault(e, "writing %s = %g: %s", name, v, metro_device_last_error(e->io.dev));
	return METRO_OK;
}

static int rd_pos(struct metro_engine *e, const char *base, struct pos **ps, size_t n, double *out)
{
	const struct metro_channel *chs[MAX_POS];
	for (size_t i = 0; i < n; i++) {
		chs[i] = metro_profile_pos_channel(e->io.profile, base, ps[i]->m->position);
		if (!chs[i])
			return fault(e, "the rig profile has no channel pos[%d].%s",
				     ps[i]->m->position, base);
	}
	if (n && metro_device_read(e->io.dev, chs, n, out))
		return fault(e, "reading pos[*].%s: %s", base, metro_device_last_error(e->io.dev));
	return METRO_OK;
}

static int wr_pos(struct metro_engine *e, const char *base, const struct pos *p, double v)
{
	const struct metro_channel *c =
		metro_profile_pos_channel(e->io.profile, base, p->m->position);
	if (!c)
		return fault(e, "the rig profile has no channel pos[%d].%s", p->m->position, base);
	if (metro_device_write(e->io.dev, c, v))
		return fault(e, "writing %s = %g: %s", c->name, v,
			     metro_device_last_error(e->io.dev));
	return METRO_OK;
}

/* Evaluate a stimulus expression (one value for the whole batch). */
static int stim(struct metro_engine *e, const struct metro_expr *x, struct metro_dec *out)
{
	char err[200];
	if (metro_expr_eval(x, e->b->stimulus, out, err, sizeof err))
		return fault(e, "expression '%s': %s", metro_expr_source(x), err);
	return METRO_OK;
}

static size_t active(struct metro_engine *e, struct pos **out)
{
	size_t n = 0;
	for (size_t i = 0; i < e->npos; i++)
		if (e->pos[i].active)
			out[n++] = &e->pos[i];
	return n;
}

/* The conditions of the procedure (suspenders): 1 and a message when one is out of band. */
static int conditions_violated(struct metro_engine *e, char *why, size_t whylen, int *rc)
{
	const struct metro_procedure *p = e->b->proc;
	*rc = METRO_OK;
	for (size_t i = 0; i < p->nconditions; i++) {
		const struct metro_proc_condition *c = &p->conditions[i];
		if (!chan(e, c->channel))
			continue; /* checked at start: a profile may lack an optional channel */
		double v = 0;
		if ((*rc = rd(e, c->channel, &v)))
			return 0;
		if (v < dd(c->min) || v > dd(c->max)) {
			snprintf(why, whylen, "%s = %.6g outside %.6g..%.6g%s%s", c->channel, v,
				 dd(c->min), dd(c->max), c->unit ? " " : "",
				 c->unit ? c->unit : "");
			return 1;
		}
	}
	return 0;
}

/* Suspended: wait (real time, bounded by prompt_timeout_s) until every condition is back. */
static int wait_recovery(struct metro_engine *e, const char *why)
{
	set_state(e, METRO_RUN_SUSPENDED, why);
	metro_warn("run %s: suspended: %s", e->b->run_id, why);
	double limit =
		dd(metro_procedure_param(e->b->proc, "prompt_timeout_s", metro_dec_e(600, 0)));
	for (uint64_t t0 = metro_now_ns(); real_seconds(t0) < limit;) {
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		char w[200];
		int rc;
		if (!conditions_violated(e, w, sizeof w, &rc) && !rc) {
			set_state(e, METRO_RUN_RUNNING,
				  "conditions recovered: the point is re-run");
			return METRO_OK;
		}
		if (rc)
			return rc;
	}
	return fault(e, "conditions did not recover within %.0f s: %s", limit, why);
}

static void point_doc(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		      json_t *details, enum metro_verdict v)
{
	json_t *doc =
		json_pack("{sisssssssssO}", "position", p->m->position, "serial", p->m->serial,
			  "item", it->id, "kind", metro_item_kind_name(it->kind), "verdict",
			  verdict_names[v], "values", details);
	if (it->title)
		json_object_set_new(doc, "title", json_string(it->title));
	emit(e, "point", doc);
	json_decref(details);
	if (v > p->verdict)
		p->verdict = v;
	if (v >= METRO_VERDICT_FAIL) {
		p->active = 0;
		json_array_append_new(p->failed_items, json_string(it->id));
	}
}

static void pos_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One position in error (e.g. its error calculator gave no result): it leaves the run. */
static void pos_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->reason, sizeof p->reason, "%s: %s", it->id, msg);
	point_doc(e, p, it, json_pack("{ss}", "error", msg), METRO_VERDICT_ERROR);
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

static struct metro_mx_limits limits_of(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	struct metro_mx_limits l = {0};
	l.type = vtype_of(p);
	l.complaint = !strcmp(p->limits, "in-service") ? METRO_MX_COMPLAINT_IN_SERVICE
						       : METRO_MX_COMPLAINT_NEW;
	l.mpe_factor = metro_procedure_param(p, "mpe_factor", metro_dec_e(1, 0));
	return l;
}

static json_t *judgement_json(const struct metro_mx_judgement *j)
{
	json_t *o = json_pack("{sosososs}", "error", jdec(j->value), "mpe", jdec(j->mpe), "judged",
			      jdec(j->judged), "rule", metro_mx_rule_name(j->rule));
	if (j->rule == METRO_MX_RULE_ROUNDED) {
		json_object_set_new(o, "rounded", jdec(j->rounded));
		json_object_set_new(o, "interval", jdec(j->interval));
	}
	return o;
}

static json_t *runs_json(const struct metro_dec *runs, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jdec(runs[i]));
	return a;
}

/* ---- judgement items --------------------------------------------------------------------- */

/* Publish a prompt to the positions ps[0..n) and wait (real time, prompt_timeout_s) for its
 * answer.  extra (consumed, may be NULL) adds fields to the prompt document.  When the prompt
 * closes it is published again with closed: true, answered and the answering operator.
 * Returns METRO_OK with e->answer and e->answer_operator set, NO_ANSWER on timeout, or an
 * error when the run must end. */
static int ask(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps, size_t n,
	       int readings, const char *question, json_t *extra)
{
	snprintf(e->prompt_id, sizeof e->prompt_id, "%s-%u", it->id, ++e->prompts);
	json_decref(e->answer);
	e->answer = NULL;
	e->prompt_readings = readings;
	e->nprompt_pos = n;
	double timeout =
		dd(metro_procedure_param(e->b->proc, "prompt_timeout_s", metro_dec_e(600, 0)));
	json_t *positions = json_array();
	for (size_t i = 0; i < n; i++) {
		e->prompt_pos[i] = ps[i]->m->position;
		json_array_append_new(positions, json_integer(ps[i]->m->position));
	}
	json_t *doc = json_pack("{sssssssosf}", "prompt", e->prompt_id, "item", it->id, "question",
				question, "positions", positions, "timeout_s", timeout);
	if (extra) {
		json_object_update(doc, extra);
		json_decref(extra);
	}
	json_t *closed = json_deep_copy(doc);
	emit(e, "prompt", doc);
	uint64_t t0 = metro_now_ns(); /* a prompt waits in real time */
	int rc = METRO_OK;
	while (!e->answer) {
		if (real_seconds(t0) >= timeout) {
			rc = NO_ANSWER;
			break;
		}
		if (wait_real(e, e->io.poll_s)) {
			rc = METRO_E_STATE;
			break;
		}
	}
	e->prompt_id[0] = '\0';
	json_object_set_new(closed, "closed", json_true());
	json_object_set_new(closed, "answered", json_boolean(rc == METRO_OK));
	if (rc == METRO_OK)
		json_object_set_new(closed, "operator", json_string(e->answer_operator));
	emit(e, "prompt", closed);
	return rc;
}

static int judgement(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = active(e, ps);
	if (!n)
		return METRO_OK;
	int rc = ask(e, it, ps, n, 0, it->prompt, json_pack("{s[ss]}", "answers", "pass", "fail"));
	if (rc == NO_ANSWER) {
		for (size_t i = 0; i < n; i++)
			pos_error(e, ps[i], it,
				  "no answer to prompt %s-%u within the prompt timeout", it->id,
				  e->prompts);
		return METRO_OK;
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *ans = json_string_value(e->answer);
		if (!ans) {
			char key[16];
			snprintf(key, sizeof key, "%d", ps[i]->m->position);
			ans = json_string_value(json_object_get(e->answer, key));
		}
		int pass = ans && !strcmp(ans, "pass");
		point_doc(e, ps[i], it,
			  json_pack("{ssssss}", "answer", pass ? "pass" : "fail", "operator",
				    e->answer_operator, "rule", "operator judgement"),
			  pass ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

int metro_engine_reading(json_t *v, struct metro_dec *out)
{
	if (json_is_string(v)) {
		if (metro_dec_parse(json_string_value(v), out))
			return METRO_E_INVAL;
	} else if (json_is_integer(v)) {
		*out = metro_dec_e(json_integer_value(v), 0);
	} else if (json_is_real(v)) {
		*out = metro_dec_from_double(json_real_value(v));
	} else {
		return METRO_E_INVAL;
	}
	if (!metro_dec_valid(*out) || metro_dec_sign(*out) < 0 ||
	    metro_dec_cmp(*out, metro_dec_e(1, 9)) > 0)
		return METRO_E_INVAL;
	return METRO_OK;
}

/* Round a measured double to `places` decimals, exactly, for use in a judgement input. */
static struct metro_dec rounded(double v, int places)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%.*f", places, v);
	struct metro_dec d;
	return metro_dec_parse(buf, &d) ? metro_dec_invalid() : d;
}

/* A volume read from the rig (L) as an exact decimal of 1 µL, far below any bench's or
 * meter's resolution.  Without it a double read near zero (a reference tank just tared
 * reads 1.2345678901234567e-07) becomes a fraction whose denominator leaves no room for the
 * error formula and the mean of three runs. */
static struct metro_dec litres(double v)
{
	return rounded(v, 6);
}

/* ---- flow points (water on a flow bench, gas on a bell prover) --------------------------- */

struct flow_meas {
	struct metro_dec ref;	      /* reference volume collected, L */
	struct metro_dec vi[MAX_POS]; /* indicated volume per position, L */
	double flow;		      /* mean actual flow, m3/h */
	double temp0, temp1;	      /* water or bell temperature at start and end */
	double bell_p, ambient_p;
	double pos_p[MAX_POS], pos_t[MAX_POS];
	double seconds; /* simulated duration */
	/* typed readings (readings: operator): the dial at the start and the end, m3, who typed
	 * them; skip[i]: position i has no reading (it was put in error) */
	int typed;
	struct metro_dec start_m3[MAX_POS], end_m3[MAX_POS];
	char start_by[100], end_by[100];
	int skip[MAX_POS];
};

/* Wait until flow.actual has stayed within band of the setpoint, and inside the item's flow
 * window, for `secs` (simulated).  A flow that approaches from below (a standing start) can
 * be within the band but not yet in the window: it is not stable until it is in both. */
static int stabilise(struct metro_engine *e, const struct metro_proc_item *it, double sp)
{
	double band = it->has_stabilise ? dd(it->stab_band_pct) : 5;
	double secs = it->has_stabilise ? dd(it->stab_seconds) : 5;
	const char *chname =
		it->has_stabilise && it->stab_channel ? it->stab_channel : "flow.actual";
	double lim = fmax(60, 10 * secs), stable = 0, waited = 0, v = 0;
	struct metro_dec lo, hi;
	int rc;
	if ((rc = stim(e, it->window_min, &lo)) || (rc = stim(e, it->window_max, &hi)))
		return rc;
	int windowed = !strcmp(chname, "flow.actual");
	uint64_t t0 = metro_now_ns(), in_since = 0;
	while (stable < secs) {
		if (waited > lim)
			return fault(e,
				     "%s did not stabilise within ±%g %% of %.6g%s in %.0f s (last "
				     "%.6g)",
				     chname, band, sp, windowed ? " and inside the window" : "",
				     lim, v);
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = rig_seconds(e, t0);
		if ((rc = rd(e, chname, &v)))
			return rc;
		struct metro_dec f = metro_dec_from_double(v);
		int in = fabs(v - sp) <= band / 100 * sp &&
			 (!windowed || (metro_dec_cmp(f, lo) >= 0 && metro_dec_cmp(f, hi) <= 0));
		stable = held(e, &in_since, in);
	}
	return METRO_OK;
}

static int in_window(struct metro_engine *e, const struct metro_proc_item *it, double flow)
{
	struct metro_dec lo, hi, f = metro_dec_from_double(flow);
	int rc = stim(e, it->window_min, &lo);
	if (!rc)
		rc = stim(e, it->window_max, &hi);
	if (rc)
		return rc;
	if (metro_dec_cmp(f, lo) < 0 || metro_dec_cmp(f, hi) > 0)
		return fault(e, "%s: actual flow %.6g m3/h outside the window %.6g..%.6g m3/h",
			     it->id, flow, dd(lo), dd(hi));
	return METRO_OK;
}

/* Collect vol litres into the reference (the diverter already sends the water to it) and at
 * least the item's min_seconds, watching the flow's steadiness, the temperature change and the
 * conditions; sets out->flow (mean) and out->seconds.  A violation turns the diverter away
 * and suspends: RERUN once the conditions are back. */
static int collect_volume(struct metro_engine *e, const struct metro_proc_item *it, double sp,
			  double vol, double r0, struct flow_meas *out)
{
	int rc = METRO_OK;
	double flow = 0;
	double elapsed = 0, sum = 0, r = r0, steady = dd(it->steady_pct),
	       maxdt = dd(it->max_temp_change), min_s = dd(it->min_seconds);
	long samples = 0;
	double expected = vol / (sp * 1000 / 3600);
	double limit = 3 * fmax(expected, min_s) + 30;
	uint64_t t0 = metro_now_ns();
	while (r - r0 < vol || elapsed < min_s) {
		if (elapsed > limit) {
			wr(e, "collect", 0);
			return fault(e, "%s: %.6g L of %.6g L collected in %.0f s", it->id, r - r0,
				     vol, elapsed);
		}
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		elapsed = rig_seconds(e, t0);
		double t;
		if ((rc = rd(e, "flow.actual", &flow)) || (rc = rd(e, "ref.volume", &r)) ||
		    (rc = rd(e, "water.temp", &t)))
			return rc;
		sum += flow;
		samples++;
		char why[200] = "";
		if (conditions_violated(e, why, sizeof why, &rc) ||
		    (steady > 0 && fabs(flow - sp) > steady / 100 * sp &&
		     snprintf(why, sizeof why, "flow %.6g m3/h not steady within ±%g %% of %.6g",
			      flow, steady, sp)) ||
		    (maxdt > 0 && fabs(t - out->temp0) > maxdt &&
		     snprintf(why, sizeof why, "water temperature changed by %.3g °C (limit %g)",
			      t - out->temp0, maxdt))) {
			if ((rc = wr(e, "collect", 0)))
				return rc;
			rc = wait_recovery(e, why);
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
			return fault(e, "%s: the flow did not stop within 60 s (%.6g m3/h)", it->id,
				     v);
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = rig_seconds(e, t0);
		int rc = rd(e, "flow.actual", &v);
		if (rc)
			return rc;
		still = held(e, &still_since, fabs(v) <= lim);
	}
	return METRO_OK;
}

/* Ask the operator for the dial readings (m3) of the positions that still have them; a
 * position without an answer is put in error and skipped from then on. */
static int typed_readings(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
			  size_t n, const char *phase, struct metro_dec *vals, char by[100],
			  struct flow_meas *out)
{
	struct pos *ask_ps[MAX_POS];
	size_t idx[MAX_POS], na = 0;
	for (size_t i = 0; i < n; i++)
		if (!out->skip[i]) {
			idx[na] = i;
			ask_ps[na++] = ps[i];
		}
	if (!na)
		return METRO_OK;
	char q[200];
	snprintf(q, sizeof q,
		 "%s: type the %s reading of each meter (m3, every digit the dial shows, "
		 "including the red ones)",
		 it->title ? it->title : it->id, phase);
	int rc = ask(e, it, ask_ps, na, 1, q,
		     json_pack("{sssssss[s]}", "kind", "readings", "phase", phase, "unit", "m3",
			       "answers", "reading"));
	if (rc && rc != NO_ANSWER)
		return rc;
	for (size_t k = 0; k < na; k++) {
		char key[16];
		snprintf(key, sizeof key, "%d", ask_ps[k]->m->position);
		json_t *v = rc == NO_ANSWER ? NULL : json_object_get(e->answer, key);
		if (!v || metro_engine_reading(v, &vals[idx[k]])) {
			pos_error(e, ask_ps[k], it, "no %s reading typed%s", phase,
				  rc == NO_ANSWER ? " within the prompt timeout" : "");
			out->skip[idx[k]] = 1;
		}
	}
	if (rc != NO_ANSWER)
		metro_strlcpy(by, e->answer_operator, 100);
	return METRO_OK;
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
	if ((rc = wr(e, "flow.run", 0)) || (rc = wr(e, "collect", 0)) ||
	    (rc = standstill(e, it, sp)))
		return rc;
	if (chan(e, "totals.reset") &&
	    ((rc = wr(e, "totals.reset", 1)) || (rc = wr(e, "totals.reset", 0))))
		return rc;
	if ((rc = wr(e, "collect", 1)) || (rc = rd(e, "ref.volume", &r0)) ||
	    (rc = rd(e, "water.temp", &out->temp0)))
		return rc;
	if ((rc = typed_readings(e, it, ps, n, "start", out->start_m3, out->start_by, out)))
		return rc;
	if ((rc = wr(e, "flow.setpoint", sp)) || (rc = wr(e, "flow.run", 1)) ||
	    (rc = stabilise(e, it, sp)) || (rc = rd(e, "flow.actual", &flow)) ||
	    (rc = in_window(e, it, flow)) || (rc = collect_volume(e, it, sp, vol, r0, out)))
		return rc;
	if ((rc = wr(e, "flow.run", 0)) || (rc = standstill(e, it, sp)) ||
	    (rc = wr(e, "collect", 0)) || (rc = wait_real(e, fmin(0.2, e->io.poll_s))) ||
	    (rc = rd(e, "ref.volume", &r1)) || (rc = rd(e, "water.temp", &out->temp1)))
		return rc;
	if ((rc = typed_readings(e, it, ps, n, "end", out->end_m3, out->end_by, out)))
		return rc;
	out->ref = metro_dec_sub(litres(r1), litres(r0));
	for (size_t i = 0; i < n; i++) {
		if (out->skip[i])
			continue;
		out->vi[i] = metro_dec_mul(metro_dec_sub(out->end_m3[i], out->start_m3[i]),
					   metro_dec_e(1000, 0));
		if (metro_dec_sign(out->vi[i]) <= 0) {
			pos_error(e, ps[i], it, "end reading not above the start reading");
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
	if ((rc = wr(e, "collect", 0)) || (rc = wr(e, "flow.setpoint", sp)) ||
	    (rc = wr(e, "flow.run", 1)) || (rc = stabilise(e, it, sp)))
		return rc;
	double flow = 0;
	if ((rc = rd(e, "flow.actual", &flow)) || (rc = in_window(e, it, flow)))
		return rc;
	if (chan(e, "totals.reset") &&
	    ((rc = wr(e, "totals.reset", 1)) || (rc = wr(e, "totals.reset", 0))))
		return rc;
	if ((rc = rd(e, "ref.volume", &r0)) || (rc = rd_pos(e, "volume", ps, n, v0)) ||
	    (rc = rd(e, "water.temp", &out->temp0)))
		return rc;
	if ((rc = wr(e, "collect", 1)) || (rc = collect_volume(e, it, sp, vol, r0, out)))
		return rc;
	if ((rc = wr(e, "collect", 0)) || (rc = wait_real(e, fmin(0.2, e->io.poll_s))))
		return rc;
	if ((rc = rd(e, "ref.volume", &r1)) || (rc = rd_pos(e, "volume", ps, n, v1)) ||
	    (rc = rd(e, "water.temp", &out->temp1)))
		return rc;
	out->ref = metro_dec_sub(litres(r1), litres(r0));
	for (size_t i = 0; i < n; i++)
		out->vi[i] = metro_dec_sub(litres(v1[i]), litres(v0[i]));
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
	if ((rc = wr(e, "valve", 0)) || (rc = wr(e, "flow.setpoint", sp)))
		return rc;
	if (chan(e, "bell.reset") &&
	    ((rc = wr(e, "bell.reset", 1)) || (rc = wr(e, "bell.reset", 0))))
		return rc;
	if ((rc = rd(e, "bell.volume", &b0)) || (rc = rd_pos(e, "volume", ps, n, v0)) ||
	    (rc = rd_pos(e, "pressure", ps, n, p0)) || (rc = rd_pos(e, "temp", ps, n, t0)) ||
	    (rc = rd(e, "bell.pressure", &bp0)) || (rc = rd(e, "bell.temp", &out->temp0)) ||
	    (rc = rd(e, "ambient.pressure", &out->ambient_p)))
		return rc;
	if ((rc = wr(e, "valve", 1)))
		return rc;
	double elapsed = 0, b = b0, flow = 0, sum = 0, min_s = dd(it->min_seconds);
	double settle = it->has_stabilise ? dd(it->stab_seconds) : 5;
	double band = it->has_stabilise ? dd(it->stab_band_pct) : 5;
	long samples = 0;
	double limit = 3 * fmax(vol / (sp * 1000 / 3600), min_s) + 30;
	uint64_t start = metro_now_ns();
	while (b - b0 < vol || elapsed < min_s) {
		if (elapsed > limit) {
			wr(e, "valve", 0);
			return fault(e, "%s: %.6g L of %.6g L passed in %.0f s", it->id, b - b0,
				     vol, elapsed);
		}
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		if ((rc = rd(e, "bell.volume", &b)))
			return rc;
		/* The time of the bell reading: a read that waited for a lost reply took seconds,
		 * at a time scale minutes of the rig's time, and the bell ran on meanwhile. */
		elapsed = rig_seconds(e, start);
		/* Collected, with the flow seen in band at least once: the valve closes now, the
		 * flow is not judged any more.  After a stall on the line (a lost reply's timeout
		 * is a minute of rig time at time scale 120) the bell may already be at the
		 * bottom of its stroke, flow 0: for the volumes, read at rest, that is a standing
		 * stop like closing the valve, not a disturbed collection. */
		if (b - b0 >= vol && elapsed >= min_s && samples)
			break;
		if ((rc = rd(e, "flow.actual", &flow)))
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
			if ((rc = wr(e, "valve", 0)))
				return rc;
			metro_warn("run %s: %s: the point is run again", e->b->run_id, why);
			rc = wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (elapsed >= settle) {
			sum += flow;
			samples++;
		}
		if (conditions_violated(e, why, sizeof why, &rc)) {
			if ((rc = wr(e, "valve", 0)))
				return rc;
			rc = wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
	}
	if ((rc = wr(e, "valve", 0)))
		return rc;
	/* Let the bell and the meters come to rest before reading them. */
	for (uint64_t rest = metro_now_ns(); rig_seconds(e, rest) < 30;) {
		if ((rc = wait_real(e, e->io.poll_s)) || (rc = rd(e, "flow.actual", &flow)))
			return rc;
		if (flow <= 0.001 * sp)
			break;
	}
	if ((rc = rd(e, "bell.volume", &b1)) || (rc = rd_pos(e, "volume", ps, n, v1)) ||
	    (rc = rd_pos(e, "pressure", ps, n, p1)) || (rc = rd_pos(e, "temp", ps, n, t1)) ||
	    (rc = rd(e, "bell.pressure", &bp1)) || (rc = rd(e, "bell.temp", &bt1)))
		return rc;
	out->flow = samples ? sum / (double)samples : flow;
	if ((rc = in_window(e, it, out->flow)))
		return rc;
	out->ref = metro_dec_sub(litres(b1), litres(b0));
	out->bell_p = (bp0 + bp1) / 2;
	out->temp1 = bt1;
	for (size_t i = 0; i < n; i++) {
		out->vi[i] = metro_dec_sub(litres(v1[i]), litres(v0[i]));
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
static struct metro_dec carry(struct metro_dec err)
{
	struct metro_dec out;
	if (metro_mx_round(err, metro_dec_e(1, -10), &out))
		return err;
	return out;
}

static int flow_point(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec flow_d, vol_d;
	int rc = stim(e, it->flow, &flow_d);
	if (!rc)
		rc = stim(e, it->volume_l, &vol_d);
	if (rc)
		return rc;
	int gas = !strcmp(e->b->proc->meter, "gas");
	for (size_t i = 0; i < n; i++) {
		ps[i]->nruns = 0;
		ps[i]->nextra = 0;
		ps[i]->done_item = 0;
	}
	struct metro_mx_limits lim = limits_of(e);
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
		rc = gas ? gas_measure(e, it, dd(flow_d), dd(vol_d), need, nn, m)
			 : water_measure(e, it, dd(flow_d), dd(vol_d), need, nn, m);
		if (rc == RERUN) {
			if (++reruns > MAX_RERUNS) {
				rc = fault(e, "%s interrupted %d times", it->id, reruns);
				break;
			}
			continue;
		}
		if (rc)
			break;
		for (size_t i = 0; i < nn; i++) {
			struct pos *p = need[i];
			if (m->skip[i])
				continue; /* no typed reading: already in error */
			const char *cls = metro_batch_text(e->b, p->m, "class");
			json_t *vals = json_object();
			struct metro_mx_judgement jm;
			struct metro_dec mpe;
			int crc;
			if (!gas) {
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
				in.temp_c = rounded((m->temp0 + m->temp1) / 2, 3);
				in.method = METRO_MX_WATER_VOLUMETRIC;
				in.indicated_l = m->vi[i];
				in.actual_l = m->ref;
				crc = metro_mx_water_check(&in, &res);
				jm = res.judgement;
				mpe = res.point.mpe.mpe;
				json_object_set_new(vals, "indicated_l", jdec(m->vi[i]));
				json_object_set_new(vals, "reference_l", jdec(m->ref));
				if (m->typed) {
					json_object_set_new(vals, "start_reading_m3",
							    jdec(m->start_m3[i]));
					json_object_set_new(vals, "end_reading_m3",
							    jdec(m->end_m3[i]));
					json_object_set_new(
						vals, "readings_typed_by",
						json_pack("[ss]", m->start_by, m->end_by));
				}
				json_object_set_new(vals, "flow_m3h", jdec(rounded(m->flow, 6)));
				json_object_set_new(vals, "test_flow_m3h", jdec(flow_d));
				json_object_set_new(vals, "temp_c", jdec(in.temp_c));
				json_object_set_new(
					vals, "zone",
					json_string(metro_mx_zone_name(res.point.mpe.zone)));
				if (crc)
					json_object_set_new(vals, "error",
							    json_string(res.bad.reason
										? res.bad.reason
										: "refused"));
			} else {
				struct metro_mx_gas_input in = {0};
				struct metro_mx_gas_result res;
				metro_mx_parse_gclass(cls, &in.cls);
				in.qmax = metro_batch_value(e->b, p->m, "qmax");
				struct metro_dec qmin = metro_batch_value(e->b, p->m, "qmin");
				in.qmin = metro_dec_valid(qmin) ? qmin : metro_dec_e(0, 0);
				in.flow = flow_d;
				in.limits = lim;
				in.method = METRO_MX_GAS_BELL;
				in.ref.p_atm_kpa = rounded(m->ambient_p, 4);
				in.ref.ref_volume_l = m->ref;
				in.ref.ref_p_kpa = rounded(m->bell_p, 4);
				in.ref.ref_t_c = rounded((m->temp0 + m->temp1) / 2, 3);
				in.ref.meter_volume_l = m->vi[i];
				in.ref.meter_p_kpa = rounded(m->pos_p[i], 4);
				in.ref.meter_t_c = rounded(m->pos_t[i], 3);
				crc = metro_mx_gas_check(&in, &res);
				jm = res.judgement;
				mpe = res.point.mpe.mpe;
				json_object_set_new(vals, "indicated_l", jdec(m->vi[i]));
				json_object_set_new(vals, "bell_l", jdec(m->ref));
				json_object_set_new(vals, "reference_l", jdec(res.ref.reference_l));
				json_object_set_new(vals, "pressure_factor",
						    jdec(res.ref.pressure_factor));
				json_object_set_new(vals, "temperature_factor",
						    jdec(res.ref.temperature_factor));
				json_object_set_new(vals, "flow_m3h", jdec(rounded(m->flow, 6)));
				json_object_set_new(vals, "test_flow_m3h", jdec(flow_d));
				json_object_set_new(vals, "p_atm_kpa", jdec(in.ref.p_atm_kpa));
				json_object_set_new(vals, "bell_p_kpa", jdec(in.ref.ref_p_kpa));
				json_object_set_new(vals, "bell_t_c", jdec(in.ref.ref_t_c));
				json_object_set_new(vals, "meter_p_kpa", jdec(in.ref.meter_p_kpa));
				json_object_set_new(vals, "meter_t_c", jdec(in.ref.meter_t_c));
				json_object_set_new(
					vals, "zone",
					json_string(metro_mx_zone_name(res.point.mpe.zone)));
				if (crc)
					json_object_set_new(vals, "error",
							    json_string(res.bad.reason
										? res.bad.reason
										: "refused"));
			}
			json_object_set_new(vals, "seconds", json_real(m->seconds));
			if (crc) {
				/* The measured point is outside what the rule covers (e.g. a flow
				 * outside Q1..Q4): a rig or procedure problem, not the meter's. */
				json_decref(vals);
				pos_error(e, p, it, "cannot judge the measured point");
				continue;
			}
			p->runs[p->nruns++] = carry(jm.value);
			/* The water rule decides after the first run and again after the two
			 * extra ones; a run in between only waits for its sibling. */
			if (it->repeat == METRO_REPEAT_WATER_RETEST && p->nruns > 1 &&
			    p->nruns < 1 + p->nextra) {
				json_object_set_new(vals, "run",
						    json_integer((json_int_t)p->nruns));
				json_object_set_new(vals, "last_run", judgement_json(&jm));
				emit(e, "point",
				     json_pack("{sisssssssssO}", "position", p->m->position,
					       "serial", p->m->serial, "item", it->id, "kind",
					       metro_item_kind_name(it->kind), "verdict", "pending",
					       "values", vals));
				json_decref(vals);
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
			json_object_set_new(vals, "last_run", judgement_json(&jm));
			if (crc) {
				json_decref(vals);
				pos_error(e, p, it, "repeat rule refused the runs");
				continue;
			}
			if (rep.needs_more) {
				p->nextra = rep.more;
				/* Published as an intermediate point: the run that asks for more.
				 */
				json_object_set_new(vals, "needs_more",
						    json_integer((json_int_t)rep.more));
				json_t *doc =
					json_pack("{sisssssssssO}", "position", p->m->position,
						  "serial", p->m->serial, "item", it->id, "kind",
						  metro_item_kind_name(it->kind), "verdict",
						  "pending", "values", vals);
				emit(e, "point", doc);
				json_decref(vals);
				continue;
			}
			json_object_set_new(vals, "runs", runs_json(p->runs, p->nruns));
			json_object_set_new(vals, "mean", jdec(rep.mean));
			json_object_set_new(vals, "judgement", judgement_json(&rep.judgement));
			p->done_item = 1;
			point_doc(e, p, it, vals,
				  rep.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS
							       : METRO_VERDICT_FAIL);
		}
	}
	free(m);
	return rc;
}

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
	if ((rc = wr(e, "source.voltage", u)) || (rc = wr(e, "source.current", i)) ||
	    (rc = wr(e, "source.phase", phase)) || (rc = wr(e, "source.on", 1)))
		return rc;
	double waited = 0, ru = 0, ri = 0;
	double limit = fmax(settle, 1) + 30;
	uint64_t t0 = metro_now_ns();
	for (;;) {
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = rig_seconds(e, t0);
		if ((rc = rd(e, "ref.voltage", &ru)) || (rc = rd(e, "ref.current", &ri)))
			return rc;
		int ok = fabs(ru - u) <= 0.01 * u && fabs(ri - i) <= fmax(0.01 * i, 1e-4);
		if (ok && waited >= settle)
			return METRO_OK;
		if (waited > limit)
			return fault(e,
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
		if ((rc = wr_pos(e, "meter_constant", ps[i], dd(ps[i]->constant))) ||
		    (rc = wr_pos(e, "pulses_n", ps[i], (double)ps[i]->n_pulses)) ||
		    (rc = wr_pos(e, "start", ps[i], 0)) || (rc = wr_pos(e, "start", ps[i], 1)))
			return rc;
	}
	double status[MAX_POS] = {0}, waited = 0, limit = 3 * seconds_each + 20;
	uint64_t t0 = metro_now_ns();
	for (;;) {
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = rig_seconds(e, t0);
		if ((rc = rd_pos(e, "status", ps, n, status)))
			return rc;
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += status[i] == 2;
		if (done == n || waited > limit)
			break;
	}
	if ((rc = rd_pos(e, "ref_pulses", ps, n, m)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (status[i] != 2)
			m[i] = -1;
		wr_pos(e, "start", ps[i], 0);
	}
	return METRO_OK;
}

static int load_point(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec cur = {0, 0}, volt = {0, 0};
	int rc = stim(e, it->current, &cur);
	if (!rc)
		rc = it->voltage ? stim(e, it->voltage, &volt)
				 : (volt = metro_batch_value(e->b, ps[0]->m, "un"), METRO_OK);
	if (rc)
		return rc;
	enum metro_mx_pf pf;
	metro_mx_parse_pf(it->pf, &pf);
	if ((rc = source(e, dd(volt), dd(cur), phase_of(it->pf), dd(it->settle_seconds))))
		return rc;
	double c0;
	if ((rc = rd(e, "ref.constant", &c0)))
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
			return fault(e, "%s: cannot compute the meter pulses for position %d",
				     it->id, ps[i]->m->position);
		ps[i]->n_pulses = pr.pulses;
		longest = fmax(longest, (double)pr.pulses * pr.period_s);
		ps[i]->nruns = 0;
		ps[i]->nextra = 0;
		ps[i]->done_item = 0;
	}
	struct metro_mx_limits lim = limits_of(e);
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
				pos_error(e, p, it, "error calculator gave no result in time");
				continue;
			}
			struct metro_mx_pulse_input pin = {
				metro_dec_from_double(c0),   p->constant,
				metro_dec_e(p->n_pulses, 0), metro_dec_from_double(counted[i]),
				metro_dec_e(1, 0),	     metro_dec_e(1, 0)};
			struct metro_dec m0, err;
			if (metro_mx_pulse_error(&pin, &m0, &err)) {
				pos_error(e, p, it, "pulse counts refused (m = %.0f)", counted[i]);
				continue;
			}
			p->runs[p->nruns++] = carry(err);
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
				pos_error(e, p, it, "cannot judge: %s %s",
					  res.bad.input ? res.bad.input : "",
					  res.bad.reason ? res.bad.reason : "");
				continue;
			}
			if (!res.complete) {
				p->nextra = res.repeat.more;
				continue;
			}
			json_t *vals = json_object();
			json_object_set_new(vals, "voltage_v", jdec(volt));
			json_object_set_new(vals, "current_a", jdec(cur));
			json_object_set_new(vals, "current_ratio", jdec(in.current.mult));
			json_object_set_new(vals, "pf", json_string(metro_mx_pf_name(pf)));
			json_object_set_new(vals, "meter_pulses", json_integer(p->n_pulses));
			json_object_set_new(vals, "standard_constant", jdec(pin.c0));
			json_object_set_new(vals, "meter_constant", jdec(p->constant));
			json_object_set_new(vals, "computed_pulses_last", jdec(m0));
			json_object_set_new(vals, "standard_pulses_last", json_real(counted[i]));
			json_object_set_new(vals, "readings", runs_json(p->runs, p->nruns));
			json_object_set_new(vals, "mean", jdec(res.repeat.mean));
			json_object_set_new(vals, "band_80_120", json_boolean(res.repeat.band));
			json_object_set_new(vals, "zone_low", jdec(res.point.low));
			json_object_set_new(vals, "judgement", judgement_json(&res.judgement));
			p->done_item = 1;
			point_doc(e, p, it, vals,
				  res.judgement.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS
									 : METRO_VERDICT_FAIL);
		}
	}
	return METRO_OK;
}

/* Start and creep tests share a shape: a fixed stimulus for the longest of the positions' time
 * limits, watching each position's free-running pulse counter. */
static int pulse_watch(struct metro_engine *e, struct pos **ps, size_t n, const double *limit_min,
		       double *first_min, long *pulses)
{
	double base[MAX_POS] = {0}, now[MAX_POS] = {0}, longest = 0;
	int rc = rd_pos(e, "meter_pulses", ps, n, base);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		longest = fmax(longest, limit_min[i]);
		first_min[i] = -1;
		pulses[i] = 0;
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
		if (wait_real(e, fmax(wait_s, 0.001)))
			return METRO_E_STATE;
		prev_min = elapsed_min;
		elapsed_min = rig_seconds(e, t0) / 60;
		if ((rc = rd_pos(e, "meter_pulses", ps, n, now)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (prev_min >= limit_min[i])
				continue; /* this position's time was over before this look: later
					     pulses do not count */
			long c = (long)(now[i] - base[i]);
			if (c > 0 && first_min[i] < 0)
				first_min[i] = elapsed_min;
			pulses[i] = c;
		}
		char why[200];
		if (conditions_violated(e, why, sizeof why, &rc)) {
			rc = wait_recovery(e, why);
			return rc ? rc : RERUN;
		}
		if (rc)
			return rc;
	}
	return METRO_OK;
}

static int start_or_creep(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = active(e, ps);
	if (!n)
		return METRO_OK;
	int creep = it->kind == METRO_ITEM_CREEP_TEST;
	double limit_min[MAX_POS] = {0}, first[MAX_POS] = {0};
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
				return fault(e, "creep test: %s",
					     r.bad.reason ? r.bad.reason : "refused");
			voltage = r.voltage_v;
			limit_min[i] = r.time_min;
			info[i] = json_pack("{sosfsosf}", "voltage_v", jdec(r.voltage_v),
					    "time_min", r.time_min, "k", jdec(r.k), "m", r.m);
		} else {
			struct metro_mx_start_input in = {mm.cls, mm.conn, mm.rated_a, un, c, ph};
			struct metro_mx_start_result r;
			if (metro_mx_start(&in, &r))
				return fault(e, "start test: %s",
					     r.bad.reason ? r.bad.reason : "refused");
			current = r.current_a;
			voltage = un;
			limit_min[i] = r.time_min;
			info[i] = json_pack("{sososfsf}", "current_a", jdec(r.current_a), "factor",
					    jdec(r.factor), "time_min", r.time_min, "m", r.m);
		}
	}
	if (it->voltage && !creep && stim(e, it->voltage, &voltage))
		return METRO_E_IO;
	/* The error calculators learn each meter's constant (their pulse inputs are scaled by it,
	 * and a simulated meter takes it as its own). */
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = wr_pos(e, "meter_constant", ps[i],
			    dd(metro_batch_value(e->b, ps[i]->m, "meter_constant")));
	if (!rc)
		rc = source(e, dd(voltage), dd(current), 0, 1);
	if (!rc)
		rc = pulse_watch(e, ps, n, limit_min, first, pulses);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			json_decref(info[i]);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		enum metro_mx_verdict v;
		json_object_set_new(info[i], "pulses", json_integer(pulses[i]));
		if (creep) {
			metro_mx_creep_judge(pulses[i], it->allowed_pulses, &v);
			json_object_set_new(info[i], "allowed_pulses",
					    json_integer(it->allowed_pulses));
		} else {
			struct metro_mx_start_result r = {0};
			r.time_min = limit_min[i];
			metro_mx_start_judge(&r, pulses[i], first[i] < 0 ? 0 : first[i], &v);
			if (first[i] >= 0)
				json_object_set_new(info[i], "first_pulse_min",
						    json_real(first[i]));
		}
		point_doc(e, ps[i], it, info[i],
			  v == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

static int constant_test(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = active(e, ps);
	if (!n)
		return METRO_OK;
	struct metro_dec cur = {0, 0}, volt = {0, 0}, kwh = {0, 0};
	int rc = stim(e, it->current, &cur);
	if (!rc)
		rc = it->voltage ? stim(e, it->voltage, &volt)
				 : (volt = metro_batch_value(e->b, ps[0]->m, "un"), METRO_OK);
	if (!rc)
		rc = stim(e, it->energy_kwh, &kwh);
	/* Standing start and stop: the reference and the meters are read with no current, so
	 * that reading 24 positions over a slow line cannot skew them against each other. */
	if (!rc)
		rc = source(e, dd(volt), 0, phase_of(it->pf), 1);
	if (rc)
		return rc;
	double e0 = 0, e1 = 0, p0[MAX_POS] = {0}, p1[MAX_POS] = {0};
	if ((rc = rd(e, "ref.energy", &e0)) || (rc = rd_pos(e, "meter_pulses", ps, n, p0)) ||
	    (rc = source(e, dd(volt), dd(cur), phase_of(it->pf), dd(it->settle_seconds))))
		return rc;
	double target = dd(kwh) * 1000, waited = 0, e_now = e0;
	double power = dd(volt) * dd(cur) * cos(phase_of(it->pf) * M_PI / 180);
	double limit = 3 * target / fmax(power, 1e-6) * 3600 + 30;
	uint64_t t0 = metro_now_ns();
	while (e_now - e0 < target) {
		if (waited > limit)
			return fault(e, "%s: %.6g Wh of %.6g Wh in %.0f s", it->id, e_now - e0,
				     target, waited);
		if (wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		waited = rig_seconds(e, t0);
		if ((rc = rd(e, "ref.energy", &e_now)))
			return rc;
	}
	if ((rc = source(e, dd(volt), 0, phase_of(it->pf), 1)) ||
	    (rc = rd_pos(e, "meter_pulses", ps, n, p1)) || (rc = rd(e, "ref.energy", &e1)))
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
			json_pack("{sosososo}", "pulses", jdec(pulses), "meter_constant", jdec(c),
				  "indicated_wh", jdec(ind), "reference_wh", jdec(ref_wh));
		if (metro_mx_volume_error(ind, ref_wh, &err)) {
			json_decref(vals);
			pos_error(e, ps[i], it, "no reference energy");
			continue;
		}
		struct metro_mx_judgement j;
		metro_mx_judge(err, it->limit_pct, METRO_MX_RULE_FULL, metro_dec_e(0, 0), &j);
		json_object_set_new(vals, "judgement", judgement_json(&j));
		point_doc(e, ps[i], it, vals,
			  j.verdict == METRO_MX_PASS ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

/* ---- the run ------------------------------------------------------------------------------ */

static int run_item(struct metro_engine *e, const struct metro_proc_item *it)
{
	for (int tries = 0;; tries++) {
		int rc;
		switch (it->kind) {
		case METRO_ITEM_JUDGEMENT:
			rc = judgement(e, it);
			break;
		case METRO_ITEM_FLOW_POINT:
			rc = flow_point(e, it);
			break;
		case METRO_ITEM_LOAD_POINT:
			rc = load_point(e, it);
			break;
		case METRO_ITEM_START_TEST:
		case METRO_ITEM_CREEP_TEST:
			rc = start_or_creep(e, it);
			break;
		default:
			rc = constant_test(e, it);
			break;
		}
		if (rc != RERUN)
			return rc;
		if (tries >= MAX_RERUNS)
			return fault(e, "%s interrupted %d times", it->id, tries + 1);
	}
}

static void run_start_doc(struct metro_engine *e)
{
	const struct metro_batch *b = e->b;
	const struct metro_procedure *p = b->proc;
	json_t *meters = json_array();
	for (size_t i = 0; i < b->nmeters; i++) {
		const struct metro_batch_meter *m = &b->meters[i];
		json_t *o = json_pack("{sisssO}", "position", m->position, "serial", m->serial,
				      "nameplate", m->nameplate);
		if (m->model)
			json_object_set_new(o, "model", json_string(m->model));
		if (m->manufacturer)
			json_object_set_new(o, "manufacturer", json_string(m->manufacturer));
		if (m->approval)
			json_object_set_new(o, "approval", json_string(m->approval));
		json_array_append_new(meters, o);
	}
	json_t *doc =
		json_pack("{sss{ssssssssssss}sssssbsfso}", "state", "starting", "procedure", "id",
			  p->id, "sha256", p->sha256, "regulation", p->regulation, "edition",
			  p->edition, "verification", p->verification, "limits", p->limits,
			  "operator", b->operator_name, "rig_kind", p->rig, "simulated",
			  b->simulated, "time_scale", b->time_scale, "meters", meters);
	if (b->submitter)
		json_object_set_new(doc, "submitter", json_string(b->submitter));
	if (b->verification_type)
		json_object_set_new(doc, "verification_type", json_string(b->verification_type));
	if (b->resumed_from)
		json_object_set_new(doc, "resumes",
				    json_sprintf("%lld", (long long)b->resumed_from));
	json_t *items = json_array();
	for (size_t i = 0; i < p->nitems; i++)
		json_array_append_new(items, json_string(p->items[i].id));
	json_object_set_new(doc, "items", items);
	emit(e, "run", doc);
}

struct metro_engine *metro_engine_new(struct metro_batch *b, const struct metro_engine_io *io)
{
	struct metro_engine *e = metro_calloc(1, sizeof *e);
	e->b = b;
	e->io = *io;
	if (e->io.poll_s <= 0)
		e->io.poll_s = 0.1;
	e->state = METRO_RUN_IDLE;
	for (size_t i = 0; i < b->nmeters && i < MAX_POS; i++) {
		e->pos[i].m = &b->meters[i];
		e->pos[i].active = 1;
		e->pos[i].verdict = METRO_VERDICT_PASS;
		e->pos[i].failed_items = json_array();
	}
	e->npos = b->nmeters < MAX_POS ? b->nmeters : MAX_POS;
	return e;
}

void metro_engine_destroy(struct metro_engine **pe)
{
	struct metro_engine *e = *pe;
	if (!e)
		return;
	for (size_t i = 0; i < e->npos; i++)
		json_decref(e->pos[i].failed_items);
	json_decref(e->answer);
	free(e);
	*pe = NULL;
}

/* Checks that need the rig: the profile has every channel the procedure names. */
static int preflight(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	for (size_t i = 0; i < p->nconditions; i++)
		if (!chan(e, p->conditions[i].channel))
			return fault(e,
				     "procedure condition on %s: the rig profile has no such "
				     "channel",
				     p->conditions[i].channel);
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].stab_channel && !chan(e, p->items[i].stab_channel))
			return fault(e, "%s: the rig profile has no channel %s", p->items[i].id,
				     p->items[i].stab_channel);
	return METRO_OK;
}

/* A resume-run: the verdict committed for this position's item in the interrupted run, or
 * NULL when the point has to be run. */
static const char *committed(const struct metro_engine *e, const struct pos *p,
			     const struct metro_proc_item *it)
{
	char key[16];
	snprintf(key, sizeof key, "%d", p->m->position);
	return json_string_value(json_object_get(json_object_get(e->b->done, key), it->id));
}

/* A resume-run starts where the interrupted run stood: a position that failed an item there
 * has failed (and takes no further part); the others run only the items they lack. */
static void apply_committed(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	for (size_t i = 0; e->b->done && i < e->npos; i++)
		for (size_t k = 0; k < p->nitems; k++) {
			const char *v = committed(e, &e->pos[i], &p->items[k]);
			if (v && !strcmp(v, "fail")) {
				e->pos[i].active = 0;
				e->pos[i].verdict = METRO_VERDICT_FAIL;
				json_array_append_new(e->pos[i].failed_items,
						      json_string(p->items[k].id));
			} else if (v && !strcmp(v, "conditional") &&
				   e->pos[i].verdict < METRO_VERDICT_CONDITIONAL) {
				e->pos[i].verdict = METRO_VERDICT_CONDITIONAL;
			}
		}
}

const char *metro_engine_run(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	run_start_doc(e);
	apply_committed(e);
	e->state = METRO_RUN_STARTING;
	int rc = preflight(e);
	if (!rc)
		set_state(e, METRO_RUN_RUNNING, NULL);
	for (size_t i = 0; !rc && i < p->nitems; i++) {
		/* Test-point boundary: pause and stop take effect here. */
		if (e->stop_req) {
			set_state(e, METRO_RUN_STOPPING, "stop requested");
			break;
		}
		if (e->pause_req) {
			set_state(e, METRO_RUN_PAUSED, "at the boundary before item");
			while (e->pause_req && !e->stop_req && !e->abort_req && !e->halt_req)
				if (wait_real(e, e->io.poll_s))
					break;
			if (e->abort_req || e->halt_req)
				break;
			if (e->stop_req) {
				set_state(e, METRO_RUN_STOPPING, "stop requested");
				break;
			}
			set_state(e, METRO_RUN_RUNNING, "resumed");
		}
		const struct metro_proc_item *it = &p->items[i];
		struct pos *ps[MAX_POS];
		size_t n = active(e, ps);
		if (!n)
			break; /* every meter has failed or is in error */
		/* resume-run: positions with this item committed sit it out */
		struct pos *out[MAX_POS];
		size_t nout = 0;
		for (size_t k = 0; k < n; k++)
			if (committed(e, ps[k], it)) {
				ps[k]->active = 0;
				out[nout++] = ps[k];
			}
		if (nout < n)
			rc = run_item(e, it);
		for (size_t k = 0; k < nout; k++)
			out[k]->active = 1;
	}
	const char *end;
	enum metro_verdict unfinished;
	if (e->abort_req || e->halt_req) {
		set_state(e, METRO_RUN_ABORTING, e->halt_req ? "halt" : "abort");
		end = "aborted";
		unfinished = METRO_VERDICT_ABORTED;
	} else if (rc) {
		end = "error";
		unfinished = METRO_VERDICT_ERROR;
	} else if (e->stop_req) {
		end = "stopped";
		unfinished = METRO_VERDICT_ABORTED;
	} else {
		end = "done";
		unfinished = METRO_VERDICT_PASS;
	}
	/* A meter still active did not fail anything; it passes only if the run completed. */
	int completed = !strcmp(end, "done");
	for (size_t i = 0; i < e->npos; i++) {
		struct pos *ps = &e->pos[i];
		if (ps->active && !completed) {
			ps->verdict = unfinished > ps->verdict ? unfinished : ps->verdict;
			if (!ps->reason[0])
				snprintf(ps->reason, sizeof ps->reason, "run %s before its end",
					 end);
		}
		json_t *doc = json_pack("{sisssssO}", "position", ps->m->position, "serial",
					ps->m->serial, "verdict", verdict_names[ps->verdict],
					"failed_items", ps->failed_items);
		if (ps->reason[0])
			json_object_set_new(doc, "reason", json_string(ps->reason));
		emit(e, "verdict", doc);
	}
	e->state = METRO_RUN_DONE;
	json_t *doc = json_pack("{ssss}", "state", "done", "result", end);
	if (e->fault[0])
		json_object_set_new(doc, "fault", json_string(e->fault));
	emit(e, "run", doc);
	e->end_state = end;
	return end;
}

int metro_engine_command(struct metro_engine *e, const char *verb, json_t *doc, char *err,
			 size_t errlen)
{
	if (!strcmp(verb, "pause")) {
		if (e->state == METRO_RUN_PAUSED || e->pause_req) {
			snprintf(err, errlen, "already pausing or paused");
			return METRO_E_STATE;
		}
		e->pause_req = 1;
		set_state(e, METRO_RUN_PAUSING, "at the next test-point boundary");
		return METRO_OK;
	}
	if (!strcmp(verb, "resume")) {
		if (!e->pause_req) {
			snprintf(err, errlen, "the run is not paused");
			return METRO_E_STATE;
		}
		e->pause_req = 0;
		if (e->state == METRO_RUN_PAUSING)
			set_state(e, METRO_RUN_RUNNING, "pause cancelled");
		return METRO_OK;
	}
	if (!strcmp(verb, "stop")) {
		e->stop_req = 1;
		return METRO_OK;
	}
	if (!strcmp(verb, "abort") || !strcmp(verb, "halt")) {
		if (!strcmp(verb, "halt"))
			e->halt_req = 1;
		else
			e->abort_req = 1;
		return METRO_OK;
	}
	if (!strcmp(verb, "input")) {
		const char *id = json_string_value(json_object_get(doc, "prompt"));
		json_t *ans = json_object_get(doc, "answer");
		const char *op = json_string_value(json_object_get(doc, "operator"));
		if (!e->prompt_id[0] || !id || strcmp(id, e->prompt_id) != 0) {
			snprintf(err, errlen, "no open prompt '%s'%s%s", id ? id : "",
				 e->prompt_id[0] ? "; the open prompt is " : "", e->prompt_id);
			return METRO_E_STATE;
		}
		if (!op || !op[0]) {
			snprintf(err, errlen, "'operator' is required");
			return METRO_E_INVAL;
		}
		const char *a = json_string_value(ans);
		if (e->prompt_readings) {
			if (metro_engine_check_readings(e->prompt_pos, e->nprompt_pos, ans, err,
							errlen))
				return METRO_E_INVAL;
		} else if (a ? strcmp(a, "pass") != 0 && strcmp(a, "fail") != 0
			     : !json_is_object(ans)) {
			snprintf(err, errlen,
				 "'answer' must be \"pass\", \"fail\" or an object of "
				 "positions");
			return METRO_E_INVAL;
		}
		json_decref(e->answer);
		e->answer = json_incref(ans);
		metro_strlcpy(e->answer_operator, op, sizeof e->answer_operator);
		return METRO_OK;
	}
	snprintf(err, errlen, "unknown run command '%s'", verb);
	return METRO_E_INVAL;
}

int metro_engine_check_readings(const int *positions, size_t n, json_t *ans, char *err,
				size_t errlen)
{
	if (!json_is_object(ans)) {
		snprintf(err, errlen,
			 "'answer' must be an object of readings by position, e.g. {\"1\": "
			 "\"123.4567\"}");
		return METRO_E_INVAL;
	}
	const char *key;
	json_t *v;
	json_object_foreach (ans, key, v) {
		char *end;
		long pos = strtol(key, &end, 10);
		size_t k = 0;
		while (k < n && !(*key && !*end && positions[k] == pos))
			k++;
		struct metro_dec d;
		if (k == n) {
			snprintf(err, errlen,
				 "answer: '%s' is not a position this prompt asks about", key);
			return METRO_E_INVAL;
		}
		if (metro_engine_reading(v, &d)) {
			snprintf(err, errlen,
				 "answer: position %ld: not a meter reading (a decimal number of "
				 "m3, "
				 "0 to 1e9, e.g. \"123.4567\")",
				 pos);
			return METRO_E_INVAL;
		}
	}
	return METRO_OK;
}

int metro_engine_must_end(const struct metro_engine *e)
{
	return e->abort_req || e->halt_req;
}

enum metro_run_state metro_engine_state(const struct metro_engine *e)
{
	return e->state;
}
