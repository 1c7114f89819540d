/* sim_meters.c — the meters file: meters under test, error curves, bench parameters. */
#include "sim_meters.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sim_fault.h"
#include "util.h"
#include "yfile.h"

int sim_rig_kind_parse(const char *name, enum metro_rig_kind *out)
{
	for (int k = 0; k < METRO_RIG_KINDS; k++)
		if (!strcmp(name, metro_rig_kind_names[k])) {
			*out = (enum metro_rig_kind)k;
			return 0;
		}
	return -1;
}

/* ---- bench parameters -------------------------------------------------------------------- */

/* One bench parameter: its key, where it lives, its default and its range, and the rigs it
 * belongs to (a bitmask of 1 << enum metro_rig_kind). */
struct param {
	const char *key;
	size_t off;
	double def, min, max;
	unsigned rigs;
};

#define FLOW (1u << METRO_RIG_FLOW_BENCH)
#define ELEC (1u << METRO_RIG_ELECTRICITY_BENCH)
#define BELL (1u << METRO_RIG_BELL_PROVER)
#define P(k, def, min, max, rigs)                                      \
	{                                                              \
#k, offsetof(struct sim_bench, k), def, min, max, rigs \
	}

static const struct param params[] = {
	P(water_temp, 20.0, 0.0, 100.0, FLOW),
	P(temp_drift_per_min, 0.05, -10.0, 10.0, FLOW),
	P(temp_drift_limit, 5.0, 0.0, 100.0, FLOW | BELL),
	P(pressure_kpa, 300.0, 0.0, 10000.0, FLOW),
	P(pressure_drop_coeff, 2.0, 0.0, 10000.0, FLOW),
	P(flow_tau_s, 2.0, 0.001, 3600.0, FLOW | BELL),
	P(max_flow_m3h, 10.0, 0.0, 10000.0, FLOW | BELL),
	P(ref_constant, 2000000.0, 1.0, 1e12, ELEC),
	P(source_tau_s, 0.5, 0.001, 3600.0, ELEC),
	P(bell_pressure_kpa, 1.20, 0.0, 100.0, BELL),
	P(bell_temp, 20.0, -50.0, 100.0, BELL),
	P(ambient_kpa, 101.325, 1.0, 1000.0, BELL),
	P(meter_pressure_drop_kpa, 0.05, 0.0, 100.0, BELL),
	P(meter_temp_offset, 0.1, -50.0, 50.0, BELL),
	P(bell_capacity_l, 200.0, 0.0, 1e9, BELL),
	P(ambient_temp, 20.0, -50.0, 100.0, BELL),
	P(humidity_pct, 55.0, 0.0, 100.0, BELL),
	P(pressure_loss_pa, 120.0, 0.0, 100000.0, BELL),
	P(pressure_loss_flow_m3h, 6.0, 0.001, 10000.0, BELL),
	P(meter_temp_step, 0.0, -50.0, 50.0, BELL),
	P(meter_temp_step_opening, 0.0, 0.0, 1e6, BELL),
	P(meter_temp_step_s, 0.0, 0.0, 1e9, BELL),
};
#undef P

/* The bell prover's temperature drifts more slowly than a flow bench's water by default. */
static double param_default(const struct param *p, enum metro_rig_kind kind)
{
	if (kind == METRO_RIG_BELL_PROVER && !strcmp(p->key, "temp_drift_per_min"))
		return 0.01;
	if (kind == METRO_RIG_BELL_PROVER && !strcmp(p->key, "temp_drift_limit"))
		return 2.0;
	return p->def;
}

static int param_applies(const struct param *p, enum metro_rig_kind kind)
{
	if (!strcmp(p->key, "temp_drift_per_min"))
		return kind != METRO_RIG_ELECTRICITY_BENCH;
	return (p->rigs >> kind) & 1;
}

