/* sim_flow.c — the water-meter flow bench model.
 *
 * The pump and line valves (coil flow.run) drive the flow towards flow.setpoint with a
 * first-order lag; without them the flow decays to zero with the same time constant.  While
 * the diverter sends the water into the tank (coil collect) the reference volume integrates the
 * flow, the weighed mass is that volume times the water density at the current temperature
 * divided by the buoyancy factor 1.0011 (so that Va = 1.0011 m / rho(t) gives the volume back,
 * as the regulation computes it), and each position's pulse pick-up count integrates the
 * meter's indicated volume: the true volume times (1 + e/100), e from the meter's error curve
 * at the current flow (plus the meter's run offset for this collection, if it has one),
 * quantised to the count's resolution.
 */
#include <math.h>
#include <stdlib.h>

#include "sim_model.h"
#include "util.h"

#define BUOYANCY 1.0011

struct flow {
	const struct metro_channel *setpoint, *run, *collect, *reset, *actual, *ref_volume,
		*ref_mass, *temp, *pressure, *status, *status_fault, *status_collecting, *model;
	const struct metro_channel **pos_volume; /* [1..n] */
	struct sim_counter *counter;		 /* [1..n] */
	int n;
	double q;      /* actual flow, m3/h */
	double target; /* flow the pump drives towards, m3/h */
	int collecting, reset_prev, fault;
	long collections;    /* times the diverter went to the tank */
	double v_ref, m_ref; /* L, kg */
	double t_now;	     /* degC */
};

static void *flow_create(struct sim_rig *r)
{
	struct flow *f = metro_calloc(1, sizeof *f);
	f->setpoint = sim_ch(r, "flow.setpoint");
	f->run = sim_ch(r, "flow.run");
	f->collect = sim_ch(r, "collect");
	f->reset = sim_ch(r, "totals.reset");
	f->actual = sim_ch(r, "flow.actual");
	f->ref_volume = sim_ch(r, "ref.volume");
	f->ref_mass = sim_ch(r, "ref.mass");
	f->temp = sim_ch(r, "water.temp");
	f->pressure = sim_ch(r, "water.pressure");
	f->status = sim_ch(r, "status");
	f->status_fault = sim_ch(r, "status.fault");
	f->status_collecting = sim_ch(r, "status.collecting");
	f->model = sim_ch(r, "model");
	f->n = r->p->positions;
	f->pos_volume = metro_calloc((size_t)f->n + 1, sizeof *f->pos_volume);
	f->counter = metro_calloc((size_t)f->n + 1, sizeof *f->counter);
	int modbus = r->p->transport == METRO_TRANSPORT_MODBUS;
	for (int k = 1; k <= f->n; k++) {
		f->pos_volume[k] = sim_pos_ch(r, "volume", k);
		sim_counter_init(&f->counter[k], f->pos_volume[k], r->meters->pos[k].resolution_l,
				 modbus);
	}
	if (f->model) {
		char text[METRO_CODEC_STR_MAX + 1];
		sim_model_text(r->p, f->model->codec.str_len, text, sizeof text);
		sim_image_set_str(r->img, f->model, text);
	}
	return f;
}

static void flow_destroy(void *st)
{
	struct flow *f = st;
	free(f->pos_volume);
	free(f->counter);
	free(f);
}

static void flow_inputs(struct sim_rig *r, void *st)
{
	struct flow *f = st;
	const struct sim_bench *b = &r->meters->bench;
	double sp = sim_image_get(r->img, f->setpoint);
	int run = sim_image_get(r->img, f->run) != 0.0;
	/* A setpoint the pump cannot deliver is a bench fault; the pump then runs at its limit. */
	f->fault = run && (!(sp >= 0.0) || sp > b->max_flow_m3h);
	f->target = run ? fmin(fmax(sp, 0.0), b->max_flow_m3h) : 0.0;
	int collecting = sim_image_get(r->img, f->collect) != 0.0;
	if (collecting && !f->collecting)
		f->collections++;
	f->collecting = collecting;
	int reset = sim_image_get(r->img, f->reset) != 0.0;
	if (reset && !f->reset_prev) {
		f->v_ref = 0;
		f->m_ref = 0;
		for (int k = 1; k <= f->n; k++)
			sim_counter_reset(&f->counter[k]);
	}
	f->reset_prev = reset;
}

static void flow_step(struct sim_rig *r, void *st, double dt)
{
	struct flow *f = st;
	const struct sim_bench *b = &r->meters->bench;
	f->t_now = sim_drift(b->water_temp, b->temp_drift_per_min, b->temp_drift_limit, r->t + dt);
	double integral = sim_lag_integral(f->q, f->target, dt, b->flow_tau_s); /* m3/h * s */
	f->q = sim_lag(f->q, f->target, dt, b->flow_tau_s);
	if (!f->collecting || integral <= 0)
		return;
	double dv = integral / 3.6; /* litres: m3/h * s * 1000 L/m3 / 3600 s/h */
	double qmean = integral / dt;
	f->v_ref += dv;
	f->m_ref += dv / 1000.0 * sim_water_density(f->t_now) / BUOYANCY;
	for (int k = 1; k <= f->n; k++) {
		const struct sim_meter *m = &r->meters->pos[k];
		if (m->empty)
			continue;
		double e = sim_meter_error_flow(m, qmean) + sim_meter_run_offset(m, f->collections);
		sim_counter_add(r, &f->counter[k], dv * (1.0 + e / 100.0));
	}
}

static void flow_outputs(struct sim_rig *r, void *st)
{
	struct flow *f = st;
	const struct sim_bench *b = &r->meters->bench;
	f->t_now = sim_drift(b->water_temp, b->temp_drift_per_min, b->temp_drift_limit, r->t);
	sim_image_set(r->img, f->actual, f->q);
	sim_image_set(r->img, f->ref_volume, f->v_ref);
	sim_image_set(r->img, f->ref_mass, f->m_ref);
	sim_image_set(r->img, f->temp, f->t_now);
	double p = b->pressure_kpa - b->pressure_drop_coeff * f->q * f->q;
	sim_image_set(r->img, f->pressure, p > 0 ? p : 0);
	unsigned status = (f->fault ? 1u : 0u) | (f->collecting ? 2u : 0u);
	sim_image_set(r->img, f->status, status);
	sim_image_set(r->img, f->status_fault, f->fault);
	sim_image_set(r->img, f->status_collecting, f->collecting);
	for (int k = 1; k <= f->n; k++)
		sim_counter_publish(r, &f->counter[k], f->pos_volume[k]);
}

const struct sim_model_ops sim_flow_ops = {
	.kind = METRO_RIG_FLOW_BENCH,
	.default_positions = 10,
	.max_step_s = 0.1,
	.create = flow_create,
	.destroy = flow_destroy,
	.inputs = flow_inputs,
	.step = flow_step,
	.outputs = flow_outputs,
};
