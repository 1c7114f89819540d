/* metrology.c — the regulations' arithmetic; see metrology.h for the contracts and
 * docs/metrology.md for the source of every number in the tables below.
 *
 * Everything is exact (struct metro_dec) except the time limits and powers that involve √3.
 * Overflow of the exact arithmetic is possible only for absurd inputs (38-digit values); it
 * surfaces as METRO_E_RANGE, never as a wrong number.
 */
#include "metrology.h"

#include <math.h>
#include <string.h>

#include "error.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static struct metro_dec D(long long coef, int exp10) {
	return metro_dec_e(coef, exp10);
}

static int
fail(struct metro_mx_bad *b, const char *input, const char *reason, int err)
{
	b->input = input;
	b->reason = reason;
	return err;
}

enum { ANY, NONNEG, POS };

/* Check one numeric input: a number, and of the required sign. */
static int need(struct metro_mx_bad *b, const char *input, struct metro_dec x, int what)
{
	if (!metro_dec_valid(x))
		return fail(b, input, "not a valid number", METRO_E_INVAL);
	if (what == POS && metro_dec_sign(x) <= 0)
		return fail(b, input, "must be positive", METRO_E_RANGE);
	if (what == NONNEG && metro_dec_sign(x) < 0)
		return fail(b, input, "must not be negative", METRO_E_RANGE);
	return METRO_OK;
}

static int need_all(struct metro_mx_bad *b, const char *input, const struct metro_dec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!metro_dec_valid(v[i]))
			return fail(b, input, "not a valid number", METRO_E_INVAL);
	return METRO_OK;
}

static int within(struct metro_dec x, struct metro_dec limit)
{
	return metro_dec_cmp(metro_dec_abs(x), limit) <= 0;
}

/* Mean of n >= 1 numbers; invalid on overflow. */
static struct metro_dec mean_of(const struct metro_dec *v, size_t n)
{
	struct metro_dec s = D(0, 0);
	for (size_t i = 0; i < n; i++)
		s = metro_dec_add(s, v[i]);
	return metro_dec_div(s, D((long long)n, 0));
}

/* ---- names and parsers ---------------------------------------------------------------- */

static const char *const verdict_names[] = {"pass", "fail"};
static const char *const rule_names[] = {"full-precision", "rounded"};
static const char *const zone_names[] = {"lower", "upper"};
static const char *const vtype_names[] = {"initial",	  "subsequent",	     "in-service",
					  "sampling-new", "sampling-in-use", "complaint"};
static const char *const wclass_names[] = {"1", "2"};
static const char *const eclass_names[] = {"0.2S", "0.5S", "1", "2"};
static const char *const gclass_names[] = {"1.0", "1.5"};
static const char *const connection_names[] = {"direct", "ct"};
static const char *const pf_names[] = {"1.0", "0.5L", "0.8C"};
static const char *const phases_names[] = {"1", "3", "3w"};

static const char *name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

const char *metro_mx_verdict_name(enum metro_mx_verdict v)
{
	return name_of(verdict_names, ARRAY_N(verdict_names), (int)v);
}

const char *metro_mx_rule_name(enum metro_mx_rule v)
{
	return name_of(rule_names, ARRAY_N(rule_names), (int)v);
}

const char *metro_mx_zone_name(enum metro_mx_zone v)
{
	return name_of(zone_names, ARRAY_N(zone_names), (int)v);
}

const char *metro_mx_vtype_name(enum metro_mx_vtype v)
{
	return name_of(vtype_names, ARRAY_N(vtype_names), (int)v);
}

const char *metro_mx_wclass_name(enum metro_mx_wclass v)
{
	return name_of(wclass_names, ARRAY_N(wclass_names), (int)v);
}

const char *metro_mx_eclass_name(enum metro_mx_eclass v)
{
	return name_of(eclass_names, ARRAY_N(eclass_names), (int)v);
}

const char *metro_mx_gclass_name(enum metro_mx_gclass v)
{
	return name_of(gclass_names, ARRAY_N(gclass_names), (int)v);
}

const char *metro_mx_connection_name(enum metro_mx_connection v)
{
	return name_of(connection_names, ARRAY_N(connection_names), (int)v);
}

const char *metro_mx_pf_name(enum metro_mx_pf v)
{
	return name_of(pf_names, ARRAY_N(pf_names), (int)v);
}

const char *metro_mx_phases_name(enum metro_mx_phases v)
{
	return name_of(phases_names, ARRAY_N(phases_names), (int)v);
}