/* Store a parameter by its offset (memcpy: no pointer casts between unrelated types). */
static void param_store(struct sim_bench *b, const struct param *p, double v)
{
	memcpy((char *)b + p->off, &v, sizeof v);
}

static void bench_defaults(struct sim_bench *b, enum metro_rig_kind kind)
{
	for (size_t i = 0; i < METRO_ARRAY_SIZE(params); i++)
		param_store(b, &params[i], param_default(&params[i], kind));
}

static void load_bench(struct metro_yfile *f, yaml_node_t *n, enum metro_rig_kind kind,
		       struct sim_bench *b)
{
	struct metro_yfield fields[METRO_ARRAY_SIZE(params)];
	const struct param *which[METRO_ARRAY_SIZE(params)];
	size_t nf = 0;
	for (size_t i = 0; i < METRO_ARRAY_SIZE(params); i++) {
		if (!param_applies(&params[i], kind))
			continue;
		fields[nf] = (struct metro_yfield){params[i].key, 0};
		which[nf++] = &params[i];
	}
	yaml_node_t *v[METRO_ARRAY_SIZE(params)];
	metro_y_map(f, n, "bench", fields, nf, v);
	for (size_t i = 0; i < nf; i++) {
		if (!v[i])
			continue;
		double d;
		if (!metro_y_double(f, v[i], metro_ykey("bench", which[i]->key).s, which[i]->min,
				    which[i]->max, &d))
			param_store(b, which[i], d);
	}
}

/* ---- meters ------------------------------------------------------------------------------ */

enum {
	M_POSITION,
	M_SERIAL,
	M_EMPTY,
	M_CONSTANT,
	M_CURVE,
	M_START,
	M_CREEP,
	M_MCONST,
	M_RES,
	M_TOFF,
	M_RUNOFF,
	M_SPREAD,
	M_PLOSS,
	M_REGERR,
	M_REGRES,
	M_CLOCK,
	M_CLKERR,
	M_CLKSPREAD,
	M_N
};

static const struct {
	const char *key;
	unsigned rigs;
} meter_keys[M_N] = {
	{"position", FLOW | ELEC | BELL},
	{"serial", FLOW | ELEC | BELL},
	{"empty", FLOW | ELEC | BELL},
	{"constant", FLOW | ELEC | BELL},
	{"curve", FLOW | ELEC | BELL},
	{"start_current_a", ELEC},
	{"creep_pulses_per_hour", ELEC},
	{"meter_constant", ELEC},
	{"resolution_l", FLOW | BELL},
	{"temp_offset", BELL},
	{"run_offsets", FLOW},
	{"spread", FLOW | ELEC | BELL},
	{"pressure_loss_pa", BELL},
	{"register_error_pct", ELEC},
	{"register_resolution_kwh", ELEC},
	{"clock", ELEC},
	{"clock_error_s_per_day", ELEC},
	{"clock_spread_s_per_day", ELEC},
};

static void meter_defaults(struct sim_meter *m)
{
	memset(m, 0, sizeof *m);
	m->start_current_a = 0.02;
	m->resolution_l = -1.0;
	m->register_resolution_kwh = 0.01;
	m->has_clock = 1;
}

static void meter_copy(struct sim_meter *dst, const struct sim_meter *src)
{
	*dst = *src;
	dst->serial = src->serial ? metro_strdup(src->serial) : NULL;
	dst->pts = NULL;
	if (src->npts) {
		dst->pts = metro_malloc(src->npts * sizeof *dst->pts);
		memcpy(dst->pts, src->pts, src->npts * sizeof *dst->pts);
	}
}

static void meter_free(struct sim_meter *m)
{
	free(m->serial);
	free(m->pts);
	m->serial = NULL;
	m->pts = NULL;
	m->npts = 0;
}

