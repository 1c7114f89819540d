/* Unit tests of the metrology module (lib/metrology/metrology.c) and of its exact numbers
 * (lib/base/decimal.c).
 *
 * Two kinds of tests:
 *   - data-driven: every case of the golden vectors (tests/data/golden/vectors.yaml, which must
 *     exist: a missing file fails the test) and of the project's own cases, the YAML files in
 *     tests/data/metrology/ (zone boundaries, rounding ties, repeat-rule edges, start and
 *     creep for every class, ...).  Every key of a case and of its `expect` must be used by the
 *     checker, so a misspelt expectation fails instead of being ignored;
 *   - C tests for what a data file cannot express: invalid values, out-of-range enums, overflow
 *     of the exact arithmetic.  Together they take every branch of both modules
 * (tools/scripts/coverage.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "decimal.h"
#include "error.h"
#include "metrology.h"
#include "testutil.h"
#include "util.h"

/* ---- a small YAML loader over libyaml's document API ------------------------------------ */

struct ydoc {
	yaml_document_t doc;
	int loaded;
};

static int ydoc_load(const char *path, struct ydoc *y)
{
	memset(y, 0, sizeof *y);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	int ok = yaml_parser_load(&p, &y->doc);
	if (!ok)
		fprintf(stderr, "%s:%zu:%zu: %s\n", path, p.problem_mark.line + 1,
			p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
	yaml_parser_delete(&p);
	fclose(f);
	if (!ok)
		return -1;
	y->loaded = 1;
	if (!yaml_document_get_root_node(&y->doc)) {
		fprintf(stderr, "%s: empty document\n", path);
		return -1;
	}
	return 0;
}

static void ydoc_free(struct ydoc *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = 0;
}

static yaml_node_t *ynode(struct ydoc *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

static const char *ytext(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *yget(struct ydoc *y, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = ytext(ynode(y, p->key));
		if (k && !strcmp(k, key))
			return ynode(y, p->value);
	}
	return NULL;
}

static size_t ycount(yaml_node_t *seq)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *yitem(struct ydoc *y, yaml_node_t *seq, size_t i)
{
	return ynode(y, seq->data.sequence.items.start[i]);
}

/* ---- one data-driven case ----------------------------------------------------------------- */

#define MAX_KEYS 48

struct tc {
	struct ydoc *y;
	yaml_node_t *node;	   /* the case mapping */
	yaml_node_t *expect;	   /* its `expect` mapping, or NULL */
	const char *expect_scalar; /* `expect: 0.2` (rounding) */
	char where[256];
	int failed;
	const char *used[MAX_KEYS]; /* case keys read */
	size_t nused;
	const char *xused[MAX_KEYS]; /* expect keys read */
	size_t nxused;
};

static void tc_fail(struct tc *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tc_fail(struct tc *t, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s: ", t->where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	t->failed = 1;
}

static void mark(const char **list, size_t *n, const char *key)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i], key))
			return;
	if (*n < MAX_KEYS)
		list[(*n)++] = key;
}

static int has_key(struct tc *t, const char *key)
{
	return yget(t->y, t->node, key) != NULL;
}

/* A case node (marked as used). */
static yaml_node_t *C(struct tc *t, const char *key)
{
	yaml_node_t *n = yget(t->y, t->node, key);
	if (n)
		mark(t->used, &t->nused, key);
	return n;
}

static const char *S(struct tc *t, const char *key)
{
	return ytext(C(t, key));
}

/* A scalar of a nested mapping (bell: {volume_l: ...}). */
static const char *S2(struct tc *t, const char *map, const char *key)
{
	return ytext(yget(t->y, C(t, map), key));
}

static const char *X(struct tc *t, const char *key)
{
	const char *v = ytext(yget(t->y, t->expect, key));
	if (v)
		mark(t->xused, &t->nxused, key);
	return v;
}

static struct metro_dec dec_text(struct tc *t, const char *text, const char *what)
{
	struct metro_dec d = metro_dec_invalid();
	if (!text)
		tc_fail(t, "%s is missing", what);
	else if (metro_dec_parse(text, &d))
		tc_fail(t, "%s: '%s' is not a decimal", what, text);
	return d;
}

/* A required decimal of the case. */
static struct metro_dec N(struct tc *t, const char *key) {
	return dec_text(t, S(t, key), key);
}

/* An optional decimal: 0 when absent. */
static struct metro_dec
Nopt(struct tc *t, const char *key)
{
	const char *s = S(t, key);
	return s ? dec_text(t, s, key) : metro_dec_e(0, 0);
}

