/* sim_bell.c — the gas bell prover model.
 *
 * With the valve open the bell descends and pushes air through the meters in series: the flow
 * follows flow.setpoint with a first-order lag and bell.volume (the encoder) integrates it; with
 * the valve shut the flow stops at once.  At the bottom of its stroke (bell_capacity_l) the bell
 * stops delivering.  The bell holds a constant gauge pressure; each meter sees a little less
 * (meter_pressure_drop_kpa per position) and its own temperature (meter_temp_offset).  Air
 * expands as its pressure drops, so the true volume through meter k is
 *   dV_k = dV_bell * (p_a + p_bell) / (p_a + p_k) * (t_k + 273.15) / (t_bell + 273.15)
 * and the meter indicates dV_k * (1 + e/100), e from its error curve at its own flow.
 */
#include <math.h>
#include <stdlib.h>

#include "sim_model.h"
#include "util.h"

struct bell {
	const struct metro_channel *setpoint, *actual, *valve, *volume, *pressure, *temp, *ambient,
		*reset;
	const struct metro_channel **pos_volume, **pos_pressure, **pos_temp; /* [1..n] */
	const struct metro_channel *amb_temp, *humidity, **pos_dp;	     /* optional channels */
	struct sim_counter *counter;					     /* [1..n] */
	int n;
	double q, target; /* m3/h */
	int open, reset_prev;
	long openings;	/* times the valve opened */
	double step_t0; /* when the opening that starts the meters' temperature step came */
	double v_bell;	/* L */
	double t_now;	/* degC */
};

static void *bell_create(struct sim_rig *r)
{
	struct bell *b = metro_calloc(1, sizeof *b);
	b->setpoint = sim_ch(r, "flow.setpoint");
	b->actual = sim_ch(r, "flow.actual");
	b->valve = sim_ch(r, "valve");
	b->volume = sim_ch(r, "bell.volume");
	b->pressure = sim_ch(r, "bell.pressure");
	b->temp = sim_ch(r, "bell.temp");
	b->ambient = sim_ch(r, "ambient.pressure");
	b->reset = sim_ch(r, "bell.reset");
	b->amb_temp = sim_ch(r, "ambient.temp");
	b->humidity = sim_ch(r, "ambient.humidity");
	b->n = r->p->positions;
	b->pos_volume = metro_calloc((size_t)b->n + 1, sizeof *b->pos_volume);
	b->pos_pressure = metro_calloc((size_t)b->n + 1, sizeof *b->pos_pressure);
	b->pos_temp = metro_calloc((size_t)b->n + 1, sizeof *b->pos_temp);
	b->pos_dp = metro_calloc((size_t)b->n + 1, sizeof *b->pos_dp);
	b->counter = metro_calloc((size_t)b->n + 1, sizeof *b->counter);
	int modbus = r->p->transport == METRO_TRANSPORT_MODBUS;
	for (int k = 1; k <= b->n; k++) {
		b->pos_volume[k] = sim_pos_ch(r, "volume", k);
		b->pos_pressure[k] = sim_pos_ch(r, "pressure", k);
		b->pos_temp[k] = sim_pos_ch(r, "temp", k);
		b->pos_dp[k] = sim_pos_ch(r, "dp", k);
		sim_counter_init(&b->counter[k], b->pos_volume[k], r->meters->pos[k].resolution_l,
				 modbus);
	}
	return b;
}

static void bell_destroy(void *st)
{
	struct bell *b = st;
	free(b->pos_volume);
	free(b->pos_pressure);
	free(b->pos_temp);
	free(b->pos_dp);
	free(b->counter);
	free(b);
}

static void bell_inputs(struct sim_rig *r, void *st)
{
	struct bell *b = st;
	const struct sim_bench *bb = &r->meters->bench;
	double sp = sim_image_get(r->img, b->setpoint);
	int was_open = b->open;
	b->open = sim_image_get(r->img, b->valve) != 0.0;
	if (b->open && !was_open && ++b->openings == (long)bb->meter_temp_step_opening)
		b->step_t0 = r->t;
	b->target = b->open ? fmin(fmax(sp, 0.0), bb->max_flow_m3h) : 0.0;
	if (!b->open)
		b->q = 0.0;
	int reset = sim_image_get(r->img, b->reset) != 0.0;
	if (reset && !b->reset_prev) {
		b->v_bell = 0;
		for (int k = 1; k <= b->n; k++)
			sim_counter_reset(&b->counter[k]);
	}
	b->reset_prev = reset;
}