/* "1", "1.0", "0.5L", "0.8C" (L/C in either case) -> phase angle in degrees. */
static int parse_pf(const char *s, double *angle)
{
	char *end;
	double pf = strtod(s, &end);
	if (end == s || !isfinite(pf) || pf <= 0.0 || pf > 1.0)
		return -1;
	for (const char *q = s; q < end; q++)
		if (!strchr("0123456789.", *q))
			return -1;
	double a = acos(pf) * 180.0 / M_PI;
	if ((*end == 'L' || *end == 'l') && !end[1])
		*angle = a;
	else if ((*end == 'C' || *end == 'c') && !end[1])
		*angle = -a;
	else if (!*end && pf == 1.0)
		*angle = 0.0;
	else
		return -1;
	return 0;
}

static int cmp_point(const void *a, const void *b)
{
	const struct sim_point *x = a, *y = b;
	if (x->angle != y->angle)
		return x->angle < y->angle ? -1 : 1;
	return (x->x > y->x) - (x->x < y->x);
}

static void load_curve(struct metro_yfile *f, yaml_node_t *n, const char *where,
		       enum metro_rig_kind kind, struct sim_meter *m)
{
	int len = metro_y_seq(f, n, where);
	if (len < 0)
		return;
	if (len == 0) {
		metro_y_error(f, n, "%s: an error curve needs at least one point", where);
		return;
	}
	m->pts = metro_calloc((size_t)len, sizeof *m->pts);
	for (int i = 0; i < len; i++) {
		yaml_node_t *pt = metro_y_seq_at(f, n, i);
		struct sim_point *p = &m->pts[m->npts];
		struct metro_ypath key = metro_yindex(where, i);
		if (kind == METRO_RIG_ELECTRICITY_BENCH) {
			static const struct metro_yfield pf[] = {
				{"current", 1}, {"pf", 1}, {"error", 1}};
			yaml_node_t *v[3];
			if (metro_y_map(f, pt, key.s, pf, 3, v))
				continue;
			int bad = metro_y_double(f, v[0], metro_ykey(key.s, "current").s, 0.0, 1e6,
						 &p->x);
			bad |= metro_y_double(f, v[2], metro_ykey(key.s, "error").s, -100.0, 1000.0,
					      &p->err);
			char *s = NULL;
			struct metro_ypath pfk = metro_ykey(key.s, "pf");
			if (metro_y_str(f, v[1], pfk.s, 16, &s)) {
				bad = 1;
			} else if (parse_pf(s, &p->angle)) {
				metro_y_error(
					f, v[1],
					"%s: '%s' is not a power factor (1.0, 0.5L, 0.8C: 0 < "
					"pf <= 1, L inductive, C capacitive)",
					pfk.s, s);
				bad = 1;
			}
			free(s);
			if (!bad)
				m->npts++;
		} else {
			if (metro_y_seq(f, pt, key.s) != 2) {
				if (pt && pt->type == YAML_SEQUENCE_NODE)
					metro_y_error(f, pt, "%s: a point is [flow_m3h, error_pct]",
						      key.s);
				continue;
			}
			int bad = metro_y_double(f, metro_y_seq_at(f, pt, 0),
						 metro_yindex(key.s, 0).s, 0.0, 1e6, &p->x);
			bad |= metro_y_double(f, metro_y_seq_at(f, pt, 1), metro_yindex(key.s, 1).s,
					      -100.0, 1000.0, &p->err);
			if (!bad)
				m->npts++;
		}
		/* Points must be given in increasing flow (current): a curve typed out of order
		 * is more likely a mistake than an intention. */
		if (kind != METRO_RIG_ELECTRICITY_BENCH && m->npts >= 2) {
			const struct sim_point *a = &m->pts[m->npts - 2], *b = &m->pts[m->npts - 1];
			if (b->x <= a->x) {
				metro_y_error(
					f, pt,
					"%s: %s %g is not above the previous point's %g (give "
					"points in increasing order)",
					key.s, "flow", b->x, a->x);
			}
		}
	}
	/* Electricity points of several power factors may be interleaved: group them, then
	 * refuse two points for the same current and power factor. */
	if (kind != METRO_RIG_ELECTRICITY_BENCH || m->npts < 2)
		return;
	qsort(m->pts, m->npts, sizeof *m->pts, cmp_point);
	for (size_t i = 1; i < m->npts; i++)
		if (m->pts[i].angle == m->pts[i - 1].angle && m->pts[i].x == m->pts[i - 1].x) {
			metro_y_error(f, n,
				      "%s: two points for current %g A at the same power factor",
				      where, m->pts[i].x);
			break;
		}
}