static size_t list_of(struct tc *t, const char *key, struct metro_dec *out, size_t max)
{
	yaml_node_t *seq = C(t, key);
	size_t n = ycount(seq);
	if (n > max) {
		tc_fail(t, "%s: more than %zu values", key, max);
		n = max;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = dec_text(t, ytext(yitem(t->y, seq, i)), key);
	return n;
}

static const char *show(struct metro_dec d, char *buf, size_t size)
{
	if (metro_dec_format_sig(d, 20, buf, size))
		snprintf(buf, size, "(invalid)");
	return buf;
}

static void x_exact(struct tc *t, const char *key, struct metro_dec got)
{
	const char *want = X(t, key);
	char a[96];
	if (want && (!metro_dec_valid(got) || metro_dec_cmp(got, dec_text(t, want, key)) != 0))
		tc_fail(t, "%s: got %s, want exactly %s", key, show(got, a, sizeof a), want);
}

/* Within half a unit of the last digit the expectation is written with. */
static void x_near(struct tc *t, const char *key, struct metro_dec got)
{
	const char *want = X(t, key);
	char a[96];
	if (!want)
		return;
	const char *dot = strchr(want, '.');
	int places = dot ? (int)strspn(dot + 1, "0123456789") : 0;
	struct metro_dec tol = metro_dec_e(5, -(places + 1));
	struct metro_dec diff = metro_dec_abs(metro_dec_sub(got, dec_text(t, want, key)));
	if (!metro_dec_valid(diff) || metro_dec_cmp(diff, tol) > 0)
		tc_fail(t, "%s: got %s, want %s (± half a unit in the last place)", key,
			show(got, a, sizeof a), want);
}

static void x_double(struct tc *t, const char *key, double got)
{
	const char *want = X(t, key);
	if (!want)
		return;
	const char *dot = strchr(want, '.');
	int places = dot ? (int)strspn(dot + 1, "0123456789") : 0;
	if (!(fabs(got - strtod(want, NULL)) <= 0.5 * pow(10, -places) * (1 + 1e-9)))
		tc_fail(t, "%s: got %.9f, want %s", key, got, want);
}

static void x_str(struct tc *t, const char *key, const char *got)
{
	const char *want = X(t, key);
	if (want && strcmp(want, got))
		tc_fail(t, "%s: got %s, want %s", key, got, want);
}

static void x_verdict(struct tc *t, const char *key, enum metro_mx_verdict v)
{
	x_str(t, key, metro_mx_verdict_name(v));
}

static void x_bool(struct tc *t, const char *key, int got)
{
	x_str(t, key, got ? "true" : "false");
}

static void x_int(struct tc *t, const char *key, long long got)
{
	const char *want = X(t, key);
	if (want && strtoll(want, NULL, 10) != got)
		tc_fail(t, "%s: got %lld, want %s", key, got, want);
}

static const char *errname(int err)
{
	return err == METRO_E_INVAL ? "inval" : err == METRO_E_RANGE ? "range" : metro_errname(err);
}

/* Check the return code against `expect: {err: ..., input: ...}`.  Returns nonzero when the
 * case ends here (an expected or an unexpected error). */
static int x_err(struct tc *t, int err, const struct metro_mx_bad *bad)
{
	const char *want = X(t, "err");
	const char *input = X(t, "input");
	if (!want) {
		if (err)
			tc_fail(t, "unexpected error %s (%s: %s)", errname(err),
				bad && bad->input ? bad->input : "-",
				bad && bad->reason ? bad->reason : "-");
		return err != 0;
	}
	if (strcmp(want, errname(err)))
		tc_fail(t, "got %s, want error %s", err ? errname(err) : "success", want);
	else if (input && (!bad || !bad->input || strcmp(bad->input, input)))
		tc_fail(t, "error names input %s, want %s", bad && bad->input ? bad->input : "-",
			input);
	else if (err && bad && !bad->reason)
		tc_fail(t, "error without a reason");
	return 1;
}

static void limits_of(struct tc *t, struct metro_mx_limits *l)
{
	memset(l, 0, sizeof *l);
	const char *ty = S(t, "type");
	if (ty && metro_mx_parse_vtype(ty, &l->type))
		tc_fail(t, "type %s unknown", ty);
	const char *c = S(t, "complaint");
	if (c)
		l->complaint = !strcmp(c, "new")	  ? METRO_MX_COMPLAINT_NEW
			       : !strcmp(c, "in-service") ? METRO_MX_COMPLAINT_IN_SERVICE
							  : METRO_MX_COMPLAINT_UNSET;
	l->mpe_factor = Nopt(t, "mpe_factor");
	l->in_service_factor = Nopt(t, "in_service_factor");
}

/* Enum parsed from the case; an unknown spelling becomes an out-of-range value so that the
 * module's own refusal is what the case tests. */
#define ENUM_OF(t, key, parse, type, dflt)  \
	__extension__({                     \
		const char *s_ = S(t, key); \
		type v_ = dflt;             \
		if (s_ && parse(s_, &v_))   \
			v_ = (type)99;      \
		v_;                         \
	})

/* ---- the sections ------------------------------------------------------------------------- */

static void case_rounding(struct tc *t)
{
	struct metro_dec v = N(t, "value"), iv = N(t, "interval"), r, rn;
	char buf[96];
	const char *want = t->expect_scalar;
	int err = metro_mx_round(v, iv, &r);
	if (err || !want) {
		tc_fail(t, "round: %s, expect %s", errname(err), want ? want : "missing");
		return;
	}
	if (metro_dec_cmp(r, dec_text(t, want, "expect")) != 0)
		tc_fail(t, "rounded %s, want %s", show(r, buf, sizeof buf), want);
	/* The sign is kept: rounding -v gives -r. */
	if (metro_mx_round(metro_dec_neg(v), iv, &rn) || metro_dec_cmp(rn, metro_dec_neg(r)))
		tc_fail(t, "rounding is not symmetric in the sign");
	/* Written to as many places as the expectation, the text is the expectation's (no
	 * sign on zero). */
	const char *dot = strchr(want, '.');
	int places = dot ? (int)strlen(dot + 1) : 0;
	if (!strchr(want, 'e') &&
	    (metro_dec_format(r, places, buf, sizeof buf) || strcmp(buf, want)))
		tc_fail(t, "formatted '%s', want '%s'", buf, want);
}

static void case_water(struct tc *t)
{
	struct metro_mx_water_input in;
	struct metro_mx_water_result res;
	memset(&in, 0, sizeof in);
	in.meter.q3 = N(t, "q3");
	in.meter.r = N(t, "r");
	in.meter.cls =
		ENUM_OF(t, "class", metro_mx_parse_wclass, enum metro_mx_wclass, METRO_MX_WCLASS_2);
	limits_of(t, &in.limits);
	in.flow = N(t, "flow");
	in.temp_c = N(t, "water_temp");
	if (has_key(t, "error")) {
		in.method = METRO_MX_WATER_GIVEN;
		in.error = N(t, "error");
	} else if (has_key(t, "mass_kg")) {
		in.method = METRO_MX_WATER_GRAVIMETRIC;
		in.indicated_l = N(t, "indicated_l");
		in.mass_kg = N(t, "mass_kg");
		in.density_kg_l = Nopt(t, "density");
		in.buoyancy = Nopt(t, "buoyancy");
	} else {
		in.method = METRO_MX_WATER_VOLUMETRIC;
		in.indicated_l = N(t, "indicated_l");
		in.actual_l = N(t, "actual_l");
	}
	int err = metro_mx_water_check(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	if (res.judgement.rule != METRO_MX_RULE_FULL)
		tc_fail(t, "water must be judged at full precision");
	x_near(t, "error", res.judgement.value);
	x_exact(t, "mpe", res.point.mpe.mpe);
	x_verdict(t, "verdict", res.judgement.verdict);
	x_str(t, "zone", metro_mx_zone_name(res.point.mpe.zone));
	x_exact(t, "q1", res.point.q1);
	x_exact(t, "q2", res.point.q2);
	x_exact(t, "q4", res.point.q4);
	x_near(t, "actual_l", res.actual_l);
	x_exact(t, "density", res.density_kg_l);
	x_exact(t, "buoyancy", res.buoyancy);
}

static void case_water_retest(struct tc *t)
{
	struct metro_dec runs[METRO_MX_MAX_RUNS];
	struct metro_mx_repeat rep;
	struct metro_dec mpe = N(t, "mpe");
	size_t n = list_of(t, "runs", runs, METRO_MX_MAX_RUNS);
	int err = metro_mx_water_repeat(runs, n, mpe, &rep);
	if (x_err(t, err, &rep.bad))
		return;
	x_near(t, "mean", rep.mean);
	x_bool(t, "needs_more", rep.needs_more);
	x_int(t, "more", (long long)rep.more);
	if (rep.needs_more && X(t, "verdict"))
		tc_fail(t, "a verdict is expected but the rule asks for more runs");
	x_verdict(t, "verdict", rep.verdict);
}

static void check_start(struct tc *t)
{
	struct metro_mx_start_input in;
	struct metro_mx_start_result res;
	memset(&in, 0, sizeof in);
	in.cls =
		ENUM_OF(t, "class", metro_mx_parse_eclass, enum metro_mx_eclass, METRO_MX_ECLASS_1);
	in.conn = ENUM_OF(t, "connection", metro_mx_parse_connection, enum metro_mx_connection,
			  METRO_MX_DIRECT);
	in.rated_a = has_key(t, "in") ? N(t, "in") : N(t, "ib");
	in.un_v = N(t, "un");
	in.meter_constant = N(t, "meter_constant");
	in.phases = ENUM_OF(t, "phases", metro_mx_parse_phases, enum metro_mx_phases,
			    METRO_MX_PHASES_1);
	int err = metro_mx_start(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	x_exact(t, "start_current", res.current_a);
	x_exact(t, "start_factor", res.factor);
	x_double(t, "start_time_min", res.time_min);
	if (has_key(t, "observed")) {
		enum metro_mx_verdict v = METRO_MX_FAIL;
		const char *p = S2(t, "observed", "pulses"),
			   *m = S2(t, "observed", "first_pulse_min");
		err = metro_mx_start_judge(&res, strtol(p ? p : "x", NULL, 10),
					   strtod(m ? m : "nan", NULL), &v);
		x_str(t, "judge_err", errname(err));
		if (!err)
			x_verdict(t, "judge", v);
	}
}

static void check_creep(struct tc *t)
{
	struct metro_mx_creep_input in;
	struct metro_mx_creep_result res;
	memset(&in, 0, sizeof in);
	in.cls =
		ENUM_OF(t, "class", metro_mx_parse_eclass, enum metro_mx_eclass, METRO_MX_ECLASS_1);
	in.conn = ENUM_OF(t, "connection", metro_mx_parse_connection, enum metro_mx_connection,
			  METRO_MX_DIRECT);
	in.imax_a = N(t, "imax");
	in.un_v = N(t, "un");
	in.meter_constant = N(t, "meter_constant");
	in.phases = ENUM_OF(t, "phases", metro_mx_parse_phases, enum metro_mx_phases,
			    METRO_MX_PHASES_1);
	int err = metro_mx_creep(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	x_exact(t, "creep_voltage", res.voltage_v);
	x_exact(t, "k", res.k);
	x_double(t, "creep_time_min", res.time_min);
	if (has_key(t, "observed")) {
		enum metro_mx_verdict v = METRO_MX_FAIL;
		const char *p = S2(t, "observed", "pulses"), *a = S2(t, "observed", "allowed");
		err = metro_mx_creep_judge(strtol(p ? p : "x", NULL, 10),
					   strtol(a ? a : "x", NULL, 10), &v);
		x_str(t, "judge_err", errname(err));
		if (!err)
			x_verdict(t, "judge", v);
	}
}

static void check_elec_result(struct tc *t, const struct metro_mx_elec_result *res)
{
	if (!res->complete) {
		if (X(t, "verdict") || X(t, "rounded"))
			tc_fail(t, "a verdict is expected but the rule asks for more readings");
		return;
	}
	if (res->judgement.rule != METRO_MX_RULE_ROUNDED)
		tc_fail(t, "electricity must be judged on the rounded value");
	x_near(t, "computed_pulses", res->computed_pulses);
	x_near(t, "error", res->judgement.value);
	x_exact(t, "rounded", res->judgement.rounded);
	x_near(t, "mean", res->repeat.mean);
	x_verdict(t, "verdict", res->judgement.verdict);
}

static void check_point(struct tc *t)
{
	struct metro_mx_elec_input in;
	struct metro_mx_elec_result res;
	memset(&in, 0, sizeof in);
	in.meter.cls =
		ENUM_OF(t, "class", metro_mx_parse_eclass, enum metro_mx_eclass, METRO_MX_ECLASS_1);
	in.meter.conn = ENUM_OF(t, "connection", metro_mx_parse_connection,
				enum metro_mx_connection, METRO_MX_DIRECT);
	in.meter.rated_a = has_key(t, "in") ? N(t, "in") : Nopt(t, "ib");
	in.meter.imax_a = Nopt(t, "imax");
	const char *cur = S(t, "current");
	if (!cur)
		cur = in.meter.conn == METRO_MX_CT ? "In" : "Ib";
	if (metro_mx_parse_current(cur, &in.current))
		tc_fail(t, "current %s does not parse", cur);
	in.pf = ENUM_OF(t, "pf", metro_mx_parse_pf, enum metro_mx_pf, METRO_MX_PF_1);
	limits_of(t, &in.limits);
	if (has_key(t, "standard_constant")) {
		in.method = METRO_MX_ELEC_PULSES;
		in.pulses.c0 = N(t, "standard_constant");
		in.pulses.c = N(t, "meter_constant");
		in.pulses.n = N(t, "meter_pulses");
		in.pulses.m = has_key(t, "standard_pulses_counted")
				      ? N(t, "standard_pulses_counted")
				      : N(t, "standard_pulses");
		in.pulses.ki = Nopt(t, "ki");
		in.pulses.ku = Nopt(t, "ku");
	} else if (has_key(t, "readings")) {
		in.method = METRO_MX_ELEC_READINGS;
		in.nreadings = list_of(t, "readings", in.readings, METRO_MX_MAX_RUNS);
		const char *extra = S(t, "extra");
		in.nextra = extra ? (size_t)strtoul(extra, NULL, 10) : 0;
	} else if (has_key(t, "error")) {
		in.method = METRO_MX_ELEC_GIVEN;
		in.error = N(t, "error");
	} else {
		tc_fail(t, "no method: error, readings or standard_constant");
		return;
	}
	int err = metro_mx_elec_check(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	x_exact(t, "mpe", res.point.mpe.mpe);
	x_exact(t, "interval", res.point.interval);
	x_str(t, "zone", metro_mx_zone_name(res.point.mpe.zone));
	if (in.method == METRO_MX_ELEC_READINGS)
		x_bool(t, "needs_extra", res.repeat.band);
	if (res.repeat.band != !res.complete && in.method == METRO_MX_ELEC_READINGS && !in.nextra)
		tc_fail(t, "needs_extra and an incomplete result must go together");
	/* Second stage: the two extra readings. */
	if (has_key(t, "extra_readings")) {
		if (res.complete) {
			tc_fail(t, "extra readings given but none were asked for");
			return;
		}
		struct metro_dec extra[2];
		if (list_of(t, "extra_readings", extra, 2) != 2) {
			tc_fail(t, "extra_readings: give two");
			return;
		}
		in.readings[in.nreadings++] = extra[0];
		in.readings[in.nreadings++] = extra[1];
		in.nextra = 2;
		err = metro_mx_elec_check(&in, &res);
		if (err || !res.complete) {
			tc_fail(t, "with the extra readings: %s, complete %d", errname(err),
				res.complete);
			return;
		}
	}
	check_elec_result(t, &res);
}

static void case_electricity(struct tc *t)
{
	const char *test = S(t, "test");
	if (!test)
		test = has_key(t, "current")			? "point"
		       : has_key(t, "imax") && has_key(t, "un") ? "creep"
		       : has_key(t, "un")			? "start"
								: "point";
	if (!strcmp(test, "start"))
		check_start(t);
	else if (!strcmp(test, "creep"))
		check_creep(t);
	else
		check_point(t);
}

static void case_gas(struct tc *t)
{
	struct metro_mx_gas_input in;
	struct metro_mx_gas_result res;
	memset(&in, 0, sizeof in);
	in.cls = ENUM_OF(t, "class", metro_mx_parse_gclass, enum metro_mx_gclass,
			 METRO_MX_GCLASS_1_5);
	in.qmax = N(t, "qmax");
	in.qmin = Nopt(t, "qmin");
	in.flow = N(t, "flow");
	limits_of(t, &in.limits);
	if (has_key(t, "error")) {
		in.method = METRO_MX_GAS_GIVEN;
		in.error = N(t, "error");
	} else {
		const char *ref = has_key(t, "master") ? "master" : "bell";
		in.method = has_key(t, "master") ? METRO_MX_GAS_MASTER : METRO_MX_GAS_BELL;
		in.ref.p_atm_kpa = N(t, "p_atm_kpa");
		in.ref.ref_volume_l = dec_text(t, S2(t, ref, "volume_l"), "volume_l");
		in.ref.ref_p_kpa = dec_text(t, S2(t, ref, "p_kpa"), "p_kpa");
		in.ref.ref_t_c = dec_text(t, S2(t, ref, "t_c"), "t_c");
		in.ref.meter_volume_l = dec_text(t, S2(t, "meter", "volume_l"), "volume_l");
		in.ref.meter_p_kpa = dec_text(t, S2(t, "meter", "p_kpa"), "p_kpa");
		in.ref.meter_t_c = dec_text(t, S2(t, "meter", "t_c"), "t_c");
	}
	int err = metro_mx_gas_check(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	if (res.judgement.rule != METRO_MX_RULE_FULL)
		tc_fail(t, "gas must be judged at full precision");
	x_near(t, "reference_l", res.ref.reference_l);
	x_near(t, "pressure_factor", res.ref.pressure_factor);
	x_near(t, "temperature_factor", res.ref.temperature_factor);
	x_near(t, "error", res.judgement.value);
	x_exact(t, "mpe", res.point.mpe.mpe);
	x_exact(t, "qt", res.point.qt);
	x_str(t, "zone", metro_mx_zone_name(res.point.mpe.zone));
	x_verdict(t, "verdict", res.judgement.verdict);
}

static void case_pulses(struct tc *t)
{
	struct metro_mx_pulses_input in;
	struct metro_mx_pulses_result res;
	memset(&in, 0, sizeof in);
	in.un_v = N(t, "un");
	in.current_a = N(t, "current");
	in.pf = ENUM_OF(t, "pf", metro_mx_parse_pf, enum metro_mx_pf, METRO_MX_PF_1);
	in.phases = ENUM_OF(t, "phases", metro_mx_parse_phases, enum metro_mx_phases,
			    METRO_MX_PHASES_1);
	in.meter_constant = N(t, "meter_constant");
	in.min_seconds = N(t, "min_seconds");
	int err = metro_mx_pulses_needed(&in, &res);
	if (x_err(t, err, &res.bad))
		return;
	x_int(t, "meter_pulses", res.pulses);
	/* the measurement lasts at least min_seconds, one pulse fewer would not */
	double t_min = metro_dec_to_double(in.min_seconds);
	if (res.pulses > 1 && !((double)res.pulses * res.period_s >= t_min * (1 - 1e-12) &&
				(double)(res.pulses - 1) * res.period_s < t_min * (1 + 1e-12)))
		tc_fail(t, "%lld pulses of %.6f s do not cover %.6f s minimally", res.pulses,
			res.period_s, t_min);
}

static void case_uncertainty(struct tc *t)
{
	struct metro_mx_uncertainty u;
	struct metro_dec limit = metro_dec_invalid();
	int err = 0;
	const char *kind = S(t, "kind");
	if (kind) {
		enum metro_mx_kind k = !strcmp(kind, "water")	      ? METRO_MX_WATER
				       : !strcmp(kind, "electricity") ? METRO_MX_ELECTRICITY
								      : METRO_MX_GAS;
		const char *is = S(t, "in_service");
		err = metro_mx_uncertainty_limit(k, is && !strcmp(is, "true"), &limit);
	} else {
		limit = N(t, "limit");
	}
	struct metro_dec uu = N(t, "u"), mpe = N(t, "mpe");
	if (!err)
		err = metro_mx_uncertainty_check(uu, mpe, limit, &u);
	if (x_err(t, err, NULL))
		return;
	x_near(t, "ratio", u.ratio);
	x_verdict(t, "verdict", u.verdict);
}

static void case_density(struct tc *t)
{
	struct metro_dec rho = metro_dec_invalid();
	int err = metro_mx_water_density(N(t, "temp"), &rho);
	if (x_err(t, err, NULL))
		return;
	x_exact(t, "density", rho);
}

static void case_gas_repeat(struct tc *t)
{
	struct metro_dec runs[METRO_MX_MAX_RUNS];
	struct metro_mx_repeat rep;
	struct metro_mx_gas_rule rule;
	const char *r = S(t, "rule");
	rule.runs = (size_t)strtoul(S(t, "required") ? S(t, "required") : "0", NULL, 10);
	rule.mean_rule = !strcmp(r ? r : "", "mean-only")	? METRO_MX_MEAN_ONLY
			 : !strcmp(r ? r : "", "mean-and-each") ? METRO_MX_MEAN_AND_EACH
			 : !strcmp(r ? r : "", "each")		? METRO_MX_EACH
						       : (enum metro_mx_mean_rule)99;
	size_t n = list_of(t, "runs", runs, METRO_MX_MAX_RUNS);
	int err = metro_mx_gas_repeat(runs, n, &rule, N(t, "mpe"), &rep);
	if (x_err(t, err, &rep.bad))
		return;
	x_near(t, "mean", rep.mean);
	x_bool(t, "needs_more", rep.needs_more);
	x_int(t, "more", (long long)rep.more);
	if (!rep.needs_more)
		x_verdict(t, "verdict", rep.verdict);
}

static void case_min_volume(struct tc *t)
{
	struct metro_dec v = metro_dec_invalid();
	int err = metro_mx_water_min_volume(N(t, "scale_interval"), N(t, "flow"), &v);
	if (x_err(t, err, NULL))
		return;
	x_near(t, "min_l", v);
}

static void case_judge(struct tc *t)
{
	struct metro_mx_judgement j;
	const char *r = S(t, "rule");
	enum metro_mx_rule rule =
		!strcmp(r ? r : "", "rounded") ? METRO_MX_RULE_ROUNDED : METRO_MX_RULE_FULL;
	int err = metro_mx_judge(N(t, "value"), N(t, "mpe"), rule, Nopt(t, "interval"), &j);
	if (x_err(t, err, NULL))
		return;
	x_exact(t, "rounded", j.rounded);
	x_verdict(t, "verdict", j.verdict);
	if (metro_dec_cmp(j.judged, j.rounded))
		tc_fail(t, "judged value is not the rounded one");
}

struct section {
	const char *name;
	void (*fn)(struct tc *t);
};

static const struct section sections[] = {
	{"rounding", case_rounding},
	{"water", case_water},
	{"water_retest", case_water_retest},
	{"electricity", case_electricity},
	{"gas", case_gas},
	{"pulses", case_pulses},
	{"uncertainty", case_uncertainty},
	{"density", case_density},
	{"gas_repeat", case_gas_repeat},
	{"min_volume", case_min_volume},
	{"judge", case_judge},
};

/* Run the cases of one section (or of every section when only is NULL) of a file.  Every key
 * of a case and of its expectation must have been used.  Returns the number of cases run;
 * *failures counts failed cases; a file that does not load or has an unknown section fails. */
static size_t run_file(const char *path, const char *only, size_t *failures)
{
	struct ydoc y;
	size_t ncases = 0;
	if (ydoc_load(path, &y)) {
		fprintf(stderr, "FAIL %s: cannot load\n", path);
		(*failures)++;
		ydoc_free(&y);
		return 0;
	}
	yaml_node_t *root = yaml_document_get_root_node(&y.doc);
	if (root->type != YAML_MAPPING_NODE) {
		fprintf(stderr, "FAIL %s: top level is not a mapping\n", path);
		(*failures)++;
	}
	for (yaml_node_pair_t *p = root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start
								   : NULL;
	     p && p < root->data.mapping.pairs.top; p++) {
		const char *name = ytext(ynode(&y, p->key));
		yaml_node_t *seq = ynode(&y, p->value);
		const struct section *sec = NULL;
		for (size_t i = 0; i < METRO_ARRAY_SIZE(sections); i++)
			if (name && !strcmp(name, sections[i].name))
				sec = &sections[i];
		if (!sec || seq->type != YAML_SEQUENCE_NODE) {
			fprintf(stderr, "FAIL %s: unknown section or not a list: %s\n", path,
				name ? name : "?");
			(*failures)++;
			continue;
		}
		if (only && strcmp(only, name))
			continue;
		for (size_t i = 0; i < ycount(seq); i++) {
			struct tc t;
			memset(&t, 0, sizeof t);
			t.y = &y;
			t.node = yitem(&y, seq, i);
			yaml_node_t *ex = yget(&y, t.node, "expect");
			t.expect = ex && ex->type == YAML_MAPPING_NODE ? ex : NULL;
			t.expect_scalar = ytext(ex);
			const char *cname = ytext(yget(&y, t.node, "name"));
			snprintf(t.where, sizeof t.where, "%s: %s[%zu]%s%s", path, name, i,
				 cname ? " " : "", cname ? cname : "");
			mark(t.used, &t.nused, "name");
			mark(t.used, &t.nused, "expect");
			sec->fn(&t);
			/* every key read: the case cannot silently ignore a field */
			for (yaml_node_pair_t *k = t.node->data.mapping.pairs.start;
			     k < t.node->data.mapping.pairs.top; k++) {
				const char *key = ytext(ynode(&y, k->key));
				size_t j = 0;
				while (j < t.nused && strcmp(t.used[j], key))
					j++;
				if (j == t.nused)
					tc_fail(&t, "key '%s' not used by the checker", key);
			}
			for (yaml_node_pair_t *k = t.expect ? t.expect->data.mapping.pairs.start
							    : NULL;
			     k && k < t.expect->data.mapping.pairs.top; k++) {
				const char *key = ytext(ynode(&y, k->key));
				size_t j = 0;
				while (j < t.nxused && strcmp(t.xused[j], key))
					j++;
				if (j == t.nxused)
					tc_fail(&t, "expect.%s not checked", key);
			}
			ncases++;
			*failures += t.failed != 0;
		}
	}
	ydoc_free(&y);
	return ncases;
}

/* ---- the golden vectors ------------------------------------------------------------------- */

static char *vectors_path(void)
{
	const char *src = getenv("METRO_SRCDIR");
	return src ? metro_asprintf("%s/tests/data/golden/vectors.yaml", src)
		   : metro_strdup("tests/data/golden/vectors.yaml");
}

/* Each section of the vectors must exist and every one of its cases pass. */
static void vectors_section(const char *section, size_t at_least)
{
	char *path = vectors_path();
	size_t failures = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		fprintf(stderr, "FAIL: the golden vectors %s are missing\n", path);
	assert_non_null(f);
	fclose(f);
	size_t n = run_file(path, section, &failures);
	fprintf(stderr, "%s: %s: %zu cases, %zu failed\n", path, section, n, failures);
	free(path);
	assert_true(n >= at_least);
	assert_int_equal(failures, 0);
}

static void test_vectors_all_sections_known(void **state)
{
	(void)state;
	char *path = vectors_path();
	size_t failures = 0;
	size_t n = run_file(path, NULL, &failures);
	free(path);
	assert_int_equal(failures, 0);
	assert_true(n >= 23);
}

static void test_vectors_rounding(void **state)
{
	(void)state;
	vectors_section("rounding", 10);
}

static void test_vectors_water(void **state)
{
	(void)state;
	vectors_section("water", 5);
}

static void test_vectors_water_retest(void **state)
{
	(void)state;
	vectors_section("water_retest", 2);
}

static void test_vectors_electricity(void **state)
{
	(void)state;
	vectors_section("electricity", 4);
}

static void test_vectors_gas(void **state)
{
	(void)state;
	vectors_section("gas", 2);
}

/* ---- the project's own cases -------------------------------------------------------------- */

static void test_own_cases(void **state)
{
	(void)state;
	char **files;
	size_t nfiles = tu_list_dir("tests/data/metrology", ".yaml", &files);
	size_t failures = 0, total = 0;
	assert_true(nfiles >= 7);
	for (size_t i = 0; i < nfiles; i++) {
		size_t n = run_file(files[i], NULL, &failures);
		fprintf(stderr, "%s: %zu cases\n", files[i], n);
		assert_true(n > 0);
		total += n;
	}
	tu_free_list(files, nfiles);
	fprintf(stderr, "own cases: %zu, failed %zu\n", total, failures);
	assert_int_equal(failures, 0);
	assert_true(total >= 300);
}

/* ---- decimal.c ---------------------------------------------------------------------------- */

static struct metro_dec P(const char *s) {
	struct metro_dec d = metro_dec_invalid();
	int err = metro_dec_parse(s, &d);
	if (err)
		fprintf(stderr, "cannot parse %s\n", s);
	assert_int_equal(err, METRO_OK);
	return d;
}

static void
assert_dec(struct metro_dec d, const char *want)
{
	char buf[128];
	assert_int_equal(metro_dec_format_sig(d, 38, buf, sizeof buf), METRO_OK);
	if (strcmp(buf, want))
		fprintf(stderr, "got %s, want %s\n", buf, want);
	assert_string_equal(buf, want);
}

/* 2^127 - 1, the largest numerator (39 digits: one more than a parsed decimal may have) */
static struct metro_dec big(void)
{
	return metro_dec_add(metro_dec_mul(P("17014118346046923173168730371588410572"), P("10")),
			     P("7"));
}

static void test_dec_parse(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int err;
		const char *out;
	} cases[] = {
		{"0", 0, "0"},
		{"-0", 0, "0"},
		{"+1.5", 0, "1.5"},
		{"-0.075", 0, "-0.075"},
		{".5", 0, "0.5"},
		{"5.", 0, "5"},
		{"00012.3400", 0, "12.34"},
		{"1000.5", 0, "1000.5"},
		{"100", 0, "100"},
		{"1e3", 0, "1000"},
		{"1.5E-3", 0, "0.0015"},
		{"2e+2", 0, "200"},
		{"0e99", 0, "0"},
		{"12345678901234567890123456789012345678", 0,
		 "12345678901234567890123456789012345678"},
		{"1.0000000000000000000000000000000000000000000", 0, "1"},
		{"0.00000000000000000000000000000000000001", 0,
		 "0.00000000000000000000000000000000000001"},
		{"123456789012345678901234567890123456789", METRO_E_RANGE, NULL},
		{"1e38", 0, "100000000000000000000000000000000000000"},
		{"2e38", METRO_E_RANGE, NULL},
		{"1e39", METRO_E_RANGE, NULL},
		{"1e-39", METRO_E_RANGE, NULL},
		{"12345e36", METRO_E_RANGE, NULL},
		{"1e12345", METRO_E_RANGE, NULL},
		{"", METRO_E_INVAL, NULL},
		{"-", METRO_E_INVAL, NULL},
		{".", METRO_E_INVAL, NULL},
		{"1.2.3", METRO_E_INVAL, NULL},
		{" 1", METRO_E_INVAL, NULL},
		{"1 ", METRO_E_INVAL, NULL},
		{"1x", METRO_E_INVAL, NULL},
		{"0x10", METRO_E_INVAL, NULL},
		{"inf", METRO_E_INVAL, NULL},
		{"nan", METRO_E_INVAL, NULL},
		{"1e", METRO_E_INVAL, NULL},
		{"1e+", METRO_E_INVAL, NULL},
		{"e5", METRO_E_INVAL, NULL},
		{"1e5x", METRO_E_INVAL, NULL},
		{"1e5 ", METRO_E_INVAL, NULL},
		{"--1", METRO_E_INVAL, NULL},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cases); i++) {
		struct metro_dec d = metro_dec_e(7, 0);
		int err = metro_dec_parse(cases[i].in, &d);
		if (err != cases[i].err)
			fprintf(stderr, "parse '%s': %d, want %d\n", cases[i].in, err,
				cases[i].err);
		assert_int_equal(err, cases[i].err);
		if (cases[i].out)
			assert_dec(d, cases[i].out);
		else
			assert_int_equal(metro_dec_cmp(d, metro_dec_e(7, 0)), 0); /* untouched */
	}
	/* parsen reads only its bytes */
	struct metro_dec d;
	assert_int_equal(metro_dec_parsen("0.1Ib", 3, &d), METRO_OK);
	assert_dec(d, "0.1");
}

static void test_dec_exact_arithmetic(void **state)
{
	(void)state;
	/* the example: exact here, not in binary floating point */
	assert_int_equal(metro_dec_cmp(metro_dec_mul(P("1.6"), P("0.025")), P("0.04")), 0);
	volatile double a = 1.6, b = 0.025;
	assert_true(a * b != 0.04);
	assert_dec(metro_dec_add(P("0.1"), P("0.2")), "0.3");
	assert_dec(metro_dec_sub(P("0.1"), P("0.3")), "-0.2");
	assert_dec(metro_dec_sub(P("-0.1"), P("-0.3")), "0.2");
	assert_dec(metro_dec_add(P("-1"), P("0.25")), "-0.75");
	assert_dec(metro_dec_mul(P("-1.5"), P("-2")), "3");
	assert_dec(metro_dec_mul(P("-1.5"), P("2")), "-3");
	assert_dec(metro_dec_div(P("1"), P("-8")), "-0.125");
	assert_dec(metro_dec_div(P("-3"), P("-4")), "0.75");
	struct metro_dec third = metro_dec_div(P("1"), P("3"));
	assert_int_equal(metro_dec_cmp(metro_dec_mul(third, P("3")), P("1")), 0);
	assert_false(metro_dec_is_int(third));
	assert_true(metro_dec_is_int(P("-12")));
	assert_dec(metro_dec_neg(P("2.5")), "-2.5");
	assert_dec(metro_dec_abs(P("-2.5")), "2.5");
	assert_dec(metro_dec_abs(P("2.5")), "2.5");
	assert_int_equal(metro_dec_sign(P("-0.001")), -1);
	assert_int_equal(metro_dec_sign(P("0")), 0);
	assert_int_equal(metro_dec_sign(P("3")), 1);
	assert_dec(metro_dec_e(-25, -3), "-0.025");
	assert_dec(metro_dec_e(25, 2), "2500");
	assert_dec(metro_dec_e(0, 0), "0");
}

static void test_dec_zero_and_invalid(void **state)
{
	(void)state;
	struct metro_dec zero; /* zero-initialised: the number 0 */
	memset(&zero, 0, sizeof zero);
	struct metro_dec inv = metro_dec_invalid();
	assert_true(metro_dec_valid(zero));
	assert_false(metro_dec_valid(inv));
	assert_int_equal(metro_dec_cmp(zero, P("0")), 0);
	assert_dec(metro_dec_add(zero, P("1.5")), "1.5");
	assert_dec(metro_dec_add(P("1.5"), zero), "1.5");
	assert_true(metro_dec_is_int(zero));
	assert_dec(metro_dec_neg(zero), "0");
	assert_dec(metro_dec_abs(zero), "0");
	assert_dec(metro_dec_floor(zero), "0");
	/* the invalid value propagates through every operation */
	assert_false(metro_dec_valid(metro_dec_add(inv, P("1"))));
	assert_false(metro_dec_valid(metro_dec_add(P("1"), inv)));
	assert_false(metro_dec_valid(metro_dec_sub(inv, P("1"))));
	assert_false(metro_dec_valid(metro_dec_mul(inv, P("1"))));
	assert_false(metro_dec_valid(metro_dec_mul(P("1"), inv)));
	assert_false(metro_dec_valid(metro_dec_div(inv, P("1"))));
	assert_false(metro_dec_valid(metro_dec_div(P("1"), inv)));
	assert_false(metro_dec_valid(metro_dec_div(P("1"), zero)));
	assert_false(metro_dec_valid(metro_dec_neg(inv)));
	assert_false(metro_dec_valid(metro_dec_abs(inv)));
	assert_false(metro_dec_valid(metro_dec_floor(inv)));
	assert_false(metro_dec_valid(metro_dec_ceil(inv)));
	assert_false(metro_dec_is_int(inv));
	assert_true(isnan(metro_dec_to_double(inv)));
	assert_false(metro_dec_valid(metro_dec_e(1, 39)));
	assert_false(metro_dec_valid(metro_dec_e(1, -39)));
	assert_false(metro_dec_valid(metro_dec_e(LLONG_MAX, 38)));
	struct metro_dec r;
	assert_int_equal(metro_dec_round(inv, P("1"), &r), METRO_E_INVAL);
	assert_int_equal(metro_dec_round(P("1"), inv, &r), METRO_E_INVAL);
	assert_int_equal(metro_dec_round(P("1"), zero, &r), METRO_E_INVAL);
	assert_int_equal(metro_dec_round(P("1"), P("-0.1"), &r), METRO_E_INVAL);
	long long ll;
	assert_int_equal(metro_dec_to_ll(inv, &ll), METRO_E_RANGE);
	char buf[8];
	assert_int_equal(metro_dec_format(inv, 2, buf, sizeof buf), METRO_E_INVAL);
	assert_string_equal(buf, "");
	assert_int_equal(metro_dec_format_sig(inv, 5, buf, sizeof buf), METRO_E_INVAL);
}

static void test_dec_overflow(void **state)
{
	(void)state;
	struct metro_dec m = big(), one = P("1"), r;
	/* sums */
	assert_true(metro_dec_valid(metro_dec_add(m, P("0"))));
	assert_false(metro_dec_valid(metro_dec_add(m, one)));
	assert_false(metro_dec_valid(metro_dec_sub(metro_dec_neg(m), P("2"))));
	/* the unsigned sum itself overflows: both scaled numerators near 2^128 */
	struct metro_dec x = metro_dec_div(m, P("3")), y = metro_dec_div(m, P("2"));
	assert_false(metro_dec_valid(metro_dec_add(x, y)));
	/* scaling a numerator, and the common denominator */
	assert_false(metro_dec_valid(metro_dec_add(m, P("0.5")))); /* fits u128, not i128 */
	assert_false(metro_dec_valid(metro_dec_add(P("0.5"), m)));
	assert_false(metro_dec_valid(metro_dec_add(m, P("2.5")))); /* the u128 sum overflows */
	assert_false(metro_dec_valid(metro_dec_add(m, metro_dec_div(one, P("3")))));
	struct metro_dec tiny = P("0.00000000000000000000000000000000000001");
	assert_false(metro_dec_valid(metro_dec_add(tiny, metro_dec_div(one, P("7")))));
	/* difference that fits although the operands are large */
	assert_dec(metro_dec_sub(m, m), "0");
	assert_dec(metro_dec_add(metro_dec_neg(m), P("1")),
		   "-170141183460469231731687303715884105726");
	/* products and quotients */
	assert_false(metro_dec_valid(metro_dec_mul(m, P("2"))));
	assert_false(metro_dec_valid(metro_dec_mul(tiny, tiny)));
	assert_false(metro_dec_valid(metro_dec_div(one, metro_dec_mul(tiny, P("0.1")))));
	assert_dec(metro_dec_mul(metro_dec_div(m, P("7")), P("7")),
		   "170141183460469231731687303715884105727");
	/* numerator or denominator fit in u128 but not in the signed range */
	assert_false(metro_dec_valid(metro_dec_mul(tiny, P("0.5"))));
	assert_false(metro_dec_valid(metro_dec_mul(m, P("1.0000000001"))));
	/* comparisons never overflow: cross products of 127-bit numbers */
	struct metro_dec m2 = metro_dec_sub(m, P("2"));
	struct metro_dec a = metro_dec_div(m, m2), b = metro_dec_div(m2, m);
	assert_int_equal(metro_dec_cmp(a, b), 1);
	assert_int_equal(metro_dec_cmp(b, a), -1);
	assert_int_equal(metro_dec_cmp(metro_dec_neg(a), metro_dec_neg(b)), -1);
	assert_int_equal(metro_dec_cmp(a, a), 0);
	assert_int_equal(metro_dec_cmp(metro_dec_neg(a), b), -1);
	assert_int_equal(metro_dec_cmp(P("0"), b), -1);
	/* same high halves, different low halves */
	assert_int_equal(metro_dec_cmp(m, metro_dec_sub(m, one)), 1);
	assert_int_equal(metro_dec_cmp(metro_dec_sub(m, one), m), -1);
	/* rounding out of reach */
	assert_int_equal(metro_dec_round(P("1e37"), P("1e-5"), &r), METRO_E_RANGE);
	assert_int_equal(metro_dec_round(m, P("2"), &r), METRO_E_RANGE);
	long long ll;
	assert_int_equal(metro_dec_to_ll(P("9223372036854775808"), &ll), METRO_E_RANGE);
	assert_int_equal(metro_dec_to_ll(P("-9223372036854775809"), &ll), METRO_E_RANGE);
	assert_int_equal(metro_dec_to_ll(P("0.5"), &ll), METRO_E_RANGE);
	assert_int_equal(metro_dec_to_ll(P("-9223372036854775808"), &ll), METRO_OK);
	assert_true(ll == LLONG_MIN);
}

static void test_dec_round(void **state)
{
	(void)state;
	struct metro_dec r;
	assert_int_equal(metro_dec_round(P("0.25"), P("0.1"), &r), METRO_OK);
	assert_dec(r, "0.2");
	assert_int_equal(metro_dec_round(P("0.35"), P("0.1"), &r), METRO_OK);
	assert_dec(r, "0.4");
	assert_int_equal(metro_dec_round(P("-0.35"), P("0.1"), &r), METRO_OK);
	assert_dec(r, "-0.4");
	assert_int_equal(metro_dec_round(P("7"), P("1"), &r), METRO_OK);
	assert_dec(r, "7");
	/* a step that is not a decimal */
	assert_int_equal(metro_dec_round(P("0.5"), metro_dec_div(P("1"), P("3")), &r), METRO_OK);
	assert_int_equal(metro_dec_cmp(r, metro_dec_div(P("2"), P("3"))), 0);
	/* floor and ceil */
	assert_dec(metro_dec_floor(P("2.5")), "2");
	assert_dec(metro_dec_floor(P("-2.5")), "-3");
	assert_dec(metro_dec_floor(P("-2")), "-2");
	assert_dec(metro_dec_ceil(P("2.5")), "3");
	assert_dec(metro_dec_ceil(P("-2.5")), "-2");
	assert_dec(metro_dec_ceil(P("2")), "2");
	assert_true(metro_dec_to_double(P("0.5")) == 0.5);
}

static void test_dec_format(void **state)
{
	(void)state;
	char buf[128];
	struct {
		const char *in;
		int places;
		const char *out;
	} cases[] = {
		{"0.25", 1, "0.2"},    {"0.35", 1, "0.4"},
		{"-0.04", 1, "0.0"},   {"-0.06", 1, "-0.1"},
		{"9.995", 2, "10.00"}, {"-9.5", 0, "-10"},
		{"0.5", 0, "0"},       {"1.5", 0, "2"},
		{"99.96", 1, "100.0"}, {"123", 2, "123.00"},
		{"0.0051", 2, "0.01"}, {"5", 0, "5"},
		{"0.045", 2, "0.04"},  {"0.0450000001", 2, "0.05"},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cases); i++) {
		assert_int_equal(metro_dec_format(P(cases[i].in), cases[i].places, buf, sizeof buf),
				 METRO_OK);
		assert_string_equal(buf, cases[i].out);
	}
	/* thirds: digits by long division; 2/3 rounds up */
	assert_int_equal(metro_dec_format(metro_dec_div(P("2"), P("3")), 5, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.66667");
	assert_int_equal(metro_dec_format(metro_dec_div(P("-1"), P("3")), 40, buf, sizeof buf), 0);
	assert_string_equal(buf, "-0.3333333333333333333333333333333333333333");
	/* a denominator near 2^127 */
	struct metro_dec m = big();
	assert_int_equal(metro_dec_format(metro_dec_div(P("1"), m), 40, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.0000000000000000000000000000000000000059");
	assert_int_equal(metro_dec_format(m, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "170141183460469231731687303715884105727");
	/* errors */
	assert_int_equal(metro_dec_format(P("1"), -1, buf, sizeof buf), METRO_E_INVAL);
	assert_int_equal(metro_dec_format(P("1"), 41, buf, sizeof buf), METRO_E_INVAL);
	assert_int_equal(metro_dec_format(P("12.5"), 1, buf, 4), METRO_E_RANGE);
	assert_string_equal(buf, "");
	assert_int_equal(metro_dec_format(P("12.5"), 1, buf, 5), METRO_OK);
	assert_int_equal(metro_dec_format(P("1"), 1, buf, 0), METRO_E_RANGE);
	/* significant digits */
	struct {
		const char *in;
		int sig;
		const char *out;
	} sig[] = {
		{"0.4", 15, "0.4"},
		{"1.20", 15, "1.2"},
		{"2", 15, "2"},
		{"0.025", 15, "0.025"},
		{"-4.9333", 3, "-4.93"},
		{"12345.678", 3, "12346"},
		{"0", 5, "0"},
		{"99.96", 3, "100"},
		{"0.000123456", 2, "0.00012"},
		{"-0.0000001", 1, "-0.0000001"},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(sig); i++) {
		assert_int_equal(metro_dec_format_sig(P(sig[i].in), sig[i].sig, buf, sizeof buf),
				 METRO_OK);
		assert_string_equal(buf, sig[i].out);
	}
	assert_int_equal(
		metro_dec_format_sig(metro_dec_div(P("50000"), P("3")), 15, buf, sizeof buf), 0);
	assert_string_equal(buf, "16666.6666666667");
	/* the smallest positive value still has its digit within 40 places */
	assert_int_equal(metro_dec_format_sig(metro_dec_div(P("1"), m), 38, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.0000000000000000000000000000000000000059");
	assert_int_equal(metro_dec_format_sig(P("1"), 0, buf, sizeof buf), METRO_E_INVAL);
	assert_int_equal(metro_dec_format_sig(P("1"), 39, buf, sizeof buf), METRO_E_INVAL);
	assert_int_equal(metro_dec_format_sig(P("123.25"), 5, buf, 4), METRO_E_RANGE);
	assert_int_equal(metro_dec_format_sig(P("123.25"), 5, buf, 0), METRO_E_RANGE);
}

/* ---- metrology.c: what the data files cannot reach ---------------------------------------- */

static void test_names_and_parsers(void **state)
{
	(void)state;
	assert_string_equal(metro_mx_verdict_name(METRO_MX_PASS), "pass");
	assert_string_equal(metro_mx_verdict_name(METRO_MX_FAIL), "fail");
	assert_string_equal(metro_mx_verdict_name((enum metro_mx_verdict)2), "?");
	assert_string_equal(metro_mx_verdict_name((enum metro_mx_verdict) - 1), "?");
	assert_string_equal(metro_mx_rule_name(METRO_MX_RULE_ROUNDED), "rounded");
	assert_string_equal(metro_mx_rule_name(METRO_MX_RULE_FULL), "full-precision");
	assert_string_equal(metro_mx_zone_name(METRO_MX_ZONE_LOWER), "lower");
	assert_string_equal(metro_mx_vtype_name(METRO_MX_SAMPLING_IN_USE), "sampling-in-use");
	assert_string_equal(metro_mx_wclass_name(METRO_MX_WCLASS_1), "1");
	assert_string_equal(metro_mx_eclass_name(METRO_MX_ECLASS_0_5S), "0.5S");
	assert_string_equal(metro_mx_gclass_name(METRO_MX_GCLASS_1_0), "1.0");
	assert_string_equal(metro_mx_connection_name(METRO_MX_CT), "ct");
	assert_string_equal(metro_mx_pf_name(METRO_MX_PF_0_8C), "0.8C");
	assert_string_equal(metro_mx_phases_name(METRO_MX_PHASES_3P3W), "3w");

	enum metro_mx_vtype vt = METRO_MX_INITIAL;
	assert_int_equal(metro_mx_parse_vtype("complaint", &vt), 0);
	assert_int_equal(vt, METRO_MX_COMPLAINT);
	assert_int_equal(metro_mx_parse_vtype("In-service", &vt), METRO_E_INVAL);
	assert_int_equal(vt, METRO_MX_COMPLAINT);
	enum metro_mx_eclass ec;
	assert_int_equal(metro_mx_parse_eclass("0.2S", &ec), 0);
	assert_int_equal(ec, METRO_MX_ECLASS_0_2S);
	assert_int_equal(metro_mx_parse_eclass("0.5s", &ec), METRO_E_INVAL);
	assert_int_equal(metro_mx_parse_eclass("1.0", &ec), METRO_E_INVAL);
	enum metro_mx_wclass wc;
	assert_int_equal(metro_mx_parse_wclass("2", &wc), 0);
	assert_int_equal(wc, METRO_MX_WCLASS_2);
	enum metro_mx_gclass gc;
	assert_int_equal(metro_mx_parse_gclass("1.5", &gc), 0);
	assert_int_equal(gc, METRO_MX_GCLASS_1_5);
	assert_int_equal(metro_mx_parse_gclass("1", &gc), METRO_E_INVAL);
	enum metro_mx_connection cn;
	assert_int_equal(metro_mx_parse_connection("ct", &cn), 0);
	assert_int_equal(cn, METRO_MX_CT);
	assert_int_equal(metro_mx_parse_connection("CT", &cn), METRO_E_INVAL);
	enum metro_mx_pf pf;
	assert_int_equal(metro_mx_parse_pf("1", &pf), 0);
	assert_int_equal(pf, METRO_MX_PF_1);
	assert_int_equal(metro_mx_parse_pf("0.5L", &pf), 0);
	assert_int_equal(pf, METRO_MX_PF_0_5L);
	assert_int_equal(metro_mx_parse_pf("0.5", &pf), METRO_E_INVAL);
	enum metro_mx_phases ph;
	assert_int_equal(metro_mx_parse_phases("3w", &ph), 0);
	assert_int_equal(ph, METRO_MX_PHASES_3P3W);
	assert_int_equal(metro_mx_parse_phases("4", &ph), METRO_E_INVAL);

	struct metro_mx_current c;
	assert_int_equal(metro_mx_parse_current("0.05In", &c), 0);
	assert_int_equal(c.base, METRO_MX_IN);
	assert_dec(c.mult, "0.05");
	assert_int_equal(metro_mx_parse_current("Imax", &c), 0);
	assert_int_equal(c.base, METRO_MX_IMAX);
	assert_dec(c.mult, "1");
	assert_int_equal(metro_mx_parse_current("2Ib", &c), 0);
	assert_int_equal(c.base, METRO_MX_IB);
	static const char *const bad[] = {"",	 "0.1",	   "0.1IB",  "0.1Ibx", "xIb",
					  "0Ib", "-0.1Ib", "0.1 Ib", "I",      "Imin"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(bad); i++)
		assert_int_equal(metro_mx_parse_current(bad[i], &c), METRO_E_INVAL);

	struct metro_dec iv;
	assert_int_equal(metro_mx_interval(METRO_MX_ECLASS_0_5S, &iv), 0);
	assert_dec(iv, "0.05");
	assert_int_equal(metro_mx_interval((enum metro_mx_eclass)4, &iv), METRO_E_INVAL);
}

static void test_judge_and_limits(void **state)
{
	(void)state;
	struct metro_mx_judgement j;
	struct metro_dec inv = metro_dec_invalid();
	assert_int_equal(metro_mx_judge(inv, P("1"), METRO_MX_RULE_FULL, P("0"), &j),
			 METRO_E_INVAL);
	assert_int_equal(metro_mx_judge(P("1"), inv, METRO_MX_RULE_FULL, P("0"), &j),
			 METRO_E_INVAL);
	assert_int_equal(metro_mx_judge(P("1"), P("1"), (enum metro_mx_rule)7, P("0.1"), &j),
			 METRO_E_INVAL);
	assert_int_equal(metro_mx_judge(P("1e37"), P("1"), METRO_MX_RULE_ROUNDED, P("1e-5"), &j),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_judge(P("-0.3"), P("0.2"), METRO_MX_RULE_ROUNDED, P("0.2"), &j),
			 METRO_OK);
	assert_dec(j.rounded, "-0.4");
	assert_int_equal(j.verdict, METRO_MX_FAIL);

	struct metro_mx_limits l;
	struct metro_mx_mpe m;
	memset(&l, 0, sizeof l);
	assert_int_equal(metro_mx_apply_limits(METRO_MX_GAS, &l, P("1.5"), &m), 0);
	assert_dec(m.mpe, "1.5");
	assert_dec(m.mpe_factor, "1");
	assert_null(m.bad.input);
	assert_int_equal(metro_mx_apply_limits((enum metro_mx_kind)3, &l, P("1"), &m),
			 METRO_E_INVAL);
	assert_string_equal(m.bad.input, "kind");
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, P("0"), &m), METRO_E_RANGE);
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, inv, &m), METRO_E_INVAL);
	l.type = (enum metro_mx_vtype)42;
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, P("2"), &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "type");
	l.type = METRO_MX_IN_SERVICE;
	l.mpe_factor = inv;
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, P("2"), &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "mpe-factor");
	l.mpe_factor = P("0");
	l.in_service_factor = P("-1");
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, P("2"), &m), METRO_E_RANGE);
	assert_string_equal(m.bad.input, "in-service-factor");
	l.in_service_factor = P("1e38");
	assert_int_equal(metro_mx_apply_limits(METRO_MX_WATER, &l, P("2"), &m), METRO_E_RANGE);
	l.in_service_factor = P("0");
	l.type = METRO_MX_IN_SERVICE;
	assert_int_equal(metro_mx_apply_limits(METRO_MX_ELECTRICITY, &l, P("1"), &m), 0);
	assert_dec(m.mpe, "1");
	assert_true(m.in_service);
	assert_int_equal(metro_mx_apply_limits(METRO_MX_GAS, &l, P("1.5"), &m), 0);
	assert_dec(m.legal, "3");

	struct metro_dec u;
	assert_int_equal(metro_mx_uncertainty_limit(METRO_MX_WATER, 0, &u), 0);
	assert_int_equal(metro_dec_cmp(u, P("0.2")), 0);
	assert_int_equal(metro_mx_uncertainty_limit(METRO_MX_WATER, 1, &u), 0);
	assert_int_equal(metro_dec_cmp(metro_dec_mul(u, P("3")), P("1")), 0);
	struct metro_mx_uncertainty uc;
	assert_int_equal(metro_mx_uncertainty_check(inv, P("1"), P("0.2"), &uc), METRO_E_INVAL);
	assert_int_equal(metro_mx_uncertainty_check(P("1e37"), P("1e-37"), P("0.2"), &uc),
			 METRO_E_RANGE);
}

static struct metro_mx_water_input water_in(void)
{
	struct metro_mx_water_input in;
	memset(&in, 0, sizeof in);
	in.meter.q3 = P("2.5");
	in.meter.r = P("100");
	in.meter.cls = METRO_MX_WCLASS_2;
	in.flow = P("2.45");
	in.temp_c = P("20");
	in.method = METRO_MX_WATER_VOLUMETRIC;
	in.indicated_l = P("10.1");
	in.actual_l = P("10");
	return in;
}

static void test_water_edges(void **state)
{
	(void)state;
	struct metro_mx_water_input in = water_in();
	struct metro_mx_water_result res;
	struct metro_dec inv = metro_dec_invalid();
	assert_int_equal(metro_mx_water_check(&in, &res), 0);
	assert_dec(res.judgement.value, "1");
	assert_dec(res.actual_l, "10");

	in.method = (enum metro_mx_wmethod)9;
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "method");
	in = water_in();
	in.method = METRO_MX_WATER_GIVEN;
	in.error = inv;
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "error");
	in = water_in();
	in.temp_c = inv;
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "temp");
	in = water_in();
	in.method = METRO_MX_WATER_GRAVIMETRIC;
	in.mass_kg = P("10");
	in.density_kg_l = inv;
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "density");
	/* exact arithmetic out of reach: a 38-digit Q3, a huge indicated volume */
	in = water_in();
	in.meter.q3 = P("15e37");
	in.meter.r = P("7");
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_RANGE);
	in.meter.r = P("1000");
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "q3");
	in = water_in();
	in.method = METRO_MX_WATER_GRAVIMETRIC;
	in.indicated_l = P("1e37");
	in.mass_kg = P("10");
	in.density_kg_l = P("0.9982");
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "indicated");
	in = water_in();
	in.indicated_l = P("1e37");
	in.actual_l = P("0.3");
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "indicated");
	/* limits refused through the water function */
	in = water_in();
	in.limits.type = METRO_MX_COMPLAINT;
	assert_int_equal(metro_mx_water_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "type");

	/* the public helpers */
	struct metro_dec v;
	assert_int_equal(metro_mx_volume_error(P("10.2"), P("10"), &v), 0);
	assert_dec(v, "2");
	assert_int_equal(metro_mx_volume_error(inv, P("10"), &v), METRO_E_INVAL);
	assert_int_equal(metro_mx_volume_error(P("1"), P("-10"), &v), METRO_E_RANGE);
	assert_int_equal(metro_mx_gravimetric_volume(P("10"), P("1"), P("0"), &v), 0);
	assert_dec(v, "10.011");
	assert_int_equal(metro_mx_gravimetric_volume(P("10"), P("1"), inv, &v), METRO_E_INVAL);
	assert_int_equal(metro_mx_gravimetric_volume(P("10"), inv, P("1"), &v), METRO_E_INVAL);
	assert_int_equal(metro_mx_gravimetric_volume(
				 P("1e37"), P("0.99999999999999999999999999999999999"), P("1"), &v),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_water_min_volume(inv, P("1"), &v), METRO_E_INVAL);
	assert_int_equal(metro_mx_water_min_volume(P("1e37"), P("1"), &v), METRO_E_RANGE);
	assert_int_equal(metro_mx_water_min_volume(P("1"), P("1e37"), &v), METRO_E_RANGE);
	assert_int_equal(metro_mx_water_density(inv, &v), METRO_E_INVAL);
	assert_int_equal(metro_mx_water_density(P("1e37"), &v), METRO_E_RANGE);

	struct metro_mx_water_point pt;
	struct metro_mx_limits l;
	struct metro_mx_water_meter wm = {P("2.5"), P("100"), (enum metro_mx_wclass)2};
	memset(&l, 0, sizeof l);
	assert_int_equal(metro_mx_water_mpe(&wm, P("1"), P("20"), &l, &pt), METRO_E_INVAL);
	wm.cls = METRO_MX_WCLASS_1;
	wm.r = inv;
	assert_int_equal(metro_mx_water_mpe(&wm, P("1"), P("20"), &l, &pt), METRO_E_INVAL);
	assert_string_equal(pt.bad.input, "r");
}