static double meter_pressure(const struct sim_bench *bb, int k)
{
	return bb->bell_pressure_kpa - bb->meter_pressure_drop_kpa * k;
}

static double meter_temp(const struct sim_rig *r, const struct bell *b, double t_bell, int k)
{
	const struct sim_meter *m = &r->meters->pos[k];
	const struct sim_bench *bb = &r->meters->bench;
	double step = bb->meter_temp_step_opening > 0 &&
				      b->openings >= (long)bb->meter_temp_step_opening &&
				      r->t < b->step_t0 + bb->meter_temp_step_s
			      ? bb->meter_temp_step
			      : 0.0;
	return t_bell + (m->has_temp_offset ? m->temp_offset : bb->meter_temp_offset) + step;
}

/* The pressure loss across meter k (Pa) at flow q: its loss at the reference flow, scaled
 * with the square of the flow; an empty position has none. */
static double meter_dp(const struct sim_rig *r, int k, double q)
{
	const struct sim_meter *m = &r->meters->pos[k];
	const struct sim_bench *bb = &r->meters->bench;
	if (m->empty)
		return 0.0;
	double ref = m->has_pressure_loss ? m->pressure_loss_pa : bb->pressure_loss_pa;
	double x = q / bb->pressure_loss_flow_m3h;
	return ref * x * x;
}

static void bell_step(struct sim_rig *r, void *st, double dt)
{
	struct bell *b = st;
	const struct sim_bench *bb = &r->meters->bench;
	b->t_now =
		sim_drift(bb->bell_temp, bb->temp_drift_per_min, bb->temp_drift_limit, r->t + dt);
	if (!b->open)
		return;
	double integral = sim_lag_integral(b->q, b->target, dt, bb->flow_tau_s);
	b->q = sim_lag(b->q, b->target, dt, bb->flow_tau_s);
	double dv = integral / 3.6;
	if (bb->bell_capacity_l > 0 && b->v_bell + dv >= bb->bell_capacity_l) {
		/* the bell has reached the bottom of its stroke */
		dv = bb->bell_capacity_l - b->v_bell;
		b->q = 0.0;
		b->target = 0.0;
	}
	if (dv <= 0)
		return;
	double qmean = dv * 3.6 / dt;
	b->v_bell += dv;
	double pa = bb->ambient_kpa, pb = bb->bell_pressure_kpa;
	for (int k = 1; k <= b->n; k++) {
		const struct sim_meter *m = &r->meters->pos[k];
		if (m->empty)
			continue;
		double factor = (pa + pb) / (pa + meter_pressure(bb, k)) *
				(meter_temp(r, b, b->t_now, k) + 273.15) / (b->t_now + 273.15);
		double e = sim_meter_error_flow(m, qmean * factor);
		sim_counter_add(r, &b->counter[k], dv * factor * (1.0 + e / 100.0));
	}
}

static void bell_outputs(struct sim_rig *r, void *st)
{
	struct bell *b = st;
	const struct sim_bench *bb = &r->meters->bench;
	b->t_now = sim_drift(bb->bell_temp, bb->temp_drift_per_min, bb->temp_drift_limit, r->t);
	sim_image_set(r->img, b->actual, b->q);
	sim_image_set(r->img, b->volume, b->v_bell);
	sim_image_set(r->img, b->pressure, bb->bell_pressure_kpa);
	sim_image_set(r->img, b->temp, b->t_now);
	sim_image_set(r->img, b->ambient, bb->ambient_kpa);
	sim_image_set(r->img, b->amb_temp, bb->ambient_temp);
	sim_image_set(r->img, b->humidity, bb->humidity_pct);
	for (int k = 1; k <= b->n; k++) {
		sim_image_set(r->img, b->pos_pressure[k], meter_pressure(bb, k));
		sim_image_set(r->img, b->pos_temp[k], meter_temp(r, b, b->t_now, k));
		sim_image_set(r->img, b->pos_dp[k], meter_dp(r, k, b->q));
		sim_counter_publish(r, &b->counter[k], b->pos_volume[k]);
	}
}

const struct sim_model_ops sim_bell_ops = {
	.kind = METRO_RIG_BELL_PROVER,
	.default_positions = 6,
	.max_step_s = 0.1,
	.create = bell_create,
	.destroy = bell_destroy,
	.inputs = bell_inputs,
	.step = bell_step,
	.outputs = bell_outputs,
};
