/* metrology.h — the arithmetic of the verification regulations (JJG 162 water, JJG 596 / IEC
 * 62053 electricity, JJG 577 gas) as a pure module: no I/O, no globals, no allocation.
 *
 * Every number is an exact struct metro_dec (decimal.h).  The error formulas are rational
 * functions of decimal inputs, so errors are exact; rounding (GB/T 8170, half to even) and the
 * comparisons against zone boundaries and limits are exact too.  Only quantities that are not
 * judged (time limits with √3, the power of a load point) are doubles.  docs/metrology.md gives
 * the source of every rule and the values still to confirm.
 *
 * Conventions: functions return METRO_OK, METRO_E_INVAL (bad argument: an invalid number, an
 * unknown enum value, inputs that contradict each other) or METRO_E_RANGE (a value outside the
 * domain of the rule: a negative volume, a flow above Q4, an overflow).  Results go to
 * out-parameters; result structs are cleared first and carry the inputs, the intermediate
 * values and the outcome, so a record can be audited from the result alone.  On error the
 * result's `bad` names the offending input ("flow") and says why, in English.
 */
#ifndef METRO_METROLOGY_H
#define METRO_METROLOGY_H

#include <stddef.h>

#include "decimal.h"

/* ---- vocabulary ----------------------------------------------------------------------- */

enum metro_mx_verdict { METRO_MX_PASS, METRO_MX_FAIL };

/* How a verdict was reached: on the exact error (water, gas: the regulations give no rounding
 * interval) or on the error rounded to the class's interval (electricity). */
enum metro_mx_rule { METRO_MX_RULE_FULL, METRO_MX_RULE_ROUNDED };

enum metro_mx_kind { METRO_MX_WATER, METRO_MX_ELECTRICITY, METRO_MX_GAS };

/* Verification types.  SAMPLING_NEW: supervision sampling of first-verified meters that were
 * never installed; SAMPLING_IN_USE: sampling of meters in use (judged against in-service
 * limits); COMPLAINT: verification on a consumer complaint (limits are a procedure parameter). */
enum metro_mx_vtype {
	METRO_MX_INITIAL,
	METRO_MX_SUBSEQUENT,
	METRO_MX_IN_SERVICE,
	METRO_MX_SAMPLING_NEW,
	METRO_MX_SAMPLING_IN_USE,
	METRO_MX_COMPLAINT,
};

/* Which limits a complaint verification uses; UNSET is refused (nothing is guessed). */
enum metro_mx_complaint {
	METRO_MX_COMPLAINT_UNSET,
	METRO_MX_COMPLAINT_NEW,	       /* the limits of initial verification */
	METRO_MX_COMPLAINT_IN_SERVICE, /* the in-service limits */
};

enum metro_mx_zone { METRO_MX_ZONE_LOWER, METRO_MX_ZONE_UPPER };

enum metro_mx_wclass { METRO_MX_WCLASS_1, METRO_MX_WCLASS_2 };
enum metro_mx_eclass {
	METRO_MX_ECLASS_0_2S,
	METRO_MX_ECLASS_0_5S,
	METRO_MX_ECLASS_1,
	METRO_MX_ECLASS_2
};
enum metro_mx_gclass { METRO_MX_GCLASS_1_0, METRO_MX_GCLASS_1_5 };
enum metro_mx_connection { METRO_MX_DIRECT, METRO_MX_CT };
enum metro_mx_pf { METRO_MX_PF_1, METRO_MX_PF_0_5L, METRO_MX_PF_0_8C };
/* single-phase (m = 1), three-phase four-wire (m = 3), three-phase three-wire (m = √3) */
enum metro_mx_phases { METRO_MX_PHASES_1, METRO_MX_PHASES_3P4W, METRO_MX_PHASES_3P3W };
enum metro_mx_ibase { METRO_MX_IB, METRO_MX_IN, METRO_MX_IMAX };