static void test_repeat_edges(void **state)
{
	(void)state;
	struct metro_mx_repeat rep;
	struct metro_dec inv = metro_dec_invalid(), m = big();
	struct metro_dec runs[METRO_MX_MAX_RUNS + 1];
	for (size_t i = 0; i <= METRO_MX_MAX_RUNS; i++)
		runs[i] = P("1");
	/* water */
	runs[1] = inv;
	runs[0] = P("3");
	assert_int_equal(metro_mx_water_repeat(runs, 3, P("2"), &rep), METRO_E_INVAL);
	runs[0] = m;
	runs[1] = P("1");
	runs[2] = m;
	assert_int_equal(metro_mx_water_repeat(runs, 3, P("2"), &rep), METRO_E_RANGE);
	assert_int_equal(metro_mx_water_repeat(runs, 1, inv, &rep), METRO_E_INVAL);
	/* electricity */
	for (size_t i = 0; i <= METRO_MX_MAX_RUNS; i++)
		runs[i] = P("1");
	assert_int_equal(metro_mx_elec_repeat(runs, 17, 0, P("1"), P("0.1"), &rep), METRO_E_INVAL);
	assert_int_equal(metro_mx_elec_repeat(runs, 16, 0, P("0.5"), P("0.1"), &rep), 0);
	assert_int_equal(rep.verdict, METRO_MX_FAIL);
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, P("1"), P("0"), &rep), METRO_E_RANGE);
	assert_string_equal(rep.bad.input, "interval");
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, inv, P("0.1"), &rep), METRO_E_INVAL);
	runs[1] = inv;
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, P("1"), P("0.1"), &rep), METRO_E_INVAL);
	runs[0] = m;
	runs[1] = m;
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, P("1"), P("0.1"), &rep), METRO_E_RANGE);
	runs[0] = runs[1] = P("1");
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, m, P("0.1"), &rep), METRO_E_RANGE);
	/* a mean too large to round to the interval */
	runs[0] = runs[1] = P("1e36");
	assert_int_equal(metro_mx_elec_repeat(runs, 2, 0, P("1"), P("1e-5"), &rep), METRO_E_RANGE);
	/* gas */
	struct metro_mx_gas_rule rule = {3, METRO_MX_MEAN_ONLY};
	runs[0] = runs[1] = runs[2] = P("1");
	assert_int_equal(metro_mx_gas_repeat(runs, 0, &rule, P("1"), &rep), METRO_E_INVAL);
	assert_int_equal(metro_mx_gas_repeat(runs, 3, &rule, inv, &rep), METRO_E_INVAL);
	rule.mean_rule = (enum metro_mx_mean_rule)5;
	assert_int_equal(metro_mx_gas_repeat(runs, 3, &rule, P("1"), &rep), METRO_E_INVAL);
	rule.mean_rule = METRO_MX_EACH;
	runs[2] = inv;
	assert_int_equal(metro_mx_gas_repeat(runs, 3, &rule, P("1"), &rep), METRO_E_INVAL);
	runs[1] = runs[2] = m;
	assert_int_equal(metro_mx_gas_repeat(runs, 3, &rule, P("1"), &rep), METRO_E_RANGE);
}

