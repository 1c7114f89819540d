/* sim_meters.h — the meters under test and the bench parameters of a simulation (--meters).
 *
 * A meters file (YAML, docs/simulator.md) gives every position a meter with an error curve,
 * or marks it empty, plus a `default:` meter for the positions not listed and a `bench:` map of
 * the rig's physical parameters.  Errors are reported as FILE:LINE:COL through yfile, all of
 * them in one run.
 */
#ifndef SIM_METERS_H
#define SIM_METERS_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "kinds.h"

#define SIM_MAX_RUN_OFFSETS 16

/* The half-width (%) of a meter's individual deviation when a meters file does not give
 * `spread` (docs/simulator.md).  Without a meters file the meters are ideal (0 %, no spread). */
#define SIM_DEFAULT_SPREAD 0.1
/* The same for the daily rate error of an electricity meter's clock (s/d). */
#define SIM_DEFAULT_CLOCK_SPREAD 0.05

/* One point of an error curve.  Water and gas: x is the flow (m3/h), angle unused.
 * Electricity: x is the current (A), angle the phase angle of the point's power factor in
 * degrees (acos(pf), positive inductive "L", negative capacitive "C"). */
struct sim_point {
	double x, angle, err;
};

struct sim_meter {
	int empty;
	char *serial;
	struct sim_point *pts; /* sorted by (angle, x); none: the error is `constant` */
	size_t npts;
	double constant;
	/* The meter's individual deviation: `deviation` (%) is added to the curve's (or the
	 * constant) error; it is drawn uniformly from [-spread, +spread] by sim_meters_deviate()
	 * from the seed and the position, so meters of one curve differ, reproducibly. */
	double spread, deviation;
	/* electricity */
	double start_current_a;
	double creep_per_hour;
	double meter_constant; /* imp/kWh; 0: take the calculator's pos[N].meter_constant */
	/* electricity: the register (display) counts the meter's energy with this extra error
	 * (%, a register that disagrees with the pulse output) and shows it truncated to its
	 * resolution (kWh); the meter's clock (has_clock) runs fast by clock_error s/d, plus
	 * clock_deviation drawn from [-clock_spread, +clock_spread] like `deviation` */
	double register_error_pct, register_resolution_kwh;
	int has_clock;
	double clock_error, clock_spread, clock_deviation;
	/* water: added to the curve's error during the rig's n-th collection (the n-th time the
	 * diverter goes to the tank since the simulator started), run_offsets[n-1]; none past the
	 * list.  Run-to-run variation, so that the retest rule can be exercised. */
	double run_offsets[SIM_MAX_RUN_OFFSETS];
	int nrun_offsets;
	/* water and gas */
	double resolution_l; /* < 0: the register's resolution (integer channels), 0: none */
	/* gas */
	double temp_offset;
	int has_temp_offset;
	/* gas: the meter's pressure loss (Pa) at the bench's pressure_loss_flow_m3h (scaled with
	 * the square of the flow); has_: given, else the bench's pressure_loss_pa */
	double pressure_loss_pa;
	int has_pressure_loss;
};

struct sim_bench {
	/* flow bench */
	double water_temp, temp_drift_per_min, temp_drift_limit, pressure_kpa, pressure_drop_coeff,
		flow_tau_s, max_flow_m3h;
	/* electricity bench */
	double ref_constant, source_tau_s;
	/* bell prover (also temp_drift_per_min, temp_drift_limit, flow_tau_s, max_flow_m3h) */
	double bell_pressure_kpa, bell_temp, ambient_kpa, meter_pressure_drop_kpa,
		meter_temp_offset, bell_capacity_l;
	/* bell prover: the room (ambient.temp, ambient.humidity), the meters' pressure loss at a
	 * reference flow, and a step of the meters' temperature (meter_temp_step, °C) for
	 * meter_temp_step_s simulated seconds from the meter_temp_step_opening-th opening of the
	 * valve (0: never): a meter row warmer than the bell for a while, the JJG 577 1 °C
	 * condition */
	double ambient_temp, humidity_pct, pressure_loss_pa, pressure_loss_flow_m3h,
		meter_temp_step, meter_temp_step_opening, meter_temp_step_s;
};

struct sim_meters {
	struct sim_bench bench;
	struct sim_meter *pos; /* pos[1..npos]; pos[0] is the default meter */
	int npos;
};

/* Parse a rig kind name; returns 0 or -1. */
int sim_rig_kind_parse(const char *name, enum metro_rig_kind *out);

/* Load path (NULL: defaults only) for a rig of kind and positions.  Returns 0 and *out, or
 * METRO_E_INVAL (METRO_E_NOTFOUND, METRO_E_IO) with every problem in diag. */
int sim_meters_load(const char *path, enum metro_rig_kind kind, int positions,
		    struct metro_diag *diag, struct sim_meters **out);
void sim_meters_destroy(struct sim_meters **pm);

/* Draw every position's individual deviation from seed (and the position): uniform in
 * [-spread, +spread] of that meter; the same seed gives the same deviations. */
void sim_meters_deviate(struct sim_meters *ms, uint64_t seed);

/* A meter's error in percent: at flow q (water, gas); at current i and phase angle phase_deg
 * (electricity: the points of the nearest power factor, interpolated in current).  Piecewise
 * linear, constant beyond the ends; plus the meter's individual deviation. */
double sim_meter_error_flow(const struct sim_meter *m, double q);
/* The extra error of the rig's n-th collection (n from 1), 0 when none was given. */
double sim_meter_run_offset(const struct sim_meter *m, long n);
double sim_meter_error_elec(const struct sim_meter *m, double i, double phase_deg);

#endif
