/* sim_elec.c — the electricity-meter bench model: power source, reference standard meter and
 * one error calculator per position.
 *
 * With source.on the source's voltage and current ramp to their setpoints (first-order, tau
 * source_tau_s) and the phase angle follows source.phase (degrees, positive when the current
 * lags: inductive).  The reference meter reads U, I, phase, P = U I cos(phase) and integrates
 * the energy; it emits pulses at P * C0 / 3.6e6 per second.  Each meter emits pulses at
 * P * (1 + e/100) * C / 3.6e6, e from its error curve at the current and power factor, none
 * below its starting current (creep pulses instead, when powered), none when the position is
 * empty.
 *
 * Pulses are discrete events.  Within a sub-step the rates are constant, so the instant of
 * every meter pulse is known exactly and the reference count at that instant is
 * floor(reference phase then).  An armed calculator opens its gate at the next meter pulse,
 * counts the reference pulses m until N further meter pulses have come, and reports
 * error = (m0 - m) / m * 100 with m0 = C0 N / C: the quantisation of m is the real one.
 *
 * Calculator status: 0 idle, 1 counting (armed, before and after the first meter pulse),
 * 2 done, 3 error (armed with C = 0 or N = 0, or m = 0).  Arming is the 0 -> 1 edge of
 * pos[N].start; writing 0 while counting cancels (status 0); after "done" the result stays until
 * the next arming.
 *
 * The register (display) of each meter, pos[N].register in kWh, counts the energy of the
 * meter's own pulses (the pulse output and the register share the meter's measurement) times
 * 1 + register_error_pct/100, and shows it truncated to register_resolution_kwh, as a display
 * does.  A profile without the channel has no register reading.
 *
 * The clock calculator of each position measures the meter's clock output against the bench's
 * time base: arming is the 0 -> 1 edge of pos[N].clock_start, which latches the gate time
 * pos[N].clock_gate (s); after that much time with the meter powered, pos[N].clock_error is
 * the meter's daily rate error (s/d: its clock error plus its seeded deviation) as a gate of
 * whole clock pulses timed to 1 µs shows it, and pos[N].clock_status 2 (done); status 1 while
 * counting, 3 for a meter without a clock (or an empty position, or a gate under 1 s).
 */
#include <math.h>
#include <stdlib.h>

#include "sim_model.h"
#include "util.h"

enum { CALC_IDLE, CALC_WAIT, CALC_COUNT, CALC_DONE, CALC_ERROR };

struct calc {
	const struct metro_channel *mconst, *pulses_n, *start, *ref_pulses, *meter_pulses, *error,
		*status;
	int start_prev;
	int state;
	double c;   /* meter constant latched at arming, imp/kWh */
	unsigned n; /* meter pulses to gate */
	int64_t r0; /* reference count when the gate opened */
	unsigned seen;
	int64_t m;
	double err;
	double phase;	 /* fractional meter pulse phase */
	uint64_t pulses; /* free-running meter pulse counter */
	/* register and clock calculator (optional channels) */
	const struct metro_channel *reg, *clk_gate, *clk_start, *clk_status, *clk_error;
	double reg_kwh; /* the register's exact content */
	int clk_prev, clk_state;
	double clk_gate_s, clk_elapsed, clk_err;
};

struct elec {
	const struct metro_channel *sv, *si, *sph, *on, *rv, *ri, *rp, *rph, *rconst, *renergy;
	struct calc *pos; /* [1..n] */
	int n;
	int on_now;
	double tv, ti, tph; /* targets */
	double u, i, ph, p; /* reference readings */
	double energy;	    /* Wh */
	int64_t ref_whole;  /* reference pulses so far */
	double ref_frac;
};

static void *elec_create(struct sim_rig *r)
{
	struct elec *e = metro_calloc(1, sizeof *e);
	e->sv = sim_ch(r, "source.voltage");
	e->si = sim_ch(r, "source.current");
	e->sph = sim_ch(r, "source.phase");
	e->on = sim_ch(r, "source.on");
	e->rv = sim_ch(r, "ref.voltage");
	e->ri = sim_ch(r, "ref.current");
	e->rp = sim_ch(r, "ref.power");
	e->rph = sim_ch(r, "ref.phase");
	e->rconst = sim_ch(r, "ref.constant");
	e->renergy = sim_ch(r, "ref.energy");
	e->n = r->p->positions;
	e->pos = metro_calloc((size_t)e->n + 1, sizeof *e->pos);
	for (int k = 1; k <= e->n; k++) {
		struct calc *c = &e->pos[k];
		c->mconst = sim_pos_ch(r, "meter_constant", k);
		c->pulses_n = sim_pos_ch(r, "pulses_n", k);
		c->start = sim_pos_ch(r, "start", k);
		c->ref_pulses = sim_pos_ch(r, "ref_pulses", k);
		c->meter_pulses = sim_pos_ch(r, "meter_pulses", k);
		c->error = sim_pos_ch(r, "error", k);
		c->status = sim_pos_ch(r, "status", k);
		c->reg = sim_pos_ch(r, "register", k);
		c->clk_gate = sim_pos_ch(r, "clock_gate", k);
		c->clk_start = sim_pos_ch(r, "clock_start", k);
		c->clk_status = sim_pos_ch(r, "clock_status", k);
		c->clk_error = sim_pos_ch(r, "clock_error", k);
	}
	return e;
}