static struct metro_mx_elec_input elec_in(void)
{
	struct metro_mx_elec_input in;
	memset(&in, 0, sizeof in);
	in.meter.cls = METRO_MX_ECLASS_1;
	in.meter.conn = METRO_MX_DIRECT;
	in.current.mult = P("1");
	in.current.base = METRO_MX_IB;
	in.pf = METRO_MX_PF_1;
	in.method = METRO_MX_ELEC_GIVEN;
	in.error = P("0.3");
	return in;
}

static void test_electricity_edges(void **state)
{
	(void)state;
	struct metro_mx_elec_input in = elec_in();
	struct metro_mx_elec_result res;
	struct metro_dec inv = metro_dec_invalid(), m = big();
	assert_int_equal(metro_mx_elec_check(&in, &res), 0);
	assert_dec(res.judgement.rounded, "0.3");

	in.meter.cls = (enum metro_mx_eclass)4;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "class");
	in = elec_in();
	in.meter.conn = (enum metro_mx_connection)2;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "connection");
	in = elec_in();
	in.pf = (enum metro_mx_pf)3;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "pf");
	in = elec_in();
	in.current.base = (enum metro_mx_ibase)3;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	in = elec_in();
	in.current.mult = inv;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	in = elec_in();
	in.meter.rated_a = P("-5");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "rated");
	in = elec_in();
	in.meter.imax_a = inv;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	/* Imax/rated and the current relative to it out of reach */
	in = elec_in();
	in.meter.rated_a = P("0.00000000000000000000000000000000000001");
	in.meter.imax_a = P("1e37");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "imax");
	in = elec_in();
	in.meter.rated_a = P("3");
	in.meter.imax_a = m;
	in.current.base = METRO_MX_IMAX;
	in.current.mult = P("0.10000000000000000000000000000000000001");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "current");
	/* methods */
	in = elec_in();
	in.method = (enum metro_mx_emethod)5;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "method");
	in = elec_in();
	in.error = inv;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	in = elec_in();
	in.error = P("2e37");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	in = elec_in();
	in.method = METRO_MX_ELEC_PULSES;
	in.pulses.c0 = P("2000000");
	in.pulses.c = P("1200");
	in.pulses.n = P("10");
	in.pulses.m = P("16600");
	in.pulses.ku = P("-1");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "ku");
	in.pulses.ku = P("0");
	in.pulses.c0 = m;
	in.pulses.c = P("7");
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_RANGE);
	in = elec_in();
	in.method = METRO_MX_ELEC_READINGS;
	in.nreadings = 1;
	assert_int_equal(metro_mx_elec_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "readings");

	struct metro_mx_pulse_input pi;
	struct metro_dec c, e;
	memset(&pi, 0, sizeof pi);
	pi.c0 = P("2000000");
	pi.c = P("1200");
	pi.n = P("10");
	pi.m = P("16600");
	assert_int_equal(metro_mx_pulse_error(&pi, &c, &e), 0);
	assert_int_equal(metro_dec_cmp(c, metro_dec_div(P("50000"), P("3"))), 0);
	pi.m = inv;
	assert_int_equal(metro_mx_pulse_error(&pi, &c, &e), METRO_E_INVAL);
}