static void load_meter(struct metro_yfile *f, yaml_node_t *n, const char *where,
		       enum metro_rig_kind kind, int is_default, struct sim_meter *m,
		       long *position)
{
	struct metro_yfield fields[M_N];
	int which[M_N];
	size_t nf = 0;
	for (int k = 0; k < M_N; k++) {
		if (!((meter_keys[k].rigs >> kind) & 1) || (is_default && k == M_POSITION))
			continue;
		fields[nf] = (struct metro_yfield){meter_keys[k].key, k == M_POSITION};
		which[nf++] = k;
	}
	yaml_node_t *got[M_N], *v[M_N];
	metro_y_map(f, n, where, fields, nf, got);
	for (int k = 0; k < M_N; k++)
		v[k] = NULL;
	for (size_t i = 0; i < nf; i++)
		v[which[i]] = got[i];
	if (v[M_POSITION])
		metro_y_long(f, v[M_POSITION], metro_ykey(where, "position").s, 1, 100000,
			     position);
	if (v[M_SERIAL]) {
		free(m->serial);
		m->serial = NULL;
		metro_y_str(f, v[M_SERIAL], metro_ykey(where, "serial").s, 64, &m->serial);
	}
	if (v[M_EMPTY])
		metro_y_bool(f, v[M_EMPTY], metro_ykey(where, "empty").s, &m->empty);
	if (v[M_CONSTANT] && v[M_CURVE])
		metro_y_error(f, v[M_CURVE], "%s: give either 'constant' or 'curve', not both",
			      where);
	if (v[M_CONSTANT] || v[M_CURVE]) {
		/* A listed meter's own error replaces the default meter's. */
		free(m->pts);
		m->pts = NULL;
		m->npts = 0;
		m->constant = 0.0;
	}
	if (v[M_CONSTANT])
		metro_y_double(f, v[M_CONSTANT], metro_ykey(where, "constant").s, -100.0, 1000.0,
			       &m->constant);
	if (v[M_CURVE])
		load_curve(f, v[M_CURVE], metro_ykey(where, "curve").s, kind, m);
	if (v[M_START])
		metro_y_double(f, v[M_START], metro_ykey(where, "start_current_a").s, 0.0, 1e6,
			       &m->start_current_a);
	if (v[M_CREEP])
		metro_y_double(f, v[M_CREEP], metro_ykey(where, "creep_pulses_per_hour").s, 0.0,
			       1e9, &m->creep_per_hour);
	if (v[M_MCONST])
		metro_y_double(f, v[M_MCONST], metro_ykey(where, "meter_constant").s, 0.0, 1e9,
			       &m->meter_constant);
	if (v[M_RES])
		metro_y_double(f, v[M_RES], metro_ykey(where, "resolution_l").s, 0.0, 1e6,
			       &m->resolution_l);
	if (v[M_TOFF] && !metro_y_double(f, v[M_TOFF], metro_ykey(where, "temp_offset").s, -50.0,
					 50.0, &m->temp_offset))
		m->has_temp_offset = 1;
	if (v[M_SPREAD])
		metro_y_double(f, v[M_SPREAD], metro_ykey(where, "spread").s, 0.0, 1.0, &m->spread);
	if (v[M_PLOSS] && !metro_y_double(f, v[M_PLOSS], metro_ykey(where, "pressure_loss_pa").s,
					  0.0, 100000.0, &m->pressure_loss_pa))
		m->has_pressure_loss = 1;
	if (v[M_REGERR])
		metro_y_double(f, v[M_REGERR], metro_ykey(where, "register_error_pct").s, -100.0,
			       100.0, &m->register_error_pct);
	if (v[M_REGRES])
		metro_y_double(f, v[M_REGRES], metro_ykey(where, "register_resolution_kwh").s, 1e-6,
			       100.0, &m->register_resolution_kwh);
	if (v[M_CLOCK])
		metro_y_bool(f, v[M_CLOCK], metro_ykey(where, "clock").s, &m->has_clock);
	if (v[M_CLKERR])
		metro_y_double(f, v[M_CLKERR], metro_ykey(where, "clock_error_s_per_day").s,
			       -10000.0, 10000.0, &m->clock_error);
	if (v[M_CLKSPREAD])
		metro_y_double(f, v[M_CLKSPREAD], metro_ykey(where, "clock_spread_s_per_day").s,
			       0.0, 100.0, &m->clock_spread);
	if (v[M_RUNOFF]) {
		struct metro_ypath key = metro_ykey(where, "run_offsets");
		int len = metro_y_seq(f, v[M_RUNOFF], key.s);
		if (len > SIM_MAX_RUN_OFFSETS) {
			metro_y_error(f, v[M_RUNOFF], "%s: at most %d collections", key.s,
				      SIM_MAX_RUN_OFFSETS);
		} else if (len >= 0) {
			m->nrun_offsets = 0;
			for (int i = 0; i < len; i++)
				metro_y_double(f, metro_y_seq_at(f, v[M_RUNOFF], i),
					       metro_yindex(key.s, i).s, -100.0, 100.0,
					       &m->run_offsets[m->nrun_offsets++]);
		}
	}
}