static void elec_destroy(void *st)
{
	struct elec *e = st;
	free(e->pos);
	free(e);
}

static void arm(struct sim_rig *r, struct calc *c)
{
	c->c = sim_image_get(r->img, c->mconst);
	double n = sim_image_get(r->img, c->pulses_n);
	c->n = n >= 1 && n < 4e9 ? (unsigned)n : 0;
	c->seen = 0;
	c->m = 0;
	c->err = 0;
	c->state = c->c > 0 && c->n > 0 ? CALC_WAIT : CALC_ERROR;
}

static void clock_arm(struct sim_rig *r, int k, struct calc *c)
{
	const struct sim_meter *m = &r->meters->pos[k];
	c->clk_gate_s = sim_image_get(r->img, c->clk_gate);
	c->clk_elapsed = 0;
	c->clk_err = 0;
	c->clk_state = m->empty || !m->has_clock || c->clk_gate_s < 1 ? CALC_ERROR : CALC_COUNT;
}

/* The clock calculator's result: a gate of whole meter clock pulses (1 Hz nominal) timed by
 * the time base to 1 µs; the daily error is what that timing says. */
static void clock_done(const struct sim_meter *m, struct calc *c)
{
	double rate = (m->clock_error + m->clock_deviation) / 86400.0; /* fractional, fast > 0 */
	double pulses = floor(c->clk_gate_s);
	double t = pulses / (1.0 + rate);
	double timed = round(t * 1e6) / 1e6;
	c->clk_err = (pulses / timed - 1.0) * 86400.0;
	c->clk_state = CALC_DONE;
}

static void elec_inputs(struct sim_rig *r, void *st)
{
	struct elec *e = st;
	e->on_now = sim_image_get(r->img, e->on) != 0.0;
	e->tv = e->on_now ? fabs(sim_image_get(r->img, e->sv)) : 0.0;
	e->ti = e->on_now ? fabs(sim_image_get(r->img, e->si)) : 0.0;
	e->tph = sim_image_get(r->img, e->sph);
	for (int k = 1; k <= e->n; k++) {
		struct calc *c = &e->pos[k];
		int start = sim_image_get(r->img, c->start) != 0.0;
		if (start && !c->start_prev)
			arm(r, c);
		else if (!start && c->start_prev &&
			 (c->state == CALC_WAIT || c->state == CALC_COUNT))
			c->state = CALC_IDLE;
		c->start_prev = start;
		int cs = sim_image_get(r->img, c->clk_start) != 0.0;
		if (cs && !c->clk_prev)
			clock_arm(r, k, c);
		else if (!cs && c->clk_prev && c->clk_state == CALC_COUNT)
			c->clk_state = CALC_IDLE;
		c->clk_prev = cs;
	}
}

/* The meter's constant (imp/kWh): its own, or the calculator's, or 1000. */
static double meter_c(struct sim_rig *r, const struct elec *e, int k)
{
	double c = r->meters->pos[k].meter_constant;
	if (c <= 0)
		c = sim_image_get(r->img, e->pos[k].mconst);
	return c > 0 ? c : 1000.0;
}

/* The meter's pulse rate (per simulated second) in the present conditions. */
static double meter_rate(struct sim_rig *r, struct elec *e, int k)
{
	const struct sim_meter *m = &r->meters->pos[k];
	if (m->empty || e->u < 1.0)
		return 0.0; /* no meter, or no supply to power it */
	if (e->i < m->start_current_a || e->i <= 0)
		return m->creep_per_hour / 3600.0;
	if (e->p <= 0)
		return 0.0; /* reverse energy is not registered */
	double c = meter_c(r, e, k);
	double err = sim_meter_error_elec(m, e->i, e->ph);
	return e->p * (1.0 + err / 100.0) * c / 3.6e6;
}