static void test_start_creep_pulses_edges(void **state)
{
	(void)state;
	struct metro_dec inv = metro_dec_invalid(), m = big();
	struct metro_mx_start_input si = {
		METRO_MX_ECLASS_2, METRO_MX_DIRECT, P("5"),
		P("220"),	   P("1200"),	    (enum metro_mx_phases)3};
	struct metro_mx_start_result sr;
	assert_int_equal(metro_mx_start(&si, &sr), METRO_E_INVAL);
	assert_string_equal(sr.bad.input, "phases");
	si.phases = METRO_MX_PHASES_1;
	si.meter_constant = inv;
	assert_int_equal(metro_mx_start(&si, &sr), METRO_E_INVAL);
	si.meter_constant = m;
	assert_int_equal(metro_mx_start(&si, &sr), METRO_E_RANGE);
	si.meter_constant = P("1200");
	assert_int_equal(metro_mx_start(&si, &sr), 0);
	enum metro_mx_verdict v;
	assert_int_equal(metro_mx_start_judge(&sr, -1, 1, &v), METRO_E_RANGE);
	assert_int_equal(metro_mx_start_judge(&sr, 1, NAN, &v), METRO_E_RANGE);
	assert_int_equal(metro_mx_start_judge(&sr, 1, sr.time_min, &v), 0);
	assert_int_equal(v, METRO_MX_PASS);

	struct metro_mx_creep_input ci = {METRO_MX_ECLASS_2, METRO_MX_DIRECT,
					  P("60"),	     P("220"),
					  P("1200"),	     (enum metro_mx_phases) - 1};
	struct metro_mx_creep_result cr;
	assert_int_equal(metro_mx_creep(&ci, &cr), METRO_E_INVAL);
	ci.phases = METRO_MX_PHASES_3P4W;
	ci.un_v = P("15e37"); /* 1.15 Un overflows, the duration does not */
	ci.imax_a = P("1");
	ci.meter_constant = P("1");
	assert_int_equal(metro_mx_creep(&ci, &cr), METRO_E_RANGE);
	assert_string_equal(cr.bad.input, "un");
	ci.un_v = P("220");
	ci.imax_a = P("1e-30");
	ci.meter_constant = P("1e-10");
	assert_int_equal(metro_mx_creep(&ci, &cr), METRO_E_RANGE);
	assert_int_equal(metro_mx_creep_judge(0, -1, &v), METRO_E_RANGE);

	struct metro_mx_pulses_input pi = {P("220"),	      P("5"),	 (enum metro_mx_pf)3,
					   METRO_MX_PHASES_1, P("1200"), P("5")};
	struct metro_mx_pulses_result pr;
	assert_int_equal(metro_mx_pulses_needed(&pi, &pr), METRO_E_INVAL);
	assert_string_equal(pr.bad.input, "pf");
	pi.pf = METRO_MX_PF_1;
	pi.phases = (enum metro_mx_phases)3;
	assert_int_equal(metro_mx_pulses_needed(&pi, &pr), METRO_E_INVAL);
	pi.phases = METRO_MX_PHASES_3P3W;
	pi.current_a = inv;
	assert_int_equal(metro_mx_pulses_needed(&pi, &pr), METRO_E_INVAL);
	/* q fits, 3q² does not: a 10^-19 resolution in the time */
	pi.current_a = P("5");
	pi.min_seconds = P("1.0000000000000000001");
	assert_int_equal(metro_mx_pulses_needed(&pi, &pr), METRO_E_RANGE);
	pi.min_seconds = P("30");
	assert_int_equal(metro_mx_pulses_needed(&pi, &pr), 0);
	assert_int_equal(pr.pulses, 20);
	assert_true(fabs(pr.power_w - sqrt(3) * 1100) < 1e-9);
}

