/* sim_model.c — simulated time, stuck channels and helpers shared by the rig models. */
#include "sim_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const struct sim_model_ops *sim_model_ops(enum metro_rig_kind kind)
{
	switch (kind) {
	case METRO_RIG_FLOW_BENCH:
		return &sim_flow_ops;
	case METRO_RIG_ELECTRICITY_BENCH:
		return &sim_elec_ops;
	case METRO_RIG_BELL_PROVER:
		return &sim_bell_ops;
	case METRO_RIG_KINDS:
		break;
	}
	return NULL;
}

const struct metro_channel *sim_ch(const struct sim_rig *r, const char *name)
{
	return metro_profile_channel(r->p, name);
}

const struct metro_channel *sim_pos_ch(const struct sim_rig *r, const char *base, int position)
{
	return metro_profile_pos_channel(r->p, base, position);
}

void sim_rig_init(struct sim_rig *r, enum metro_rig_kind kind, const struct metro_profile *p,
		  struct sim_image *img, const struct sim_meters *meters, struct sim_fault *fault,
		  double scale, uint64_t now_ns)
{
	memset(r, 0, sizeof *r);
	r->ops = sim_model_ops(kind);
	r->p = p;
	r->img = img;
	r->meters = meters;
	r->fault = fault;
	r->scale = scale;
	r->start_ns = r->last_ns = now_ns;
	r->st = r->ops->create(r);
	r->ops->inputs(r, r->st);
	r->ops->outputs(r, r->st);
}

void sim_rig_fini(struct sim_rig *r)
{
	if (r->ops && r->st)
		r->ops->destroy(r->st);
	r->st = NULL;
}

/* Start the channel faults whose time has come: stuck channels freeze at the value just
 * published, ignorewrites channels stop taking clients' writes. */
static void activate_stuck(struct sim_rig *r, uint64_t now_ns)
{
	double real_s = (double)(now_ns - r->start_ns) * 1e-9;
	for (size_t i = 0; i < r->fault->nstuck; i++) {
		struct sim_chan_fault *s = &r->fault->stuck[i];
		if (s->active || real_s < s->after_s)
			continue;
		s->active = 1;
		sim_image_freeze(r->img, sim_ch(r, s->channel));
		r->fault->counts[SIM_F_STUCK]++;
	}
	/* ignorewrites: from its time on, writes are answered but not applied (each one
	 * counted by the image) */
	for (size_t i = 0; i < r->fault->nignore; i++) {
		struct sim_chan_fault *s = &r->fault->ignore[i];
		if (s->active || real_s < s->after_s)
			continue;
		s->active = 1;
		sim_image_ignore_writes(r->img,
					strcmp(s->channel, "*") ? sim_ch(r, s->channel) : NULL,
					&r->fault->counts[SIM_F_IGNOREWRITES]);
	}
}

void sim_rig_advance(struct sim_rig *r, uint64_t now_ns)
{
	if (now_ns <= r->last_ns)
		return;
	double dt = (double)(now_ns - r->last_ns) * 1e-9 * r->scale;
	r->last_ns = now_ns;
	r->ops->inputs(r, r->st);
	/* Sub-steps of at most max_step_s, but never more than 100000 of them: after a long
	 * stall (a stopped process) the steps get longer rather than the catch-up endless. */
	double h = r->ops->max_step_s;
	if (dt / h > 100000.0)
		h = dt / 100000.0;
	while (dt > 0) {
		double s = dt < h * 1.000001 ? dt : h;
		r->ops->step(r, r->st, s);
		r->t += s;
		dt -= s;
	}
	r->ops->outputs(r, r->st);
	activate_stuck(r, now_ns);
}

void sim_rig_written(struct sim_rig *r)
{
	r->ops->inputs(r, r->st);
	r->ops->outputs(r, r->st);
}

double sim_lag(double x, double target, double dt, double tau)
{
	double v = target + (x - target) * exp(-dt / tau);
	/* Snap when the remaining difference is below rounding, so that a settled source gives
	 * exactly constant rates. */
	if (fabs(v - target) <= 1e-12 * fmax(1.0, fabs(target)))
		v = target;
	return v;
}

double sim_lag_integral(double x, double target, double dt, double tau)
{
	return target * dt + (x - target) * tau * -expm1(-dt / tau);
}

double sim_water_density(double t)
{
	const double a1 = -3.983035, a2 = 301.797, a3 = 522528.9, a4 = 69.34881, a5 = 999.974950;
	return a5 * (1.0 - (t + a1) * (t + a1) * (t + a2) / (a3 * (t + a4)));
}

double sim_drift(double t0, double rate_per_min, double limit, double t_s)
{
	double d = rate_per_min * t_s / 60.0;
	if (d > limit)
		d = limit;
	if (d < -limit)
		d = -limit;
	return t0 + d;
}

static int is_int_type(enum metro_codec_type t)
{
	return t != METRO_CODEC_F32 && t != METRO_CODEC_F64 && t != METRO_CODEC_STRING;
}

void sim_counter_init(struct sim_counter *c, const struct metro_channel *ch, double res_l,
		      int modbus)
{
	memset(c, 0, sizeof *c);
	int int_chan = ch && modbus && ch->table != METRO_TABLE_COIL &&
		       ch->table != METRO_TABLE_DISCRETE && is_int_type(ch->codec.type);
	if (res_l < 0)
		c->res = int_chan ? fabs(ch->codec.scale) : 0.0;
	else
		c->res = res_l;
	c->raw_counts = int_chan && c->res > 0 && ch->codec.offset == 0.0 &&
			fabs(c->res - fabs(ch->codec.scale)) <= 1e-12 * c->res &&
			ch->codec.scale > 0;
}

void sim_counter_add(struct sim_rig *r, struct sim_counter *c, double dv)
{
	c->v += dv;
	if (c->res <= 0)
		return;
	/* The tiny relative allowance keeps 0.001 * 1000 steps from reading 999.9999 steps. */
	double whole = floor(c->v / c->res * (1.0 + 1e-12));
	if (whole < 0)
		whole = 0;
	uint64_t steps = (uint64_t)whole;
	if (!r->fault->configured[SIM_F_LOSTPULSES] && steps > c->steps) {
		c->shown += steps - c->steps;
		c->steps = steps;
	}
	while (c->steps < steps) {
		c->steps++;
		if (!sim_fault_lose_pulse(r->fault))
			c->shown++;
	}
}

void sim_counter_reset(struct sim_counter *c)
{
	c->v = 0;
	c->steps = 0;
	c->shown = 0;
}

void sim_counter_publish(struct sim_rig *r, const struct sim_counter *c,
			 const struct metro_channel *ch)
{
	if (!ch)
		return;
	if (c->res <= 0)
		sim_image_set(r->img, ch, c->v);
	else if (c->raw_counts)
		sim_image_set_count(r->img, ch, c->shown);
	else
		sim_image_set(r->img, ch, (double)c->shown * c->res);
}

void sim_model_text(const struct metro_profile *p, unsigned len, char *out, size_t cap)
{
	const char *m = p->model ? p->model : "metrosim";
	size_t n = strlen(m);
	if (n > len) {
		/* cut at the last space that leaves a whole word */
		n = len;
		while (n > 0 && m[n] != ' ')
			n--;
		if (n == 0)
			n = len;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, m, n);
	out[n] = '\0';
}