/* A test current as a multiple of a rated current: "0.1Ib" is {0.1, IB}, "Imax" is {1, IMAX}. */
struct metro_mx_current {
	struct metro_dec mult;
	enum metro_mx_ibase base;
};

/* Why a function refused its input: the input's name (as in the structs and in the options of
 * `metroctl calc`, e.g. "flow", "temp", "current") and a short English reason.  Both point to
 * string literals; NULL when there was no error. */
struct metro_mx_bad {
	const char *input;
	const char *reason;
};

/* Names and parsers shared by the procedure engine and metroctl.  A parser takes the exact
 * spelling of the name function ("0.5S", "in-service", "0.5L", "3w"; "1" is accepted for the
 * power factor "1.0") and returns METRO_OK or METRO_E_INVAL (*out untouched).  A name function
 * returns "?" for a value outside the enum. */
const char *metro_mx_verdict_name(enum metro_mx_verdict v); /* "pass", "fail" */
const char *metro_mx_rule_name(enum metro_mx_rule r);	    /* "full-precision", "rounded" */
const char *metro_mx_zone_name(enum metro_mx_zone z);	    /* "lower", "upper" */
const char *metro_mx_vtype_name(enum metro_mx_vtype t);
const char *metro_mx_wclass_name(enum metro_mx_wclass c);	  /* "1", "2" */
const char *metro_mx_eclass_name(enum metro_mx_eclass c);	  /* "0.2S", "0.5S", "1", "2" */
const char *metro_mx_gclass_name(enum metro_mx_gclass c);	  /* "1.0", "1.5" */
const char *metro_mx_connection_name(enum metro_mx_connection c); /* "direct", "ct" */
const char *metro_mx_pf_name(enum metro_mx_pf pf);		  /* "1.0", "0.5L", "0.8C" */
const char *metro_mx_phases_name(enum metro_mx_phases p);	  /* "1", "3", "3w" */
int metro_mx_parse_vtype(const char *s, enum metro_mx_vtype *out);
int metro_mx_parse_wclass(const char *s, enum metro_mx_wclass *out);
int metro_mx_parse_eclass(const char *s, enum metro_mx_eclass *out);
int metro_mx_parse_gclass(const char *s, enum metro_mx_gclass *out);
int metro_mx_parse_connection(const char *s, enum metro_mx_connection *out);
int metro_mx_parse_pf(const char *s, enum metro_mx_pf *out);
int metro_mx_parse_phases(const char *s, enum metro_mx_phases *out);
/* "Ib", "In", "Imax", optionally preceded by a positive decimal multiplier ("0.05In"). */
int metro_mx_parse_current(const char *s, struct metro_mx_current *out);

/* ---- rounding and judgement ------------------------------------------------------------ */

/* Round value to a multiple of interval (> 0), half to even on the exact value, sign kept
 * (GB/T 8170).  Returns METRO_OK and *out; METRO_E_INVAL for an invalid number or an interval
 * <= 0; METRO_E_RANGE on overflow. */
int metro_mx_round(struct metro_dec value, struct metro_dec interval, struct metro_dec *out);

/* The rounding interval of an electricity class, in %: 0.02, 0.05, 0.1, 0.2.  METRO_E_INVAL
 * for an unknown class. */
int metro_mx_interval(enum metro_mx_eclass cls, struct metro_dec *out);

struct metro_mx_judgement {
	enum metro_mx_rule rule;
	struct metro_dec value;	       /* the exact error, % */
	struct metro_dec interval;     /* RULE_ROUNDED: the rounding interval, %; else 0 */
	struct metro_dec rounded;      /* RULE_ROUNDED: value rounded to interval; else value */
	struct metro_dec judged;       /* what was compared with the limit: rounded or value */
	struct metro_dec mpe;	       /* the limit, % (> 0) */
	enum metro_mx_verdict verdict; /* PASS when |judged| <= mpe (the limit itself passes) */
};