static void test_gas_edges(void **state)
{
	(void)state;
	struct metro_dec inv = metro_dec_invalid(), m = big();
	struct metro_mx_gas_input in;
	struct metro_mx_gas_result res;
	memset(&in, 0, sizeof in);
	in.cls = METRO_MX_GCLASS_1_5;
	in.qmax = P("6");
	in.flow = P("1.2");
	in.method = (enum metro_mx_gmethod)3;
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_INVAL);
	assert_string_equal(res.bad.input, "method");
	in.method = METRO_MX_GAS_GIVEN;
	in.error = inv;
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_INVAL);
	in.qmax = P("0.00000000000000000000000000000000000001");
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "qmax");
	in.qmax = P("6");
	in.limits.mpe_factor = P("2");
	in.error = P("0");
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "mpe-factor");
	in.limits.mpe_factor = P("0");
	in.qmin = inv;
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_INVAL);
	in.qmin = P("0");

	struct metro_mx_gas_ref_input ri = {P("101.325"), P("100"), P("1"), P("20"),
					    P("100"),	  P("1"),   P("20")};
	struct metro_mx_gas_ref rr;
	/* every input is checked for being a number, in order */
	struct metro_dec *field[] = {&ri.p_atm_kpa, &ri.ref_volume_l,	&ri.ref_p_kpa,
				     &ri.ref_t_c,   &ri.meter_volume_l, &ri.meter_p_kpa,
				     &ri.meter_t_c};
	static const char *const name[] = {"p-atm",	   "ref-volume", "ref-p",  "ref-t",
					   "meter-volume", "meter-p",	 "meter-t"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(field); i++) {
		struct metro_dec keep = *field[i];
		*field[i] = inv;
		assert_int_equal(metro_mx_gas_reference(&ri, &rr), METRO_E_INVAL);
		assert_string_equal(rr.bad.input, name[i]);
		*field[i] = keep;
	}
	ri.ref_volume_l = m;
	ri.meter_t_c = P("21");
	assert_int_equal(metro_mx_gas_reference(&ri, &rr), METRO_E_RANGE);
	assert_string_equal(rr.bad.input, "ref-volume");
	ri.ref_volume_l = P("100");
	ri.meter_t_c = P("20");
	assert_int_equal(metro_mx_gas_reference(&ri, &rr), 0);
	assert_dec(rr.error, "0");
	in.method = METRO_MX_GAS_MASTER;
	in.ref = ri;
	in.ref.ref_p_kpa = P("-200");
	assert_int_equal(metro_mx_gas_check(&in, &res), METRO_E_RANGE);
	assert_string_equal(res.bad.input, "ref-p");
}