static void load_doc(struct metro_yfile *f, enum metro_rig_kind kind, struct sim_meters *ms)
{
	static const struct metro_yfield top[] = {{"bench", 0}, {"default", 0}, {"meters", 0}};
	yaml_node_t *v[3];
	metro_y_map(f, metro_y_root(f), "", top, 3, v);
	if (v[0])
		load_bench(f, v[0], kind, &ms->bench);
	if (v[1]) {
		long unused = 0;
		load_meter(f, v[1], "default", kind, 1, &ms->pos[0], &unused);
	}
	for (int k = 1; k <= ms->npos; k++)
		meter_copy(&ms->pos[k], &ms->pos[0]);
	if (!v[2])
		return;
	int len = metro_y_seq(f, v[2], "meters");
	yaml_node_t **seen = metro_calloc((size_t)ms->npos + 1, sizeof *seen);
	for (int i = 0; i < len; i++) {
		yaml_node_t *n = metro_y_seq_at(f, v[2], i);
		struct metro_ypath where = metro_yindex("meters", i);
		/* Parse into a scratch meter first: the position is only known afterwards. */
		struct sim_meter tmp;
		meter_copy(&tmp, &ms->pos[0]);
		long position = 0;
		load_meter(f, n, where.s, kind, 0, &tmp, &position);
		if (position > ms->npos) {
			metro_y_error(f, n, "%s.position: %ld, but the rig has %d positions",
				      where.s, position, ms->npos);
		} else if (position >= 1 && seen[position]) {
			metro_y_error(f, n,
				      "%s.position: position %ld listed twice (first at line %u)",
				      where.s, position, metro_y_line(seen[position]));
		} else if (position >= 1) {
			seen[position] = n;
			meter_free(&ms->pos[position]);
			ms->pos[position] = tmp;
			continue;
		}
		meter_free(&tmp);
	}
	free(seen);
}