/* Judge an error against a limit by rule.  interval is used only by RULE_ROUNDED.  Returns
 * METRO_OK and *out; METRO_E_INVAL for an invalid number, an unknown rule, mpe <= 0 or (rounded)
 * interval <= 0; METRO_E_RANGE on overflow. */
int metro_mx_judge(struct metro_dec error, struct metro_dec mpe, enum metro_mx_rule rule,
		   struct metro_dec interval, struct metro_mx_judgement *out);

/* ---- limits by verification type ------------------------------------------------------ */

struct metro_mx_limits {
	enum metro_mx_vtype type;
	enum metro_mx_complaint complaint;  /* type COMPLAINT: which limits (procedure parameter) */
	struct metro_dec mpe_factor;	    /* procedure factor, 0 < f <= 1; 0 (unset) means 1 */
	struct metro_dec in_service_factor; /* > 0: overrides the table's in-service factor */
};

struct metro_mx_mpe {
	enum metro_mx_zone zone;      /* set by the kind-specific function */
	struct metro_dec base;	      /* legal MPE of initial/subsequent verification, % */
	int in_service;		      /* the in-service limits apply */
	struct metro_dec type_factor; /* 1, or the in-service factor */
	struct metro_dec legal;	      /* base × type_factor: the legal limit of this type, % */
	struct metro_dec mpe_factor;  /* the procedure factor applied (1 when unset) */
	struct metro_dec mpe;	      /* legal × mpe_factor: the limit verdicts use, % */
	struct metro_mx_bad bad;      /* metro_mx_apply_limits: what was refused */
};

/* Apply the verification type and the procedure factor to a base MPE (> 0).  In-service
 * factors: water 2, gas 2, electricity 1 (see docs/metrology.md), unless l->in_service_factor
 * overrides.  Fills everything but out->zone.  Returns METRO_OK; METRO_E_INVAL for an unknown
 * kind or type, a complaint without its limits, an invalid number; METRO_E_RANGE for a factor
 * outside its range (mpe_factor must be in (0, 1]: it may tighten the legal limit, never
 * loosen it; the override must be > 0). */
int metro_mx_apply_limits(enum metro_mx_kind kind, const struct metro_mx_limits *l,
			  struct metro_dec base, struct metro_mx_mpe *out);

/* ---- water meters (JJG 162, OIML R49) ------------------------------------------------- */

struct metro_mx_water_meter {
	struct metro_dec q3; /* permanent flow rate, m³/h */
	struct metro_dec r;  /* ratio Q3/Q1 */
	enum metro_mx_wclass cls;
};

struct metro_mx_water_point {
	struct metro_dec q1, q2, q4; /* Q3/R, 1.6·Q1, 1.25·Q3, exact (m³/h) */
	struct metro_dec flow;	     /* the test flow rate, m³/h */
	struct metro_dec temp_c;     /* the water temperature */
	int warm;		     /* water above 30 °C */
	struct metro_mx_mpe mpe;     /* zone: UPPER for Q2 <= Q <= Q4, LOWER for Q1 <= Q < Q2 */
	struct metro_mx_bad bad;
};

/* The MPE of a water meter at a flow rate and water temperature.  Q2 belongs to the upper zone;
 * the comparisons are exact.  Returns METRO_OK; METRO_E_INVAL for an unknown class or invalid
 * number; METRO_E_RANGE for q3 <= 0, R < 1.6 (Q2 would exceed Q3), a flow outside [Q1, Q4], a
 * temperature outside [0.1, 180] °C. */
int metro_mx_water_mpe(const struct metro_mx_water_meter *m, struct metro_dec flow,
		       struct metro_dec temp_c, const struct metro_mx_limits *l,
		       struct metro_mx_water_point *out);