/* A measured quantity (pressure loss): the exact mean of the readings against the limits; a
 * limit itself passes; bad input refused by name. */
static struct metro_dec mdec(const char *t)
{
	struct metro_dec d;
	assert_int_equal(metro_dec_parse(t, &d), 0);
	return d;
}

static void test_measurement_judge(void **state)
{
	(void)state;
	struct metro_mx_measurement m;
	struct metro_dec r[3] = {mdec("190"), mdec("200"), mdec("210")};
	struct metro_dec max = mdec("200"), min = mdec("0");
	char buf[64];
	/* mean exactly 200: on the limit, passes */
	assert_int_equal(metro_mx_measurement_judge(r, 3, NULL, &max, &m), METRO_OK);
	metro_dec_format_sig(m.mean, 20, buf, sizeof buf);
	assert_string_equal(buf, "200");
	assert_int_equal(m.n, 3);
	assert_int_equal(m.verdict, METRO_MX_PASS);
	/* one step above: 200.000001 fails */
	r[2] = mdec("210.000003");
	assert_int_equal(metro_mx_measurement_judge(r, 3, &min, &max, &m), METRO_OK);
	metro_dec_format_sig(m.mean, 20, buf, sizeof buf);
	assert_string_equal(buf, "200.000001");
	assert_int_equal(m.verdict, METRO_MX_FAIL);
	/* a mean that is no terminating decimal (1/3) is compared exactly */
	struct metro_dec t[3] = {mdec("0"), mdec("0"), mdec("1")};
	struct metro_dec third_lo = mdec("0.3333333333");
	assert_int_equal(metro_mx_measurement_judge(t, 3, &third_lo, NULL, &m), METRO_OK);
	assert_int_equal(m.verdict, METRO_MX_PASS);
	assert_int_equal(metro_mx_measurement_judge(t, 3, NULL, &third_lo, &m), METRO_OK);
	assert_int_equal(m.verdict, METRO_MX_FAIL);
	/* below a minimum fails */
	struct metro_dec neg = mdec("-0.5");
	assert_int_equal(metro_mx_measurement_judge(&neg, 1, &min, &max, &m), METRO_OK);
	assert_int_equal(m.verdict, METRO_MX_FAIL);
	/* refusals */
	assert_int_equal(metro_mx_measurement_judge(r, 0, NULL, &max, &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "readings");
	assert_int_equal(
		metro_mx_measurement_judge(r, METRO_MX_MEASUREMENT_MAX + 1, NULL, &max, &m),
		METRO_E_INVAL);
	assert_int_equal(metro_mx_measurement_judge(r, 3, NULL, NULL, &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "limits");
	assert_int_equal(metro_mx_measurement_judge(r, 3, &max, &min, &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "limits");
	struct metro_dec bad[2] = {mdec("1"), metro_dec_invalid()};
	assert_int_equal(metro_mx_measurement_judge(bad, 2, NULL, &max, &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "readings");
	struct metro_dec inv = metro_dec_invalid();
	assert_int_equal(metro_mx_measurement_judge(r, 3, &inv, &max, &m), METRO_E_INVAL);
	assert_string_equal(m.bad.input, "min");
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_all_sections_known),
		cmocka_unit_test(test_vectors_rounding),
		cmocka_unit_test(test_vectors_water),
		cmocka_unit_test(test_vectors_water_retest),
		cmocka_unit_test(test_vectors_electricity),
		cmocka_unit_test(test_vectors_gas),
		cmocka_unit_test(test_own_cases),
		cmocka_unit_test(test_dec_parse),
		cmocka_unit_test(test_dec_exact_arithmetic),
		cmocka_unit_test(test_dec_zero_and_invalid),
		cmocka_unit_test(test_dec_overflow),
		cmocka_unit_test(test_dec_round),
		cmocka_unit_test(test_dec_format),
		cmocka_unit_test(test_names_and_parsers),
		cmocka_unit_test(test_judge_and_limits),
		cmocka_unit_test(test_water_edges),
		cmocka_unit_test(test_repeat_edges),
		cmocka_unit_test(test_electricity_edges),
		cmocka_unit_test(test_start_creep_pulses_edges),
		cmocka_unit_test(test_gas_edges),
		cmocka_unit_test(test_measurement_judge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