int metro_mx_parse_vtype(const char *s, enum metro_mx_vtype *out)
{
	int i = index_of(vtype_names, ARRAY_N(vtype_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_vtype)i;
	return METRO_OK;
}

int metro_mx_parse_wclass(const char *s, enum metro_mx_wclass *out)
{
	int i = index_of(wclass_names, ARRAY_N(wclass_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_wclass)i;
	return METRO_OK;
}

int metro_mx_parse_eclass(const char *s, enum metro_mx_eclass *out)
{
	int i = index_of(eclass_names, ARRAY_N(eclass_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_eclass)i;
	return METRO_OK;
}

int metro_mx_parse_gclass(const char *s, enum metro_mx_gclass *out)
{
	int i = index_of(gclass_names, ARRAY_N(gclass_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_gclass)i;
	return METRO_OK;
}

int metro_mx_parse_connection(const char *s, enum metro_mx_connection *out)
{
	int i = index_of(connection_names, ARRAY_N(connection_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_connection)i;
	return METRO_OK;
}

int metro_mx_parse_phases(const char *s, enum metro_mx_phases *out)
{
	int i = index_of(phases_names, ARRAY_N(phases_names), s);
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_phases)i;
	return METRO_OK;
}

int metro_mx_parse_pf(const char *s, enum metro_mx_pf *out)
{
	/* "1" is the same power factor as "1.0"; anything else must match exactly. */
	int i = index_of(pf_names, ARRAY_N(pf_names), strcmp(s, "1") ? s : "1.0");
	if (i < 0)
		return METRO_E_INVAL;
	*out = (enum metro_mx_pf)i;
	return METRO_OK;
}

int metro_mx_parse_current(const char *s, struct metro_mx_current *out)
{
	static const char *const bases[] = {"Ib", "In", "Imax"};
	const char *unit = strchr(s, 'I');
	struct metro_dec mult = D(1, 0);
	if (!unit)
		return METRO_E_INVAL;
	int b = index_of(bases, ARRAY_N(bases), unit);
	if (b < 0)
		return METRO_E_INVAL;
	if (unit > s &&
	    (metro_dec_parsen(s, (size_t)(unit - s), &mult) || metro_dec_sign(mult) <= 0))
		return METRO_E_INVAL;
	out->mult = mult;
	out->base = (enum metro_mx_ibase)b;
	return METRO_OK;
}

/* ---- rounding and judgement ------------------------------------------------------------ */

int metro_mx_round(struct metro_dec value, struct metro_dec interval, struct metro_dec *out)
{
	return metro_dec_round(value, interval, out);
}

int metro_mx_interval(enum metro_mx_eclass cls, struct metro_dec *out)
{
	/* 0.2S, 0.5S, 1, 2 in hundredths of a percent */
	static const int hundredths[] = {2, 5, 10, 20};
	if ((unsigned)cls >= ARRAY_N(hundredths))
		return METRO_E_INVAL;
	*out = D(hundredths[cls], -2);
	return METRO_OK;
}

/* Fill a judgement whose rounding (if any) is done; cannot fail. */
static void judge_set(struct metro_mx_judgement *j, enum metro_mx_rule rule, struct metro_dec value,
		      struct metro_dec interval, struct metro_dec rounded, struct metro_dec mpe)
{
	j->rule = rule;
	j->value = value;
	j->interval = interval;
	j->rounded = rounded;
	j->judged = rounded;
	j->mpe = mpe;
	j->verdict = within(rounded, mpe) ? METRO_MX_PASS : METRO_MX_FAIL;
}

static void judge_full(struct metro_mx_judgement *j, struct metro_dec value, struct metro_dec mpe)
{
	judge_set(j, METRO_MX_RULE_FULL, value, D(0, 0), value, mpe);
}

/* The electricity rule; value and interval valid, interval > 0.  RANGE on overflow only. */
static int judge_rounded(struct metro_mx_bad *b, struct metro_mx_judgement *j,
			 struct metro_dec value, struct metro_dec interval, struct metro_dec mpe)
{
	struct metro_dec r;
	if (metro_dec_round(value, interval, &r))
		return fail(b, "error", "too large to round exactly", METRO_E_RANGE);
	judge_set(j, METRO_MX_RULE_ROUNDED, value, interval, r, mpe);
	return METRO_OK;
}

int metro_mx_judge(struct metro_dec error, struct metro_dec mpe, enum metro_mx_rule rule,
		   struct metro_dec interval, struct metro_mx_judgement *out)
{
	struct metro_mx_bad b;
	memset(out, 0, sizeof *out);
	if (need(&b, "error", error, ANY) || need(&b, "mpe", mpe, POS))
		return METRO_E_INVAL;
	if (rule == METRO_MX_RULE_FULL) {
		judge_full(out, error, mpe);
		return METRO_OK;
	}
	if (rule != METRO_MX_RULE_ROUNDED || need(&b, "interval", interval, POS))
		return METRO_E_INVAL;
	return judge_rounded(&b, out, error, interval, mpe);
}

/* ---- limits --------------------------------------------------------------------------- */

int metro_mx_apply_limits(enum metro_mx_kind kind, const struct metro_mx_limits *l,
			  struct metro_dec base, struct metro_mx_mpe *out)
{
	/* In-service factor by kind: water 2 [reg 2009], electricity 1 and gas 2 [confirm]. */
	static const int in_service_factor[] = {2, 1, 2};
	struct metro_mx_bad *b = &out->bad;
	const struct metro_dec one = D(1, 0);
	int in_service, err;

	b->input = b->reason = NULL;
	if ((unsigned)kind >= ARRAY_N(in_service_factor))
		return fail(b, "kind", "unknown kind of meter", METRO_E_INVAL);
	if ((err = need(b, "mpe", base, POS)) ||
	    (err = need(b, "mpe-factor", l->mpe_factor, ANY)) ||
	    (err = need(b, "in-service-factor", l->in_service_factor, NONNEG)))
		return err;
	switch (l->type) {
	case METRO_MX_INITIAL:
	case METRO_MX_SUBSEQUENT:
	case METRO_MX_SAMPLING_NEW:
		in_service = 0;
		break;
	case METRO_MX_IN_SERVICE:
	case METRO_MX_SAMPLING_IN_USE:
		in_service = 1;
		break;
	case METRO_MX_COMPLAINT:
		if (l->complaint != METRO_MX_COMPLAINT_NEW &&
		    l->complaint != METRO_MX_COMPLAINT_IN_SERVICE)
			return fail(
				b, "type",
				"complaint verification needs the procedure to say which limits "
				"apply",
				METRO_E_INVAL);
		in_service = l->complaint == METRO_MX_COMPLAINT_IN_SERVICE;
		break;
	default:
		return fail(b, "type", "unknown verification type", METRO_E_INVAL);
	}
	struct metro_dec mf = l->mpe_factor;
	if (metro_dec_sign(mf) < 0 || metro_dec_cmp(mf, one) > 0)
		return fail(b, "mpe-factor",
			    "must be in (0, 1]: it may tighten the legal limit only",
			    METRO_E_RANGE);
	if (metro_dec_sign(mf) == 0)
		mf = one;
	struct metro_dec f = D(in_service_factor[kind], 0);
	if (metro_dec_sign(l->in_service_factor) > 0)
		f = l->in_service_factor;
	out->base = base;
	out->in_service = in_service;
	out->type_factor = in_service ? f : one;
	out->legal = metro_dec_mul(base, out->type_factor);
	out->mpe_factor = mf;
	out->mpe = metro_dec_mul(out->legal, mf);
	if (!metro_dec_valid(out->mpe))
		return fail(b, "in-service-factor", "out of reach of exact arithmetic",
			    METRO_E_RANGE);
	return METRO_OK;
}

/* ---- water ---------------------------------------------------------------------------- */

int metro_mx_water_mpe(const struct metro_mx_water_meter *m, struct metro_dec flow,
		       struct metro_dec temp_c, const struct metro_mx_limits *l,
		       struct metro_mx_water_point *out)
{
	/* MPE in % by [class][lower zone, upper zone, upper zone above 30 °C] */
	static const int mpe_tab[2][3] = {{3, 1, 2}, {5, 2, 3}};
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((unsigned)m->cls >= ARRAY_N(mpe_tab))
		return fail(b, "class", "unknown water meter class", METRO_E_INVAL);
	if ((err = need(b, "q3", m->q3, POS)) || (err = need(b, "r", m->r, POS)) ||
	    (err = need(b, "flow", flow, POS)) || (err = need(b, "temp", temp_c, ANY)))
		return err;
	out->flow = flow;
	out->temp_c = temp_c;
	out->q1 = metro_dec_div(m->q3, m->r);
	out->q2 = metro_dec_mul(D(16, -1), out->q1);
	out->q4 = metro_dec_mul(D(125, -2), m->q3);
	if (!metro_dec_valid(out->q2) || !metro_dec_valid(out->q4))
		return fail(b, "q3", "out of reach of exact arithmetic", METRO_E_RANGE);
	if (metro_dec_cmp(out->q2, m->q3) > 0)
		return fail(b, "r", "R below 1.6: Q2 would exceed Q3", METRO_E_RANGE);
	if (metro_dec_cmp(flow, out->q1) < 0)
		return fail(b, "flow", "below Q1", METRO_E_RANGE);
	if (metro_dec_cmp(flow, out->q4) > 0)
		return fail(b, "flow", "above Q4", METRO_E_RANGE);
	if (metro_dec_cmp(temp_c, D(1, -1)) < 0 || metro_dec_cmp(temp_c, D(180, 0)) > 0)
		return fail(b, "temp", "outside 0.1..180 °C", METRO_E_RANGE);
	out->warm = metro_dec_cmp(temp_c, D(30, 0)) > 0;
	/* Q2 itself is in the upper zone: flow >= Q2, compared exactly. */
	int upper = metro_dec_cmp(flow, out->q2) >= 0;
	int col = upper ? 1 + out->warm : 0;
	err = metro_mx_apply_limits(METRO_MX_WATER, l, D(mpe_tab[m->cls][col], 0), &out->mpe);
	out->mpe.zone = upper ? METRO_MX_ZONE_UPPER : METRO_MX_ZONE_LOWER;
	if (err)
		*b = out->mpe.bad;
	return err;
}

int metro_mx_water_density(struct metro_dec temp_c, struct metro_dec *kg_per_l)
{
	/* Tanaka et al. 2001: ρ = a5·[1 − (t + a1)²·(t + a2) / (a3·(t + a4))], kg/m³, t in °C. */
	const struct metro_dec a1 = D(-3983035, -6), a2 = D(301797, -3), a3 = D(5225289, -1);
	const struct metro_dec a4 = D(6934881, -5), a5 = D(999974950, -6);
	struct metro_dec t;
	int err = metro_dec_round(temp_c, D(1, -3), &t);
	if (err)
		return err;
	if (metro_dec_sign(t) < 0 || metro_dec_cmp(t, D(40, 0)) > 0)
		return METRO_E_RANGE;
	struct metro_dec x = metro_dec_add(t, a1);
	struct metro_dec num = metro_dec_mul(metro_dec_mul(x, x), metro_dec_add(t, a2));
	struct metro_dec den = metro_dec_mul(a3, metro_dec_add(t, a4));
	struct metro_dec rho = metro_dec_mul(a5, metro_dec_sub(D(1, 0), metro_dec_div(num, den)));
	/* kg/m³ to kg/L, kept to 1e-9 kg/L (1 mg/m³): exact in 0..40 °C at 0.001 °C steps. */
	return metro_dec_round(metro_dec_div(rho, D(1000, 0)), D(1, -9), kg_per_l);
}

static int volume_error(struct metro_mx_bad *b, struct metro_dec indicated,
			struct metro_dec reference, struct metro_dec *error_pct)
{
	int err;
	if ((err = need(b, "indicated", indicated, NONNEG)) ||
	    (err = need(b, "actual", reference, POS)))
		return err;
	struct metro_dec e = metro_dec_mul(
		metro_dec_div(metro_dec_sub(indicated, reference), reference), D(100, 0));
	if (!metro_dec_valid(e))
		return fail(b, "indicated", "out of reach of exact arithmetic", METRO_E_RANGE);
	*error_pct = e;
	return METRO_OK;
}

int metro_mx_volume_error(struct metro_dec indicated, struct metro_dec reference,
			  struct metro_dec *error_pct)
{
	struct metro_mx_bad b;
	return volume_error(&b, indicated, reference, error_pct);
}

static int gravimetric_volume(struct metro_mx_bad *b, struct metro_dec mass_kg,
			      struct metro_dec density, struct metro_dec buoyancy,
			      struct metro_dec *volume_l, struct metro_dec *buoyancy_used)
{
	int err;
	if ((err = need(b, "mass", mass_kg, POS)) || (err = need(b, "density", density, ANY)) ||
	    (err = need(b, "buoyancy", buoyancy, ANY)))
		return err;
	if (metro_dec_sign(buoyancy) == 0)
		buoyancy = D(10011, -4);
	if (metro_dec_cmp(density, D(9, -1)) < 0 || metro_dec_cmp(density, D(11, -1)) > 0)
		return fail(b, "density", "must be 0.9..1.1 kg/L", METRO_E_RANGE);
	if (metro_dec_cmp(buoyancy, D(1, 0)) < 0 || metro_dec_cmp(buoyancy, D(101, -2)) >= 0)
		return fail(b, "buoyancy", "must be in [1, 1.01)", METRO_E_RANGE);
	struct metro_dec v = metro_dec_div(metro_dec_mul(buoyancy, mass_kg), density);
	if (!metro_dec_valid(v))
		return fail(b, "mass", "out of reach of exact arithmetic", METRO_E_RANGE);
	*volume_l = v;
	*buoyancy_used = buoyancy;
	return METRO_OK;
}

int metro_mx_gravimetric_volume(struct metro_dec mass_kg, struct metro_dec density_kg_l,
				struct metro_dec buoyancy, struct metro_dec *volume_l)
{
	struct metro_mx_bad b;
	struct metro_dec used;
	return gravimetric_volume(&b, mass_kg, density_kg_l, buoyancy, volume_l, &used);
}

int metro_mx_water_min_volume(struct metro_dec scale_interval_l, struct metro_dec flow_m3h,
			      struct metro_dec *min_l)
{
	struct metro_mx_bad b;
	int err;
	if ((err = need(&b, "scale-interval", scale_interval_l, POS)) ||
	    (err = need(&b, "flow", flow_m3h, POS)))
		return err;
	/* 200 intervals; one minute of flow: Q m³/h × 1000 L/m³ / 60 min/h */
	struct metro_dec by_interval = metro_dec_mul(D(200, 0), scale_interval_l);
	struct metro_dec by_time = metro_dec_div(metro_dec_mul(flow_m3h, D(1000, 0)), D(60, 0));
	if (!metro_dec_valid(by_interval) || !metro_dec_valid(by_time))
		return METRO_E_RANGE;
	*min_l = metro_dec_cmp(by_interval, by_time) >= 0 ? by_interval : by_time;
	return METRO_OK;
}

int metro_mx_water_check(const struct metro_mx_water_input *in, struct metro_mx_water_result *out)
{
	struct metro_mx_bad *b = &out->bad;
	struct metro_dec e;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	err = metro_mx_water_mpe(&in->meter, in->flow, in->temp_c, &in->limits, &out->point);
	if (err) {
		*b = out->point.bad;
		return err;
	}
	switch (in->method) {
	case METRO_MX_WATER_GIVEN:
		if ((err = need(b, "error", in->error, ANY)))
			return err;
		e = in->error;
		break;
	case METRO_MX_WATER_VOLUMETRIC:
		out->actual_l = in->actual_l;
		if ((err = volume_error(b, in->indicated_l, in->actual_l, &e)))
			return err;
		break;
	case METRO_MX_WATER_GRAVIMETRIC: {
		struct metro_dec rho = in->density_kg_l;
		if ((err = need(b, "indicated", in->indicated_l, NONNEG)) ||
		    (err = need(b, "density", rho, ANY)))
			return err;
		if (metro_dec_sign(rho) == 0 && metro_mx_water_density(in->temp_c, &rho))
			return fail(b, "temp", "outside 0..40 °C of the water-density formula",
				    METRO_E_RANGE);
		out->density_kg_l = rho;
		if ((err = gravimetric_volume(b, in->mass_kg, rho, in->buoyancy, &out->actual_l,
					      &out->buoyancy)) ||
		    (err = volume_error(b, in->indicated_l, out->actual_l, &e)))
			return err;
		break;
	}
	default:
		return fail(b, "method", "unknown method", METRO_E_INVAL);
	}
	judge_full(&out->judgement, e, out->point.mpe.mpe);
	return METRO_OK;
}

/* ---- repeat rules --------------------------------------------------------------------- */

int metro_mx_water_repeat(const struct metro_dec *runs, size_t n, struct metro_dec mpe,
			  struct metro_mx_repeat *out)
{
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((err = need(b, "mpe", mpe, POS)))
		return err;
	if (n != 1 && n != 3)
		return fail(b, "runs", "one run, or three after a retest", METRO_E_INVAL);
	if ((err = need_all(b, "runs", runs, n)))
		return err;
	out->n = n;
	out->first_mean = runs[0];
	int first_ok = within(runs[0], mpe);
	if (n == 1) {
		out->mean = runs[0];
		judge_full(&out->judgement, runs[0], mpe);
		out->verdict = out->judgement.verdict;
		out->needs_more = !first_ok;
		out->more = first_ok ? 0 : 2;
		return METRO_OK;
	}
	if (first_ok)
		return fail(b, "runs", "the first run is within the MPE: no retest was due",
			    METRO_E_INVAL);
	out->mean = mean_of(runs, n);
	if (!metro_dec_valid(out->mean))
		return fail(b, "runs", "out of reach of exact arithmetic", METRO_E_RANGE);
	judge_full(&out->judgement, out->mean, mpe);
	/* Both extra runs and the mean of all three within the MPE. */
	out->verdict = within(runs[1], mpe) && within(runs[2], mpe) &&
				       out->judgement.verdict == METRO_MX_PASS
			       ? METRO_MX_PASS
			       : METRO_MX_FAIL;
	return METRO_OK;
}

int metro_mx_elec_repeat(const struct metro_dec *readings, size_t n, size_t nextra,
			 struct metro_dec mpe, struct metro_dec interval,
			 struct metro_mx_repeat *out)
{
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((err = need(b, "mpe", mpe, POS)) || (err = need(b, "interval", interval, POS)))
		return err;
	if (nextra != 0 && nextra != 2)
		return fail(b, "readings", "extra readings come in twos", METRO_E_INVAL);
	if (n > METRO_MX_MAX_RUNS || n < nextra + 2)
		return fail(b, "readings", "at least two first readings, at most 16 in all",
			    METRO_E_INVAL);
	if ((err = need_all(b, "readings", readings, n)))
		return err;
	out->n = n;
	out->first_mean = mean_of(readings, n - nextra);
	/* The band is [0.8, 1.2] × MPE; 1.2 × MPE overflows first when anything does. */
	struct metro_dec lo = metro_dec_mul(D(8, -1), mpe), hi = metro_dec_mul(D(12, -1), mpe);
	if (!metro_dec_valid(out->first_mean) || !metro_dec_valid(hi))
		return fail(b, "readings", "out of reach of exact arithmetic", METRO_E_RANGE);
	struct metro_dec a = metro_dec_abs(out->first_mean);
	out->band = metro_dec_cmp(a, lo) >= 0 && metro_dec_cmp(a, hi) <= 0;
	out->mean = out->first_mean;
	if (!nextra && out->band) {
		out->needs_more = 1;
		out->more = 2;
		out->verdict = METRO_MX_FAIL; /* not final */
		return METRO_OK;
	}
	if (nextra && !out->band)
		return fail(b, "readings",
			    "extra readings are taken only when the first mean is within 80..120 % "
			    "of the MPE",
			    METRO_E_INVAL);
	out->mean = mean_of(readings, n);
	if ((err = judge_rounded(b, &out->judgement, out->mean, interval, mpe)))
		return err;
	out->verdict = out->judgement.verdict;
	return METRO_OK;
}

int metro_mx_gas_repeat(const struct metro_dec *runs, size_t n,
			const struct metro_mx_gas_rule *rule, struct metro_dec mpe,
			struct metro_mx_repeat *out)
{
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((err = need(b, "mpe", mpe, POS)))
		return err;
	if (rule->runs < 1 || rule->runs > METRO_MX_MAX_RUNS ||
	    (unsigned)rule->mean_rule > METRO_MX_EACH)
		return fail(b, "rule", "runs must be 1..16 and the mean rule known", METRO_E_INVAL);
	if (n < 1 || n > rule->runs)
		return fail(b, "runs", "between one run and the number the rule asks for",
			    METRO_E_INVAL);
	if ((err = need_all(b, "runs", runs, n)))
		return err;
	out->n = n;
	out->mean = mean_of(runs, n);
	if (!metro_dec_valid(out->mean))
		return fail(b, "runs", "out of reach of exact arithmetic", METRO_E_RANGE);
	out->first_mean = out->mean;
	judge_full(&out->judgement, out->mean, mpe);
	if (n < rule->runs) {
		out->needs_more = 1;
		out->more = rule->runs - n;
		out->verdict = METRO_MX_FAIL; /* not final */
		return METRO_OK;
	}
	int each = 1;
	for (size_t i = 0; i < n; i++)
		each &= within(runs[i], mpe);
	int mean_ok = out->judgement.verdict == METRO_MX_PASS;
	int ok = rule->mean_rule == METRO_MX_MEAN_ONLY	     ? mean_ok
		 : rule->mean_rule == METRO_MX_MEAN_AND_EACH ? mean_ok && each
							     : each;
	out->verdict = ok ? METRO_MX_PASS : METRO_MX_FAIL;
	return METRO_OK;
}

/* ---- electricity ---------------------------------------------------------------------- */

/* One row of the MPE tables: currents in thousandths of the rated current (Ib or In), MPE in
 * tenths of a percent.  low == 0 marks a combination the standards do not define. */
struct erow {
	int low, breakpoint, mpe_lower, mpe_upper;
};

/* [class][connection][0: PF 1, 1: PF 0.5L and 0.8C] */
static const struct erow etab[4][2][2] = {
	/* 0.2S: IEC 62053-22 [confirm] */
	{{{0, 0, 0, 0}, {0, 0, 0, 0}}, {{10, 50, 4, 2}, {20, 100, 5, 3}}},
	/* 0.5S: IEC 62053-22, REFERENCE [practice]; lower ends 0.01/0.02 In [confirm] */
	{{{0, 0, 0, 0}, {0, 0, 0, 0}}, {{10, 50, 10, 5}, {20, 100, 10, 6}}},
	/* 1: direct [practice]; transformer-operated IEC 62053-21 [confirm] */
	{{{50, 100, 15, 10}, {100, 200, 15, 10}}, {{20, 50, 15, 10}, {50, 100, 15, 10}}},
	/* 2: same */
	{{{50, 100, 25, 20}, {100, 200, 25, 20}}, {{20, 50, 25, 20}, {50, 100, 25, 20}}},
};

static int eclass_conn(struct metro_mx_bad *b, enum metro_mx_eclass cls,
		       enum metro_mx_connection conn)
{
	if ((unsigned)cls >= ARRAY_N(etab))
		return fail(b, "class", "unknown electricity meter class", METRO_E_INVAL);
	if ((unsigned)conn > METRO_MX_CT)
		return fail(b, "connection", "unknown connection", METRO_E_INVAL);
	if (etab[cls][conn][0].low == 0)
		return fail(b, "connection", "classes 0.2S and 0.5S are transformer-operated",
			    METRO_E_INVAL);
	return METRO_OK;
}

int metro_mx_elec_mpe(const struct metro_mx_elec_meter *m, const struct metro_mx_current *i,
		      enum metro_mx_pf pf, const struct metro_mx_limits *l,
		      struct metro_mx_elec_point *out)
{
	struct metro_mx_bad *b = &out->bad;
	const struct metro_dec one = D(1, 0);
	struct metro_dec limit = D(0, 0);
	int err;

	memset(out, 0, sizeof *out);
	if ((err = eclass_conn(b, m->cls, m->conn)))
		return err;
	if ((unsigned)pf > METRO_MX_PF_0_8C)
		return fail(b, "pf", "unknown power factor", METRO_E_INVAL);
	if ((unsigned)i->base > METRO_MX_IMAX)
		return fail(b, "current", "unknown base current", METRO_E_INVAL);
	if ((err = need(b, "current", i->mult, POS)) ||
	    (err = need(b, "rated", m->rated_a, NONNEG)) ||
	    (err = need(b, "imax", m->imax_a, NONNEG)))
		return err;
	const struct erow *row = &etab[m->cls][m->conn][pf != METRO_MX_PF_1];
	out->low = D(row->low, -3);
	out->breakpoint = D(row->breakpoint, -3);
	metro_mx_interval(m->cls, &out->interval);

	/* With both ratings known, Imax/rated bounds the current and places Imax currents. */
	int rated = metro_dec_sign(m->rated_a) > 0 && metro_dec_sign(m->imax_a) > 0;
	if (rated) {
		limit = metro_dec_div(m->imax_a, m->rated_a);
		if (!metro_dec_valid(limit))
			return fail(b, "imax", "out of reach of exact arithmetic", METRO_E_RANGE);
		if (metro_dec_cmp(limit, one) < 0)
			return fail(b, "imax", "Imax below the rated current", METRO_E_RANGE);
	}
	if (i->base == METRO_MX_IMAX) {
		if (metro_dec_cmp(i->mult, one) > 0)
			return fail(b, "current", "above Imax", METRO_E_RANGE);
		out->ratio_known = rated;
		out->ratio = metro_dec_mul(i->mult, limit);
		/* Unknown ratings: Imax >= Ib (In), so mult·Imax >= mult·Ib; only a multiplier
		 * at or above the breakpoint is placed for certain. */
		if (!rated && metro_dec_cmp(i->mult, out->breakpoint) < 0)
			return fail(
				b, "current",
				"the zone of this current needs the meter's rated current and Imax",
				METRO_E_INVAL);
	} else if (i->base != (m->conn == METRO_MX_DIRECT ? METRO_MX_IB : METRO_MX_IN)) {
		return fail(b, "current",
			    "direct meters are rated by Ib, transformer-operated by In",
			    METRO_E_INVAL);
	} else {
		out->ratio_known = 1;
		out->ratio = i->mult;
		if (rated && metro_dec_cmp(i->mult, limit) > 0)
			return fail(b, "current", "above Imax", METRO_E_RANGE);
	}
	if (!metro_dec_valid(out->ratio))
		return fail(b, "current", "out of reach of exact arithmetic", METRO_E_RANGE);
	if (out->ratio_known && metro_dec_cmp(out->ratio, out->low) < 0)
		return fail(b, "current", "below the lowest current of the MPE table",
			    METRO_E_RANGE);
	int upper = !out->ratio_known || metro_dec_cmp(out->ratio, out->breakpoint) >= 0;
	err = metro_mx_apply_limits(METRO_MX_ELECTRICITY, l,
				    D(upper ? row->mpe_upper : row->mpe_lower, -1), &out->mpe);
	out->mpe.zone = upper ? METRO_MX_ZONE_UPPER : METRO_MX_ZONE_LOWER;
	if (err)
		*b = out->mpe.bad;
	return err;
}

static int pulse_error(struct metro_mx_bad *b, const struct metro_mx_pulse_input *p,
		       struct metro_dec *computed, struct metro_dec *error_pct)
{
	int err;
	if ((err = need(b, "standard-constant", p->c0, POS)) ||
	    (err = need(b, "meter-constant", p->c, POS)) ||
	    (err = need(b, "meter-pulses", p->n, POS)) ||
	    (err = need(b, "standard-pulses", p->m, POS)) || (err = need(b, "ki", p->ki, NONNEG)) ||
	    (err = need(b, "ku", p->ku, NONNEG)))
		return err;
	if (!metro_dec_is_int(p->n))
		return fail(b, "meter-pulses", "must be a whole number", METRO_E_RANGE);
	if (!metro_dec_is_int(p->m))
		return fail(b, "standard-pulses", "must be a whole number", METRO_E_RANGE);
	struct metro_dec ki = metro_dec_sign(p->ki) ? p->ki : D(1, 0);
	struct metro_dec ku = metro_dec_sign(p->ku) ? p->ku : D(1, 0);
	/* m0 = C0·N / (C·K_I·K_U);  γ = (m0 − m) / m × 100 */
	struct metro_dec m0 = metro_dec_div(metro_dec_mul(p->c0, p->n),
					    metro_dec_mul(metro_dec_mul(p->c, ki), ku));
	struct metro_dec e = metro_dec_mul(metro_dec_div(metro_dec_sub(m0, p->m), p->m), D(100, 0));
	if (!metro_dec_valid(e))
		return fail(b, "standard-constant", "out of reach of exact arithmetic",
			    METRO_E_RANGE);
	*computed = m0;
	*error_pct = e;
	return METRO_OK;
}

int metro_mx_pulse_error(const struct metro_mx_pulse_input *p, struct metro_dec *computed,
			 struct metro_dec *error_pct)
{
	struct metro_mx_bad b;
	return pulse_error(&b, p, computed, error_pct);
}

int metro_mx_elec_check(const struct metro_mx_elec_input *in, struct metro_mx_elec_result *out)
{
	struct metro_mx_bad *b = &out->bad;
	struct metro_dec e;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	err = metro_mx_elec_mpe(&in->meter, &in->current, in->pf, &in->limits, &out->point);
	if (err) {
		*b = out->point.bad;
		return err;
	}
	struct metro_dec mpe = out->point.mpe.mpe, interval = out->point.interval;
	switch (in->method) {
	case METRO_MX_ELEC_GIVEN:
		if ((err = need(b, "error", in->error, ANY)))
			return err;
		e = in->error;
		break;
	case METRO_MX_ELEC_PULSES:
		if ((err = pulse_error(b, &in->pulses, &out->computed_pulses, &e)))
			return err;
		break;
	case METRO_MX_ELEC_READINGS:
		err = metro_mx_elec_repeat(in->readings, in->nreadings, in->nextra, mpe, interval,
					   &out->repeat);
		if (err) {
			*b = out->repeat.bad;
			return err;
		}
		out->complete = !out->repeat.needs_more;
		out->judgement = out->repeat.judgement;
		return METRO_OK;
	default:
		return fail(b, "method", "unknown method", METRO_E_INVAL);
	}
	if ((err = judge_rounded(b, &out->judgement, e, interval, mpe)))
		return err;
	out->complete = 1;
	return METRO_OK;
}

/* m of the start and creep formulas: 1, 3 or √3. */
static double phase_m(enum metro_mx_phases p)
{
	return p == METRO_MX_PHASES_1 ? 1.0 : p == METRO_MX_PHASES_3P4W ? 3.0 : sqrt(3.0);
}

static int check_phases(struct metro_mx_bad *b, enum metro_mx_phases p)
{
	if ((unsigned)p > METRO_MX_PHASES_3P3W)
		return fail(b, "phases", "unknown phase arrangement", METRO_E_INVAL);
	return METRO_OK;
}

int metro_mx_start(const struct metro_mx_start_input *in, struct metro_mx_start_result *out)
{
	/* I_st in ten-thousandths of the rated current, [class][direct, CT] */
	static const int start_tab[4][2] = {{0, 10}, {0, 10}, {40, 20}, {50, 30}};
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	if ((err = eclass_conn(b, in->cls, in->conn)) || (err = check_phases(b, in->phases)) ||
	    (err = need(b, "rated", in->rated_a, POS)) || (err = need(b, "un", in->un_v, POS)) ||
	    (err = need(b, "meter-constant", in->meter_constant, POS)))
		return err;
	out->factor = D(start_tab[in->cls][in->conn], -4);
	out->current_a = metro_dec_mul(out->factor, in->rated_a);
	/* t_Q = 1.2 × 60 × 1000 / (C·m·Un·I_st) min: the rational part exactly, then / m */
	struct metro_dec q = metro_dec_div(
		D(72000, 0),
		metro_dec_mul(metro_dec_mul(in->meter_constant, in->un_v), out->current_a));
	if (!metro_dec_valid(q))
		return fail(b, "rated", "out of reach of exact arithmetic", METRO_E_RANGE);
	out->m = phase_m(in->phases);
	out->time_min = metro_dec_to_double(q) / out->m;
	return METRO_OK;
}

int metro_mx_start_judge(const struct metro_mx_start_result *r, long pulses, double first_pulse_min,
			 enum metro_mx_verdict *out)
{
	if (pulses < 0 || (pulses > 0 && !(first_pulse_min >= 0)))
		return METRO_E_RANGE;
	*out = pulses > 0 && first_pulse_min <= r->time_min ? METRO_MX_PASS : METRO_MX_FAIL;
	return METRO_OK;
}

int metro_mx_creep(const struct metro_mx_creep_input *in, struct metro_mx_creep_result *out)
{
	/* K of Δt = K × 10^6 / (C·m·Un·Imax), by class */
	static const int k_tab[4] = {900, 600, 600, 480};
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	if ((err = eclass_conn(b, in->cls, in->conn)) || (err = check_phases(b, in->phases)) ||
	    (err = need(b, "imax", in->imax_a, POS)) || (err = need(b, "un", in->un_v, POS)) ||
	    (err = need(b, "meter-constant", in->meter_constant, POS)))
		return err;
	out->voltage_v = metro_dec_mul(D(115, -2), in->un_v);
	out->k = D(k_tab[in->cls], 0);
	struct metro_dec q = metro_dec_div(
		metro_dec_mul(out->k, D(1000000, 0)),
		metro_dec_mul(metro_dec_mul(in->meter_constant, in->un_v), in->imax_a));
	if (!metro_dec_valid(q) || !metro_dec_valid(out->voltage_v))
		return fail(b, "un", "out of reach of exact arithmetic", METRO_E_RANGE);
	out->m = phase_m(in->phases);
	out->time_min = metro_dec_to_double(q) / out->m;
	return METRO_OK;
}

int metro_mx_creep_judge(long pulses, long allowed, enum metro_mx_verdict *out)
{
	if (pulses < 0 || allowed < 0)
		return METRO_E_RANGE;
	*out = pulses <= allowed ? METRO_MX_PASS : METRO_MX_FAIL;
	return METRO_OK;
}

int metro_mx_pulses_needed(const struct metro_mx_pulses_input *in,
			   struct metro_mx_pulses_result *out)
{
	/* cos φ in tenths for PF 1.0, 0.5L, 0.8C */
	static const int cos_tab[3] = {10, 5, 8};
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	if ((unsigned)in->pf >= ARRAY_N(cos_tab))
		return fail(b, "pf", "unknown power factor", METRO_E_INVAL);
	if ((err = check_phases(b, in->phases)) || (err = need(b, "un", in->un_v, POS)) ||
	    (err = need(b, "current", in->current_a, POS)) ||
	    (err = need(b, "meter-constant", in->meter_constant, POS)) ||
	    (err = need(b, "min-seconds", in->min_seconds, POS)))
		return err;
	/* q = t·U·I·cos φ·C / 3.6e6 (pulses in t at m = 1); three-phase four-wire: 3q;
	 * three-wire: √3·q, whose ceiling is the least N with N² >= 3q². */
	struct metro_dec p1 =
		metro_dec_mul(metro_dec_mul(in->un_v, in->current_a), D(cos_tab[in->pf], -1));
	struct metro_dec q = metro_dec_div(
		metro_dec_mul(metro_dec_mul(in->min_seconds, p1), in->meter_constant), D(36, 5));
	int three_wire = in->phases == METRO_MX_PHASES_3P3W;
	struct metro_dec x = in->phases == METRO_MX_PHASES_3P4W ? metro_dec_mul(D(3, 0), q) : q;
	/* √3·q <= 2q bounds the search for three-wire */
	struct metro_dec hi = metro_dec_ceil(three_wire ? metro_dec_mul(D(2, 0), q) : x);
	long long top;
	if (metro_dec_to_ll(hi, &top))
		return fail(b, "min-seconds", "too many pulses", METRO_E_RANGE);
	if (three_wire) {
		struct metro_dec x3 = metro_dec_mul(D(3, 0), metro_dec_mul(q, q));
		long long lo = 0;
		if (!metro_dec_valid(x3))
			return fail(b, "min-seconds", "out of reach of exact arithmetic",
				    METRO_E_RANGE);
		/* least N in [0, top] with N² >= 3q²; N² is formed exactly (< 2^126) */
		while (lo < top) {
			long long mid = lo + (top - lo) / 2;
			struct metro_dec dm = D(mid, 0);
			if (metro_dec_cmp(metro_dec_mul(dm, dm), x3) >= 0)
				top = mid;
			else
				lo = mid + 1;
		}
	}
	out->pulses = top < 1 ? 1 : top;
	out->power_w = metro_dec_to_double(p1) * phase_m(in->phases);
	out->period_s = 3.6e6 / (out->power_w * metro_dec_to_double(in->meter_constant));
	return METRO_OK;
}

/* ---- gas ------------------------------------------------------------------------------ */

int metro_mx_gas_mpe(enum metro_mx_gclass cls, struct metro_dec qmax, struct metro_dec qmin,
		     struct metro_dec flow, const struct metro_mx_limits *l,
		     struct metro_mx_gas_point *out)
{
	/* MPE in tenths of a percent, [class][qmin <= q < qt, qt <= q <= qmax] */
	static const int mpe_tab[2][2] = {{20, 10}, {30, 15}};
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((unsigned)cls >= ARRAY_N(mpe_tab))
		return fail(b, "class", "unknown gas meter class", METRO_E_INVAL);
	if ((err = need(b, "qmax", qmax, POS)) || (err = need(b, "qmin", qmin, NONNEG)) ||
	    (err = need(b, "flow", flow, POS)))
		return err;
	out->flow = flow;
	out->qt = metro_dec_mul(D(1, -1), qmax);
	if (!metro_dec_valid(out->qt))
		return fail(b, "qmax", "out of reach of exact arithmetic", METRO_E_RANGE);
	if (metro_dec_cmp(qmin, out->qt) >= 0)
		return fail(b, "qmin", "must be below qt = 0.1 qmax", METRO_E_RANGE);
	if (metro_dec_cmp(flow, qmax) > 0)
		return fail(b, "flow", "above qmax", METRO_E_RANGE);
	if (metro_dec_cmp(flow, qmin) < 0)
		return fail(b, "flow", "below qmin", METRO_E_RANGE);
	/* qt itself is in the upper zone */
	int upper = metro_dec_cmp(flow, out->qt) >= 0;
	err = metro_mx_apply_limits(METRO_MX_GAS, l, D(mpe_tab[cls][upper], -1), &out->mpe);
	out->mpe.zone = upper ? METRO_MX_ZONE_UPPER : METRO_MX_ZONE_LOWER;
	if (err)
		*b = out->mpe.bad;
	return err;
}

int metro_mx_gas_reference(const struct metro_mx_gas_ref_input *in, struct metro_mx_gas_ref *out)
{
	const struct metro_dec t0 = D(27315, -2);
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if ((err = need(b, "p-atm", in->p_atm_kpa, POS)) ||
	    (err = need(b, "ref-volume", in->ref_volume_l, POS)) ||
	    (err = need(b, "ref-p", in->ref_p_kpa, ANY)) ||
	    (err = need(b, "ref-t", in->ref_t_c, ANY)) ||
	    (err = need(b, "meter-volume", in->meter_volume_l, NONNEG)) ||
	    (err = need(b, "meter-p", in->meter_p_kpa, ANY)) ||
	    (err = need(b, "meter-t", in->meter_t_c, ANY)))
		return err;
	/* absolute pressures and temperatures; an overflowed sum is caught at the end */
	struct metro_dec p_ref = metro_dec_add(in->p_atm_kpa, in->ref_p_kpa);
	struct metro_dec p_meter = metro_dec_add(in->p_atm_kpa, in->meter_p_kpa);
	struct metro_dec t_ref = metro_dec_add(in->ref_t_c, t0);
	struct metro_dec t_meter = metro_dec_add(in->meter_t_c, t0);
	if (metro_dec_sign(p_ref) <= 0)
		return fail(b, "ref-p", "absolute pressure must be positive", METRO_E_RANGE);
	if (metro_dec_sign(p_meter) <= 0)
		return fail(b, "meter-p", "absolute pressure must be positive", METRO_E_RANGE);
	if (metro_dec_sign(t_ref) <= 0)
		return fail(b, "ref-t", "at or below absolute zero", METRO_E_RANGE);
	if (metro_dec_sign(t_meter) <= 0)
		return fail(b, "meter-t", "at or below absolute zero", METRO_E_RANGE);
	out->pressure_factor = metro_dec_div(p_ref, p_meter);
	out->temperature_factor = metro_dec_div(t_meter, t_ref);
	out->reference_l = metro_dec_mul(metro_dec_mul(in->ref_volume_l, out->pressure_factor),
					 out->temperature_factor);
	out->error =
		metro_dec_mul(metro_dec_div(metro_dec_sub(in->meter_volume_l, out->reference_l),
					    out->reference_l),
			      D(100, 0));
	if (!metro_dec_valid(out->error))
		return fail(b, "ref-volume", "out of reach of exact arithmetic", METRO_E_RANGE);
	return METRO_OK;
}

int metro_mx_gas_check(const struct metro_mx_gas_input *in, struct metro_mx_gas_result *out)
{
	struct metro_mx_bad *b = &out->bad;
	struct metro_dec e;
	int err;

	memset(out, 0, sizeof *out);
	out->in = *in;
	err = metro_mx_gas_mpe(in->cls, in->qmax, in->qmin, in->flow, &in->limits, &out->point);
	if (err) {
		*b = out->point.bad;
		return err;
	}
	switch (in->method) {
	case METRO_MX_GAS_GIVEN:
		if ((err = need(b, "error", in->error, ANY)))
			return err;
		e = in->error;
		break;
	case METRO_MX_GAS_BELL:
	case METRO_MX_GAS_MASTER:
		if ((err = metro_mx_gas_reference(&in->ref, &out->ref))) {
			*b = out->ref.bad;
			return err;
		}
		e = out->ref.error;
		break;
	default:
		return fail(b, "method", "unknown method", METRO_E_INVAL);
	}
	judge_full(&out->judgement, e, out->point.mpe.mpe);
	return METRO_OK;
}

/* ---- uncertainty ---------------------------------------------------------------------- */

int metro_mx_uncertainty_limit(enum metro_mx_kind kind, int in_service, struct metro_dec *limit)
{
	if (kind != METRO_MX_WATER)
		return METRO_E_INVAL;
	*limit = metro_dec_div(D(1, 0), D(in_service ? 3 : 5, 0));
	return METRO_OK;
}

int metro_mx_uncertainty_check(struct metro_dec u_pct, struct metro_dec mpe_pct,
			       struct metro_dec limit, struct metro_mx_uncertainty *out)
{
	struct metro_mx_bad b;
	int err;

	memset(out, 0, sizeof *out);
	if ((err = need(&b, "u", u_pct, NONNEG)) || (err = need(&b, "mpe", mpe_pct, POS)) ||
	    (err = need(&b, "limit", limit, POS)))
		return err;
	out->u = u_pct;
	out->mpe = mpe_pct;
	out->limit = limit;
	out->ratio = metro_dec_div(u_pct, mpe_pct);
	if (!metro_dec_valid(out->ratio))
		return METRO_E_RANGE;
	out->verdict = metro_dec_cmp(out->ratio, limit) <= 0 ? METRO_MX_PASS : METRO_MX_FAIL;
	return METRO_OK;
}

/* ---- a measured quantity against limits ------------------------------------------------ */

int metro_mx_measurement_judge(const struct metro_dec *readings, size_t n,
			       const struct metro_dec *min, const struct metro_dec *max,
			       struct metro_mx_measurement *out)
{
	struct metro_mx_bad *b = &out->bad;
	int err;

	memset(out, 0, sizeof *out);
	if (n < 1 || n > METRO_MX_MEASUREMENT_MAX)
		return fail(b, "readings", "between 1 and 16 readings", METRO_E_INVAL);
	if ((err = need_all(b, "readings", readings, n)))
		return err;
	if (!min && !max)
		return fail(b, "limits", "at least one of min and max", METRO_E_INVAL);
	if ((min && (err = need(b, "min", *min, ANY))) ||
	    (max && (err = need(b, "max", *max, ANY))))
		return err;
	if (min && max && metro_dec_cmp(*min, *max) > 0)
		return fail(b, "limits", "min above max", METRO_E_INVAL);
	out->n = n;
	out->mean = mean_of(readings, n);
	if (!metro_dec_valid(out->mean))
		return fail(b, "readings", "out of reach of exact arithmetic", METRO_E_RANGE);
	int ok = (!min || metro_dec_cmp(out->mean, *min) >= 0) &&
		 (!max || metro_dec_cmp(out->mean, *max) <= 0);
	out->verdict = ok ? METRO_MX_PASS : METRO_MX_FAIL;
	return METRO_OK;
}