/* Density of air-free water at temp_c (0..40 °C) by the formula of Tanaka et al., Metrologia 38
 * (2001) 301 (CIPM recommendation), in kg/L.  temp_c is first rounded half to even to 0.001 °C;
 * the formula is evaluated exactly and the result rounded half to even to 1e-9 kg/L (see
 * docs/metrology.md).  METRO_E_RANGE outside 0..40 °C. */
int metro_mx_water_density(struct metro_dec temp_c, struct metro_dec *kg_per_l);

/* E = (indicated - reference) / reference × 100 %, exactly.  indicated >= 0, reference > 0,
 * else METRO_E_RANGE. */
int metro_mx_volume_error(struct metro_dec indicated, struct metro_dec reference,
			  struct metro_dec *error_pct);

/* Gravimetric reference volume Va = C·m/ρ in L, exactly: mass_kg > 0, density 0.9..1.1 kg/L
 * (catches kg/m³ typed for kg/L), buoyancy factor C in [1, 1.01) (0 means the default 1.0011).
 * METRO_E_RANGE otherwise. */
int metro_mx_gravimetric_volume(struct metro_dec mass_kg, struct metro_dec density_kg_l,
				struct metro_dec buoyancy, struct metro_dec *volume_l);

/* Smallest test volume: at least 200 verification scale intervals and one minute of flow.
 * scale_interval_l > 0, flow_m3h > 0, else METRO_E_RANGE. */
int metro_mx_water_min_volume(struct metro_dec scale_interval_l, struct metro_dec flow_m3h,
			      struct metro_dec *min_l);

enum metro_mx_wmethod {
	METRO_MX_WATER_GIVEN,	    /* error given in % */
	METRO_MX_WATER_VOLUMETRIC,  /* indicated and actual (reference) volume */
	METRO_MX_WATER_GRAVIMETRIC, /* indicated volume, mass, density, buoyancy */
};

struct metro_mx_water_input {
	struct metro_mx_water_meter meter;
	struct metro_mx_limits limits;
	struct metro_dec flow;	 /* m³/h */
	struct metro_dec temp_c; /* water temperature, °C */
	enum metro_mx_wmethod method;
	struct metro_dec error;	       /* GIVEN: % */
	struct metro_dec indicated_l;  /* VOLUMETRIC, GRAVIMETRIC: end minus start reading */
	struct metro_dec actual_l;     /* VOLUMETRIC: reference volume */
	struct metro_dec mass_kg;      /* GRAVIMETRIC */
	struct metro_dec density_kg_l; /* GRAVIMETRIC; 0: metro_mx_water_density(temp_c) */
	struct metro_dec buoyancy;     /* GRAVIMETRIC; 0: 1.0011 */
};

struct metro_mx_water_result {
	struct metro_mx_water_input in;
	struct metro_mx_water_point point;
	struct metro_dec density_kg_l; /* GRAVIMETRIC: the density used */
	struct metro_dec buoyancy;     /* GRAVIMETRIC: the factor used */
	struct metro_dec actual_l;     /* VOLUMETRIC, GRAVIMETRIC: the reference volume used */
	struct metro_mx_judgement judgement; /* RULE_FULL: the exact error against the MPE */
	struct metro_mx_bad bad;
};

/* One water test run: zone and MPE, reference volume, error, verdict at full precision.  A run
 * that fails here triggers the retest of metro_mx_water_repeat().  Returns as the functions it
 * uses; METRO_E_INVAL for an unknown method. */
int metro_mx_water_check(const struct metro_mx_water_input *in, struct metro_mx_water_result *out);

/* ---- repeat rules --------------------------------------------------------------------- */

#define METRO_MX_MAX_RUNS 16

struct metro_mx_repeat {
	size_t n;		     /* runs (readings) considered */
	struct metro_dec first_mean; /* mean of the first run(s) that decided about more runs */
	struct metro_dec mean;	     /* mean of all n, exact */
	int band;		     /* electricity: first_mean within 80..120 % of the MPE */
	int needs_more;		     /* the rule asks for `more` further runs: no verdict yet */
	size_t more;
	struct metro_mx_judgement judgement; /* of the mean (when !needs_more) */
	enum metro_mx_verdict verdict;	     /* by the whole rule (when !needs_more) */
	struct metro_mx_bad bad;
};