/* A meter pulse at the instant when the reference phase was ref_whole + ref_at. */
static void meter_pulse(struct sim_rig *r, struct elec *e, struct calc *c, double ref_at)
{
	if (sim_fault_lose_pulse(r->fault))
		return;
	c->pulses++;
	int64_t ref_count = e->ref_whole + (int64_t)floor(ref_at);
	if (c->state == CALC_WAIT) {
		c->r0 = ref_count;
		c->seen = 0;
		c->state = CALC_COUNT;
	} else if (c->state == CALC_COUNT && ++c->seen >= c->n) {
		c->m = ref_count - c->r0;
		if (c->m <= 0) {
			c->state = CALC_ERROR;
			return;
		}
		double m0 = r->meters->bench.ref_constant * c->n / c->c;
		c->err = (m0 - (double)c->m) / (double)c->m * 100.0;
		c->state = CALC_DONE;
	}
}

static void elec_step(struct sim_rig *r, void *st, double dt)
{
	struct elec *e = st;
	const struct sim_bench *b = &r->meters->bench;
	e->u = sim_lag(e->u, e->tv, dt, b->source_tau_s);
	e->i = sim_lag(e->i, e->ti, dt, b->source_tau_s);
	e->ph = sim_lag(e->ph, e->tph, dt, b->source_tau_s);
	e->p = e->u * e->i * cos(e->ph * M_PI / 180.0);
	e->energy += e->p * dt / 3600.0;
	double ref_rate = e->p > 0 ? e->p * b->ref_constant / 3.6e6 : 0.0;
	double ref_adv = ref_rate * dt;
	for (int k = 1; k <= e->n; k++) {
		struct calc *c = &e->pos[k];
		double rate = meter_rate(r, e, k);
		const struct sim_meter *sm = &r->meters->pos[k];
		if (c->clk_state == CALC_COUNT && e->u >= 1.0 &&
		    (c->clk_elapsed += dt) >= c->clk_gate_s)
			clock_done(sm, c);
		if (rate <= 0)
			continue;
		c->reg_kwh += rate * dt / meter_c(r, e, k) * (1.0 + sm->register_error_pct / 100.0);
		double end = c->phase + rate * dt;
		/* every whole crossing of the meter's phase inside this sub-step is a pulse */
		for (double j = floor(c->phase) + 1; j <= end; j += 1.0) {
			double frac = (j - c->phase) / (rate * dt);
			meter_pulse(r, e, c, e->ref_frac + ref_adv * frac);
		}
		c->phase = end - floor(end);
	}
	double ref_end = e->ref_frac + ref_adv;
	double whole = floor(ref_end);
	e->ref_whole += (int64_t)whole;
	e->ref_frac = ref_end - whole;
}

static void elec_outputs(struct sim_rig *r, void *st)
{
	struct elec *e = st;
	sim_image_set(r->img, e->rv, e->u);
	sim_image_set(r->img, e->ri, e->i);
	sim_image_set(r->img, e->rp, e->p);
	sim_image_set(r->img, e->rph, e->ph);
	sim_image_set(r->img, e->rconst, r->meters->bench.ref_constant);
	sim_image_set(r->img, e->renergy, e->energy);
	for (int k = 1; k <= e->n; k++) {
		struct calc *c = &e->pos[k];
		int status = 0;
		int64_t m = 0;
		switch (c->state) {
		case CALC_WAIT:
			status = 1;
			break;
		case CALC_COUNT:
			status = 1;
			m = e->ref_whole - c->r0;
			break;
		case CALC_DONE:
			status = 2;
			m = c->m;
			break;
		case CALC_ERROR:
			status = 3;
			break;
		default:
			break;
		}
		sim_image_set(r->img, c->status, status);
		sim_image_set_count(r->img, c->ref_pulses, (uint64_t)(m > 0 ? m : 0));
		sim_image_set_count(r->img, c->meter_pulses, c->pulses);
		sim_image_set(r->img, c->error, c->state == CALC_DONE ? c->err : 0.0);
		double res = r->meters->pos[k].register_resolution_kwh;
		sim_image_set(r->img, c->reg,
			      res > 0 ? floor(c->reg_kwh / res + 1e-9) * res : c->reg_kwh);
		sim_image_set(r->img, c->clk_status,
			      c->clk_state == CALC_COUNT   ? 1
			      : c->clk_state == CALC_DONE  ? 2
			      : c->clk_state == CALC_ERROR ? 3
							   : 0);
		sim_image_set(r->img, c->clk_error, c->clk_state == CALC_DONE ? c->clk_err : 0.0);
	}
}

const struct sim_model_ops sim_elec_ops = {
	.kind = METRO_RIG_ELECTRICITY_BENCH,
	.default_positions = 24,
	.max_step_s = 0.025,
	.create = elec_create,
	.destroy = elec_destroy,
	.inputs = elec_inputs,
	.step = elec_step,
	.outputs = elec_outputs,
};
