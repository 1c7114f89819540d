/* sim_model.h — the physical models behind metrosim's rigs.
 *
 * A model reads what clients wrote (setpoints, coils) from the image, integrates its state over
 * simulated time and writes what the rig would measure back into the image, always by channel
 * name through sim_image.h.  Simulated time is real (CLOCK_MONOTONIC) time multiplied by
 * --time-scale.  Time advances lazily: before every request is served and on a ~10 ms timer, so
 * a reply always reflects the state at the moment the request arrived, and a client's write
 * (a coil edge, say) takes effect at that moment too.
 *
 * Integration uses exact solutions where there are some (the first-order lag of a flow or a
 * source and its integral), in sub-steps of at most max_step_s so that nonlinear parts (error
 * curves, pulse rates) see piecewise-constant conditions.  Pulses and counter increments are
 * discrete events placed at their exact instant inside a sub-step, so quantisation is real.
 */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stdint.h>

#include "profile.h"
#include "sim_fault.h"
#include "sim_image.h"
#include "sim_meters.h"

struct sim_rig;

struct sim_model_ops {
	enum metro_rig_kind kind;
	int default_positions;
	double max_step_s; /* longest integration sub-step, simulated seconds */
	void *(*create)(struct sim_rig *r);
	void (*destroy)(void *st);
	/* Take clients' writes into account: setpoints, coil levels and edges. */
	void (*inputs)(struct sim_rig *r, void *st);
	/* Integrate dt simulated seconds (r->t is the time at the start of the sub-step). */
	void (*step)(struct sim_rig *r, void *st, double dt);
	/* Publish the state into the image. */
	void (*outputs)(struct sim_rig *r, void *st);
};

struct sim_rig {
	const struct sim_model_ops *ops;
	void *st;
	const struct metro_profile *p; /* borrowed */
	struct sim_image *img;	       /* borrowed */
	const struct sim_meters *meters;
	struct sim_fault *fault; /* borrowed: stuck channels, lost pulses */
	double scale;
	uint64_t start_ns, last_ns;
	double t; /* simulated seconds since start */
};

const struct sim_model_ops *sim_model_ops(enum metro_rig_kind kind);

/* Set up r and create the model's state; publishes the initial outputs. */
void sim_rig_init(struct sim_rig *r, enum metro_rig_kind kind, const struct metro_profile *p,
		  struct sim_image *img, const struct sim_meters *meters, struct sim_fault *fault,
		  double scale, uint64_t now_ns);
void sim_rig_fini(struct sim_rig *r);
/* Advance the model to real time now_ns. */
void sim_rig_advance(struct sim_rig *r, uint64_t now_ns);
/* A client wrote into the image: apply the inputs now and republish. */
void sim_rig_written(struct sim_rig *r);

/* ---- helpers shared by the models -------------------------------------------------------- */

/* Channels by name; NULL when the profile does not have them (optional channels). */
const struct metro_channel *sim_ch(const struct sim_rig *r, const char *name);
const struct metro_channel *sim_pos_ch(const struct sim_rig *r, const char *base, int position);

/* First-order lag towards target with time constant tau: the value after dt, and the integral
 * of the value over [0, dt] (both exact). */
double sim_lag(double x, double target, double dt, double tau);
double sim_lag_integral(double x, double target, double dt, double tau);

/* Density of air-free water in kg/m3 at t degC (Tanaka et al., Metrologia 38 (2001) 301). */
double sim_water_density(double t);

/* A temperature that starts at t0 and drifts rate per simulated minute, at most limit away. */
double sim_drift(double t0, double rate_per_min, double limit, double t_s);

/* A meter's volume counter: the true indicated volume is kept with its fraction; the exposed
 * counter advances in whole steps of the resolution, and with the lostpulses fault each step
 * may slip (be lost). */
struct sim_counter {
	double v;	/* indicated volume, L, full precision */
	uint64_t steps; /* whole resolution steps contained in v */
	uint64_t shown; /* steps exposed (steps minus lost ones) */
	double res;	/* L per step; 0: no quantisation */
	int raw_counts; /* the channel's raw unit is exactly one step: write counts, wrapping */
};

/* Initialise for channel ch; res_l is the meter's resolution_l (< 0: from the register). */
void sim_counter_init(struct sim_counter *c, const struct metro_channel *ch, double res_l,
		      int modbus);
void sim_counter_add(struct sim_rig *r, struct sim_counter *c, double dv);
void sim_counter_reset(struct sim_counter *c);
void sim_counter_publish(struct sim_rig *r, const struct sim_counter *c,
			 const struct metro_channel *ch);

/* The profile's model text cut at a word boundary to fit a string channel of len characters. */
void sim_model_text(const struct metro_profile *p, unsigned len, char *out, size_t cap);

extern const struct sim_model_ops sim_flow_ops;
extern const struct sim_model_ops sim_elec_ops;
extern const struct sim_model_ops sim_bell_ops;

#endif