/* Water: one run; if it exceeds the MPE two more; pass only if both extra runs and the mean of
 * the three are within the MPE (at full precision).  n == 1: pass, or needs_more with more = 2;
 * n == 3: the final verdict (METRO_E_INVAL when runs[0] was within the MPE: no retest was due).
 * mpe > 0.  Other n: METRO_E_INVAL. */
int metro_mx_water_repeat(const struct metro_dec *runs, size_t n, struct metro_dec mpe,
			  struct metro_mx_repeat *out);

/* Electricity: readings[0 .. n-nextra) are the first readings (at least 2), averaged; when that
 * mean lies within 80 %..120 % of the MPE (inclusive, exact) two more are taken and all are
 * averaged.  nextra == 0 and mean in the band: needs_more (more = 2); nextra == 2: only valid
 * when the first mean was in the band.  The verdict is on the mean rounded to interval.
 * n <= METRO_MX_MAX_RUNS. */
int metro_mx_elec_repeat(const struct metro_dec *readings, size_t n, size_t nextra,
			 struct metro_dec mpe, struct metro_dec interval,
			 struct metro_mx_repeat *out);

enum metro_mx_mean_rule {
	METRO_MX_MEAN_ONLY,	/* pass when the mean is within the MPE */
	METRO_MX_MEAN_AND_EACH, /* ... and every run is */
	METRO_MX_EACH,		/* pass when every run is within the MPE */
};

struct metro_mx_gas_rule {
	size_t runs; /* runs per point, 1..METRO_MX_MAX_RUNS */
	enum metro_mx_mean_rule mean_rule;
};

/* Gas (configurable by the procedure): needs_more until rule->runs runs are in; then the
 * verdict by rule->mean_rule at full precision.  n > rule->runs: METRO_E_INVAL. */
int metro_mx_gas_repeat(const struct metro_dec *runs, size_t n,
			const struct metro_mx_gas_rule *rule, struct metro_dec mpe,
			struct metro_mx_repeat *out);

/* ---- electricity meters (JJG 596, IEC 62053-21/22) ------------------------------------ */

struct metro_mx_elec_meter {
	enum metro_mx_eclass cls;
	enum metro_mx_connection conn;
	struct metro_dec rated_a; /* Ib (direct) or In (CT) in A; 0 when unknown */
	struct metro_dec imax_a;  /* Imax in A; 0 when unknown */
};

struct metro_mx_elec_point {
	struct metro_dec low;	     /* lowest current of the MPE table row, × rated current */
	struct metro_dec breakpoint; /* lower/upper zone boundary, × rated current */
	int ratio_known;	     /* the current relative to the rated one is known */
	struct metro_dec ratio;	     /* ... and is this (I/Ib or I/In) */
	struct metro_dec interval;   /* the class's rounding interval, % */
	struct metro_mx_mpe mpe;
	struct metro_mx_bad bad;
};

/* The MPE of an electricity meter at a load point (single-phase or balanced load).  Direct
 * meters (classes 1, 2) are rated by Ib, transformer-operated ones by In; a current given
 * relative to Imax is placed exactly when rated_a and imax_a are known, and otherwise only when
 * its multiplier is at least the breakpoint (Imax >= Ib, In): anything else is refused, not
 * guessed.  Returns METRO_OK; METRO_E_INVAL for an unknown enum, an S class with direct
 * connection, Ib with CT or In with direct connection, an Imax current that cannot be placed;
 * METRO_E_RANGE for a current below the table or above Imax, Imax < rated current. */
int metro_mx_elec_mpe(const struct metro_mx_elec_meter *m, const struct metro_mx_current *i,
		      enum metro_mx_pf pf, const struct metro_mx_limits *l,
		      struct metro_mx_elec_point *out);