int sim_meters_load(const char *path, enum metro_rig_kind kind, int positions,
		    struct metro_diag *diag, struct sim_meters **out)
{
	*out = NULL;
	struct sim_meters *ms = metro_calloc(1, sizeof *ms);
	ms->npos = positions;
	ms->pos = metro_calloc((size_t)positions + 1, sizeof *ms->pos);
	bench_defaults(&ms->bench, kind);
	for (int k = 0; k <= positions; k++)
		meter_defaults(&ms->pos[k]);
	if (!path) {
		*out = ms;
		return METRO_OK;
	}
	struct metro_yfile *f;
	int rc = metro_yfile_load(path, diag, &f);
	if (rc) {
		sim_meters_destroy(&ms);
		return rc;
	}
	ms->pos[0].spread = SIM_DEFAULT_SPREAD; /* a file's meters are individuals */
	ms->pos[0].clock_spread = SIM_DEFAULT_CLOCK_SPREAD;
	size_t before = metro_diag_count(diag);
	load_doc(f, kind, ms);
	metro_yfile_destroy(&f);
	if (metro_diag_count(diag) != before) {
		sim_meters_destroy(&ms);
		return METRO_E_INVAL;
	}
	*out = ms;
	return METRO_OK;
}

void sim_meters_destroy(struct sim_meters **pm)
{
	struct sim_meters *ms = *pm;
	if (!ms)
		return;
	*pm = NULL;
	for (int k = 0; k <= ms->npos; k++)
		meter_free(&ms->pos[k]);
	free(ms->pos);
	free(ms);
}

void sim_meters_deviate(struct sim_meters *ms, uint64_t seed)
{
	/* A stream of its own, keyed by the seed (mixed, so that it is no shifted copy of the
	 * fault streams) and then by the position: a meter's deviation does not depend on how
	 * many positions the rig has or on which of them are empty. */
	struct sim_rng mix;
	sim_rng_seed(&mix, seed ^ 0x6d65746572737072u); /* "meterspr" */
	uint64_t key = sim_rng_next(&mix);
	for (int k = 1; k <= ms->npos; k++) {
		struct sim_rng r;
		sim_rng_seed(&r, key + (uint64_t)k * 0xd1b54a32d192ed03u);
		double u = sim_rng_uniform(&r);
		ms->pos[k].deviation = ms->pos[k].spread * (2.0 * u - 1.0);
		/* the clock's draw follows the error's, so adding it changed no deviation */
		ms->pos[k].clock_deviation =
			ms->pos[k].clock_spread * (2.0 * sim_rng_uniform(&r) - 1.0);
	}
}

/* Piecewise-linear interpolation over pts[0..n) (sorted by x), constant beyond the ends. */
static double interp(const struct sim_point *pts, size_t n, double x)
{
	if (x <= pts[0].x)
		return pts[0].err;
	for (size_t i = 1; i < n; i++)
		if (x <= pts[i].x) {
			const struct sim_point *a = &pts[i - 1], *b = &pts[i];
			return a->err + (b->err - a->err) * (x - a->x) / (b->x - a->x);
		}
	return pts[n - 1].err;
}

double sim_meter_error_flow(const struct sim_meter *m, double q)
{
	return (m->npts ? interp(m->pts, m->npts, q) : m->constant) + m->deviation;
}

double sim_meter_run_offset(const struct sim_meter *m, long n)
{
	return n >= 1 && n <= m->nrun_offsets ? m->run_offsets[n - 1] : 0.0;
}

double sim_meter_error_elec(const struct sim_meter *m, double i, double phase_deg)
{
	if (!m->npts)
		return m->constant + m->deviation;
	/* The group of the nearest power factor (points are sorted by angle). */
	double best = m->pts[0].angle;
	for (size_t k = 1; k < m->npts; k++)
		if (fabs(m->pts[k].angle - phase_deg) < fabs(best - phase_deg))
			best = m->pts[k].angle;
	size_t lo = 0;
	while (m->pts[lo].angle != best)
		lo++;
	size_t hi = lo;
	while (hi < m->npts && m->pts[hi].angle == best)
		hi++;
	return interp(m->pts + lo, hi - lo, i) + m->deviation;
}