struct metro_mx_pulse_input {
	struct metro_dec c0; /* standard meter constant, imp/kWh */
	struct metro_dec c;  /* meter under test constant, imp/kWh */
	struct metro_dec n;  /* meter pulses (integer >= 1) */
	struct metro_dec m;  /* standard pulses counted (integer >= 1) */
	struct metro_dec ki; /* current transformer ratio; 0 means 1 (no transformer) */
	struct metro_dec ku; /* voltage transformer ratio; 0 means 1 */
};

/* Standard-meter pulse method: computed standard pulses m0 = C0·N/(C·K_I·K_U) and the error
 * γ = (m0 - m)/m × 100 %, both exact.  METRO_E_RANGE for constants or ratios <= 0 or pulse
 * counts that are not positive integers. */
int metro_mx_pulse_error(const struct metro_mx_pulse_input *p, struct metro_dec *computed,
			 struct metro_dec *error_pct);

enum metro_mx_emethod {
	METRO_MX_ELEC_GIVEN,	/* error given in % */
	METRO_MX_ELEC_READINGS, /* readings of an error calculator, averaged by the repeat rule */
	METRO_MX_ELEC_PULSES,	/* standard-meter pulse method, one measurement */
};

struct metro_mx_elec_input {
	struct metro_mx_elec_meter meter;
	struct metro_mx_current current;
	enum metro_mx_pf pf;
	struct metro_mx_limits limits;
	enum metro_mx_emethod method;
	struct metro_dec error;			      /* GIVEN */
	struct metro_dec readings[METRO_MX_MAX_RUNS]; /* READINGS */
	size_t nreadings, nextra;		      /* READINGS: see metro_mx_elec_repeat */
	struct metro_mx_pulse_input pulses;	      /* PULSES */
};

struct metro_mx_elec_result {
	struct metro_mx_elec_input in;
	struct metro_mx_elec_point point;
	struct metro_dec computed_pulses;    /* PULSES: m0 */
	struct metro_mx_repeat repeat;	     /* READINGS */
	int complete;			     /* 0: more readings needed; judgement not set */
	struct metro_mx_judgement judgement; /* RULE_ROUNDED on the class interval */
	struct metro_mx_bad bad;
};

/* One electricity load point: MPE, error by method, verdict on the rounded error. */
int metro_mx_elec_check(const struct metro_mx_elec_input *in, struct metro_mx_elec_result *out);

struct metro_mx_start_input {
	enum metro_mx_eclass cls;
	enum metro_mx_connection conn;
	struct metro_dec rated_a;	 /* Ib (direct) or In (CT), A */
	struct metro_dec un_v;		 /* reference voltage, V */
	struct metro_dec meter_constant; /* imp/kWh */
	enum metro_mx_phases phases;
};

struct metro_mx_start_result {
	struct metro_mx_start_input in;
	struct metro_dec factor;    /* I_st / rated current: 0.004, 0.005, 0.001, ... */
	struct metro_dec current_a; /* I_st, exact */
	double m;		    /* 1, 3 or √3 */
	double time_min;	    /* t_Q = 1.2 × 60 × 1000 / (C·m·Un·I_st) minutes */
	struct metro_mx_bad bad;
};

/* Start test: starting current and time limit.  METRO_E_INVAL for unknown enums or an S class
 * with direct connection; METRO_E_RANGE for nonpositive current, voltage or constant. */
int metro_mx_start(const struct metro_mx_start_input *in, struct metro_mx_start_result *out);
/* Pass when at least one pulse came, and the first within the time limit.  pulses >= 0 and
 * first_pulse_min >= 0 (ignored when pulses == 0), else METRO_E_RANGE. */
int metro_mx_start_judge(const struct metro_mx_start_result *r, long pulses, double first_pulse_min,
			 enum metro_mx_verdict *out);

struct metro_mx_creep_input {
	enum metro_mx_eclass cls;
	enum metro_mx_connection conn;
	struct metro_dec imax_a;
	struct metro_dec un_v;
	struct metro_dec meter_constant; /* imp/kWh */
	enum metro_mx_phases phases;
};

struct metro_mx_creep_result {
	struct metro_mx_creep_input in;
	struct metro_dec voltage_v; /* 115 % Un, exact */
	struct metro_dec k;	    /* 900, 600 or 480 */
	double m;
	double time_min; /* Δt = K × 10^6 / (C·m·Un·Imax) minutes */
	struct metro_mx_bad bad;
};

/* Creep (no-load) test: voltage and duration.  Errors as metro_mx_start(). */
int metro_mx_creep(const struct metro_mx_creep_input *in, struct metro_mx_creep_result *out);
/* Pass when pulses <= allowed (allowed is a procedure parameter); negative counts: RANGE. */
int metro_mx_creep_judge(long pulses, long allowed, enum metro_mx_verdict *out);

struct metro_mx_pulses_input {
	struct metro_dec un_v;	    /* voltage, V (line-to-line for three-wire) */
	struct metro_dec current_a; /* A */
	enum metro_mx_pf pf;
	enum metro_mx_phases phases;
	struct metro_dec meter_constant; /* imp/kWh */
	struct metro_dec min_seconds;	 /* shortest measurement, s */
};

struct metro_mx_pulses_result {
	struct metro_mx_pulses_input in;
	double power_w;	  /* P = m·U·I·cos φ */
	double period_s;  /* one meter pulse: 3.6e6 / (P·C) */
	long long pulses; /* N = ceil(t / period), at least 1, exact */
	struct metro_mx_bad bad;
};

/* Meter pulses for a measurement of at least min_seconds: N = ceil(t·P·C / 3.6e6).  N is
 * computed exactly (for √3 as the least N with N² >= 3·q²).  METRO_E_RANGE for nonpositive
 * inputs or an N beyond long long. */
int metro_mx_pulses_needed(const struct metro_mx_pulses_input *in,
			   struct metro_mx_pulses_result *out);

/* ---- gas meters (JJG 577, OIML R137) -------------------------------------------------- */

struct metro_mx_gas_point {
	struct metro_dec qt;	 /* 0.1 qmax, exact */
	struct metro_dec flow;	 /* m³/h */
	struct metro_mx_mpe mpe; /* zone: UPPER for qt <= q <= qmax */
	struct metro_mx_bad bad;
};

/* The MPE of a diaphragm gas meter at a flow rate.  qmin may be 0 (unknown: not checked).
 * METRO_E_INVAL for an unknown class; METRO_E_RANGE for qmax <= 0, qmin < 0 or >= qt, a flow
 * <= 0, below qmin or above qmax. */
int metro_mx_gas_mpe(enum metro_mx_gclass cls, struct metro_dec qmax, struct metro_dec qmin,
		     struct metro_dec flow, const struct metro_mx_limits *l,
		     struct metro_mx_gas_point *out);

struct metro_mx_gas_ref_input {
	struct metro_dec p_atm_kpa;	 /* ambient (absolute) pressure */
	struct metro_dec ref_volume_l;	 /* bell prover or master meter volume */
	struct metro_dec ref_p_kpa;	 /* gauge pressure at the reference */
	struct metro_dec ref_t_c;	 /* gas temperature at the reference */
	struct metro_dec meter_volume_l; /* volume indicated by the meter under test */
	struct metro_dec meter_p_kpa;	 /* gauge pressure at the meter */
	struct metro_dec meter_t_c;	 /* gas temperature at the meter */
};

struct metro_mx_gas_ref {
	struct metro_dec pressure_factor;    /* (p_atm + p_ref) / (p_atm + p_meter) */
	struct metro_dec temperature_factor; /* (t_meter + 273.15) / (t_ref + 273.15) */
	struct metro_dec reference_l;	     /* V_ref × both factors: at meter conditions */
	struct metro_dec error;		     /* (V_meter - reference) / reference × 100 % */
	struct metro_mx_bad bad;
};

/* Ideal-gas correction of the reference volume to the meter's conditions, exact; both factors
 * are reported even when they are 1.  METRO_E_RANGE for p_atm <= 0, an absolute pressure <= 0,
 * a temperature <= -273.15 °C, ref_volume <= 0, meter_volume < 0. */
int metro_mx_gas_reference(const struct metro_mx_gas_ref_input *in, struct metro_mx_gas_ref *out);

enum metro_mx_gmethod {
	METRO_MX_GAS_GIVEN,  /* error given in % */
	METRO_MX_GAS_BELL,   /* bell prover */
	METRO_MX_GAS_MASTER, /* master meter: same correction with the master's p and t */
};

struct metro_mx_gas_input {
	enum metro_mx_gclass cls;
	struct metro_dec qmax, qmin; /* m³/h; qmin 0 when unknown */
	struct metro_dec flow;	     /* m³/h */
	struct metro_mx_limits limits;
	enum metro_mx_gmethod method;
	struct metro_dec error;		   /* GIVEN */
	struct metro_mx_gas_ref_input ref; /* BELL, MASTER */
};

struct metro_mx_gas_result {
	struct metro_mx_gas_input in;
	struct metro_mx_gas_point point;
	struct metro_mx_gas_ref ref;	     /* BELL, MASTER */
	struct metro_mx_judgement judgement; /* RULE_FULL */
	struct metro_mx_bad bad;
};

/* One gas test run: zone and MPE, corrected reference, error, verdict at full precision. */
int metro_mx_gas_check(const struct metro_mx_gas_input *in, struct metro_mx_gas_result *out);

/* ---- the standard against the MPE ------------------------------------------------------ */

struct metro_mx_uncertainty {
	struct metro_dec u;	       /* expanded uncertainty of the bench (k = 2), % */
	struct metro_dec mpe;	       /* the MPE it is checked against, % */
	struct metro_dec limit;	       /* largest allowed U/MPE, e.g. 1/5 */
	struct metro_dec ratio;	       /* U/MPE, exact */
	enum metro_mx_verdict verdict; /* PASS when ratio <= limit */
};

/* The regulation's limit of U/MPE where it gives one: water 1/5 for verification, 1/3 in
 * service.  For electricity and gas the procedure must give it: METRO_E_INVAL. */
int metro_mx_uncertainty_limit(enum metro_mx_kind kind, int in_service, struct metro_dec *limit);
/* Check U/MPE <= limit exactly.  u >= 0, mpe > 0, limit > 0, else METRO_E_RANGE. */
int metro_mx_uncertainty_check(struct metro_dec u_pct, struct metro_dec mpe_pct,
			       struct metro_dec limit, struct metro_mx_uncertainty *out);

/* ---- a measured quantity against limits (pressure loss, ...) ------------------------- */

#define METRO_MX_MEASUREMENT_MAX 16

struct metro_mx_measurement {
	size_t n;		       /* readings combined */
	struct metro_dec mean;	       /* their mean, exact */
	enum metro_mx_verdict verdict; /* PASS when min <= mean <= max (a limit itself passes) */
	struct metro_mx_bad bad;
};

/* Combine n readings (1..METRO_MX_MEASUREMENT_MAX) by their mean and judge it against the
 * limits min and max (either may be NULL, not both; min <= max).  Returns METRO_OK and *out;
 * METRO_E_INVAL for a count out of range, an invalid reading or limit, no limit, min > max;
 * METRO_E_RANGE when the mean is beyond exact arithmetic. */
int metro_mx_measurement_judge(const struct metro_dec *readings, size_t n,
			       const struct metro_dec *min, const struct metro_dec *max,
			       struct metro_mx_measurement *out);

#endif
