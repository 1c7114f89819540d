/* metroctl_calc.c — `metroctl calc`, the verifier's calculator over lib/metrology/metrology.c.
 *
 * The command forms are fixed by issue 3 so that scripts can rely on them:
 *   round, water, water-retest, electricity, start, creep, pulses, gas.
 * Every number is read as an exact decimal; nothing is guessed: a missing, repeated or
 * unparsable option, a value outside the rule's domain or an option that does not belong to the
 * chosen method exits 2 with a message that names the option.  A computed verdict "fail" exits
 * 1 (a check failed), everything else that computed exits 0.
 *
 * Output: one JSON object on stdout with --json (global or after the form), numbers as JSON
 * numbers; otherwise one readable line.  Exact results are written with up to 15 significant
 * digits (so 0.4 prints as 0.4 and an exact decimal of up to 15 digits prints exactly).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "error.h"
#include "metroctl_calc.h"
#include "metrology.h"

enum {
	O_JSON = 256,
	O_HELP,
	O_INTERVAL,
	O_Q3,
	O_R,
	O_CLASS,
	O_TYPE,
	O_FLOW,
	O_TEMP,
	O_INDICATED,
	O_ACTUAL,
	O_ERROR,
	O_MASS,
	O_DENSITY,
	O_BUOYANCY,
	O_MPE,
	O_CONNECTION,
	O_CURRENT,
	O_PF,
	O_READINGS,
	O_STD_CONST,
	O_METER_CONST,
	O_METER_PULSES,
	O_STD_PULSES,
	O_IB,
	O_IN,
	O_UN,
	O_PHASES,
	O_IMAX,
	O_MIN_SECONDS,
	O_QMAX,
	O_P_ATM,
	O_REF_VOLUME,
	O_REF_P,
	O_REF_T,
	O_METER_VOLUME,
	O_METER_P,
	O_METER_T,
	O_QMIN,
	O_END,
};
#define NOPT (O_END - O_JSON)

static const struct option all_opts[] = {
	{"json", no_argument, NULL, O_JSON},
	{"help", no_argument, NULL, O_HELP},
	{"interval", required_argument, NULL, O_INTERVAL},
	{"q3", required_argument, NULL, O_Q3},
	{"r", required_argument, NULL, O_R},
	{"class", required_argument, NULL, O_CLASS},
	{"type", required_argument, NULL, O_TYPE},
	{"flow", required_argument, NULL, O_FLOW},
	{"temp", required_argument, NULL, O_TEMP},
	{"indicated", required_argument, NULL, O_INDICATED},
	{"actual", required_argument, NULL, O_ACTUAL},
	{"error", required_argument, NULL, O_ERROR},
	{"mass", required_argument, NULL, O_MASS},
	{"density", required_argument, NULL, O_DENSITY},
	{"buoyancy", required_argument, NULL, O_BUOYANCY},
	{"mpe", required_argument, NULL, O_MPE},
	{"connection", required_argument, NULL, O_CONNECTION},
	{"current", required_argument, NULL, O_CURRENT},
	{"pf", required_argument, NULL, O_PF},
	{"readings", required_argument, NULL, O_READINGS},
	{"standard-constant", required_argument, NULL, O_STD_CONST},
	{"meter-constant", required_argument, NULL, O_METER_CONST},
	{"meter-pulses", required_argument, NULL, O_METER_PULSES},
	{"standard-pulses", required_argument, NULL, O_STD_PULSES},
	{"ib", required_argument, NULL, O_IB},
	{"in", required_argument, NULL, O_IN},
	{"un", required_argument, NULL, O_UN},
	{"phases", required_argument, NULL, O_PHASES},
	{"imax", required_argument, NULL, O_IMAX},
	{"min-seconds", required_argument, NULL, O_MIN_SECONDS},
	{"qmax", required_argument, NULL, O_QMAX},
	{"p-atm", required_argument, NULL, O_P_ATM},
	{"ref-volume", required_argument, NULL, O_REF_VOLUME},
	{"ref-p", required_argument, NULL, O_REF_P},
	{"ref-t", required_argument, NULL, O_REF_T},
	{"meter-volume", required_argument, NULL, O_METER_VOLUME},
	{"meter-p", required_argument, NULL, O_METER_P},
	{"meter-t", required_argument, NULL, O_METER_T},
	{"qmin", required_argument, NULL, O_QMIN},
};

/* One invocation of a form: its parsed options and positional arguments. */
struct calc {
	const char *form;
	int json;
	const char *val[NOPT];
	char **pos;
	int npos;
	json_t *out; /* the JSON result being built */
	char text[1024];
	size_t tlen;
};

static const char *optname(int id)
{
	for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
		if (all_opts[i].val == id)
			return all_opts[i].name;
	return "?";
}

static int usage_err(const struct calc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_err(const struct calc *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "metroctl calc %s: ", c->form);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	fputc('\n', stderr);
	return METROCTL_EXIT_USAGE;
}

static int has(const struct calc *c, int id)
{
	return c->val[id - O_JSON] != NULL;
}

static const char *val(const struct calc *c, int id)
{
	return c->val[id - O_JSON];
}

/* ---- help ------------------------------------------------------------------------------ */

static const char help_text[] =
	"usage: metroctl [--json] calc FORM [OPTIONS] [--json]\n"
	"forms:\n"
	"  round --interval I VALUE\n"
	"      round VALUE to a multiple of I, half to even on the exact decimal (GB/T 8170)\n"
	"  water --q3 Q3 --r R --class 1|2 --type TYPE --flow Q --temp T\n"
	"        (--indicated L --actual L | --error PCT | --mass KG [--density KG_PER_L]\n"
	"         [--buoyancy C] --indicated L)\n"
	"      error, MPE, zone and verdict of one water-meter run (judged at full precision);\n"
	"      without --density the density of air-free water at --temp (Tanaka et al. 2001,\n"
	"      0..40 degC), as the metrology module computes it\n"
	"  water-retest --mpe M RUN1 RUN2 RUN3\n"
	"      the retest rule: RUN1 exceeded the MPE; RUN2, RUN3 and the mean must be within\n"
	"  electricity --class 0.2S|0.5S|1|2 --connection direct|ct --current EXPR\n"
	"        --pf 1.0|0.5L|0.8C (--error PCT | --readings A,B[,C,D] |\n"
	"        --standard-constant C0 --meter-constant C --meter-pulses N --standard-pulses M)\n"
	"        [--type TYPE]\n"
	"      EXPR is a multiple of Ib (direct), In (ct) or Imax: 0.1Ib, Ib, 0.5Imax, 0.05In;\n"
	"      the verdict is on the error rounded to the class's interval\n"
	"  start --class C --connection direct|ct (--ib A | --in A) --un V --meter-constant C\n"
	"        --phases 1|3|3w\n"
	"      starting current and the time limit for the first pulse\n"
	"  creep --class C --connection direct|ct --imax A --un V --meter-constant C\n"
	"        --phases 1|3|3w\n"
	"      creep test voltage (115 % Un) and duration\n"
	"  pulses --un V --current A --pf PF --meter-constant C --min-seconds S\n"
	"      meter pulses for a measurement of at least S seconds (single-phase)\n"
	"  gas --class 1.0|1.5 --qmax Q [--qmin Q] --flow Q --type TYPE (--error PCT | --p-atm "
	"KPA\n"
	"        --ref-volume L --ref-p KPA --ref-t C --meter-volume L --meter-p KPA --meter-t C)\n"
	"      bell prover or master meter: reference volume corrected to the meter's\n"
	"      pressure and temperature, error, MPE, verdict (judged at full precision);\n"
	"      with --qmin a flow below the meter's minimum flow is refused\n"
	"TYPE: initial | subsequent | in-service | sampling-new | sampling-in-use\n"
	"Negative values may be given directly (round --interval 0.05 -0.075).\n"
	"exit: 0 computed (verdict pass), 1 verdict fail, 2 bad input or usage\n";

/* ---- argument handling ------------------------------------------------------------------ */

static int is_negative_number(const char *s)
{
	return s[0] == '-' &&
	       ((s[1] >= '0' && s[1] <= '9') || (s[1] == '.' && s[2] >= '0' && s[2] <= '9'));
}

/* Does "--name" (without "=value") name an option, possibly abbreviated, that takes a value? */
static int takes_value(const char *arg)
{
	size_t n = strlen(arg + 2);
	for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
		if (strlen(all_opts[i].name) >= n && !memcmp(all_opts[i].name, arg + 2, n) &&
		    all_opts[i].has_arg)
			return 1;
	return 0;
}

/* The separator reorder() inserts; getopt hands it out as the value of a trailing option that
 * lacks one ("--q3" at the end), which parse_args() reports as a missing value. */
static char dashdash[] = "--";

/* getopt would read a negative number such as "-0.075" as a cluster of short options.  Build
 * an argument vector with the options (and their values) first, then "--", then the
 * positional arguments, so that negative positional numbers need no "--" from the user. */
static char **reorder(int argc, char **argv, int *out_argc)
{
	char **opts = calloc((size_t)argc + 2, sizeof *opts);
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	if (!opts || !pos)
		abort();
	int no = 0, np = 0, i;
	opts[no++] = argv[0];
	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strncmp(a, "--", 2)) {
			opts[no++] = a;
			if (!strchr(a, '=') && takes_value(a) && i + 1 < argc)
				opts[no++] = argv[++i];
		} else if (a[0] == '-' && a[1] && !is_negative_number(a)) {
			opts[no++] = a;
		} else {
			pos[np++] = a;
		}
	}
	for (; i < argc; i++)
		pos[np++] = argv[i];
	opts[no++] = dashdash;
	memcpy(opts + no, pos, (size_t)np * sizeof *pos);
	free(pos);
	*out_argc = no + np;
	return opts;
}

/* Parse the options of a form.  allowed: the option ids the form takes, 0-terminated.
 * Returns 0 (c->val, c->pos filled; *help set for --help) or METROCTL_EXIT_USAGE. */
static int parse_args(struct calc *c, int argc, char **argv, const int *allowed, int *help)
{
	struct option lo[NOPT + 1];
	int n = 0;
	lo[n++] = all_opts[0];
	lo[n++] = all_opts[1];
	for (const int *a = allowed; *a; a++)
		lo[n++] = all_opts[*a - O_JSON];
	memset(&lo[n], 0, sizeof lo[n]);

	int nargc;
	char **nargv = reorder(argc, argv, &nargc);
	int rc = 0, ch;
	opterr = 0;
	optind = 0; /* full reinitialisation: the vector is a new one */
	while ((ch = getopt_long(nargc, nargv, ":", lo, NULL)) != -1) {
		if (ch == O_HELP) {
			*help = 1;
		} else if (ch == O_JSON) {
			c->json = 1;
		} else if (ch == ':') {
			rc = usage_err(c, "option %s needs a value", nargv[optind - 1]);
			break;
		} else if (ch == '?') {
			rc = usage_err(c, "unknown option '%s' (metroctl calc --help)",
				       nargv[optind - 1]);
			break;
		} else if (optarg == dashdash) {
			rc = usage_err(c, "option --%s needs a value", optname(ch));
			break;
		} else if (c->val[ch - O_JSON]) {
			rc = usage_err(c, "--%s given twice", optname(ch));
			break;
		} else {
			c->val[ch - O_JSON] = optarg;
		}
	}
	if (!rc) {
		c->npos = nargc - optind;
		c->pos = calloc((size_t)c->npos + 1, sizeof *c->pos);
		if (!c->pos)
			abort();
		memcpy(c->pos, nargv + optind, (size_t)c->npos * sizeof *c->pos);
	}
	free(nargv);
	return rc;
}

/* A required decimal option, parsed exactly. */
static int dec_opt(const struct calc *c, int id, struct metro_dec *out)
{
	const char *s = val(c, id);
	*out = metro_dec_invalid();
	if (!s)
		return usage_err(c, "--%s is missing", optname(id));
	int err = metro_dec_parse(s, out);
	if (err == METRO_E_RANGE)
		return usage_err(c, "--%s: '%s' has too many digits", optname(id), s);
	if (err)
		return usage_err(c, "--%s: '%s' is not a decimal number", optname(id), s);
	return 0;
}

/* The same with a sign requirement: 1 positive, 0 not negative. */
static int dec_opt_sign(const struct calc *c, int id, int positive, struct metro_dec *out)
{
	int rc = dec_opt(c, id, out);
	if (rc)
		return rc;
	if (metro_dec_sign(*out) < positive)
		return usage_err(c, "--%s: %s must be %s", optname(id), val(c, id),
				 positive ? "positive" : "zero or more");
	return 0;
}

static int need_opt(const struct calc *c, int id)
{
	return has(c, id) ? 0 : usage_err(c, "--%s is missing", optname(id));
}

/* Refuse options that do not belong to the method chosen ("--actual cannot be combined with
 * --error").  ids: 0-terminated. */
static int refuse(const struct calc *c, int chosen, const int *ids)
{
	for (const int *i = ids; *i; i++)
		if (has(c, *i))
			return usage_err(c, "--%s cannot be combined with --%s", optname(*i),
					 optname(chosen));
	return 0;
}

static int enum_opt(const struct calc *c, int id, int (*parse)(const char *, void *),
		    const char *choices, void *out)
{
	if (!has(c, id))
		return usage_err(c, "--%s is missing", optname(id));
	if (parse(val(c, id), out))
		return usage_err(c, "--%s: '%s' is not one of %s", optname(id), val(c, id),
				 choices);
	return 0;
}

/* Adapters: the parsers take typed enum pointers. */
#define ADAPT(name, fn, type)                     \
	static int name(const char *s, void *out) \
	{                                         \
		return fn(s, (type *)out);        \
	}
ADAPT(p_wclass, metro_mx_parse_wclass, enum metro_mx_wclass)
ADAPT(p_eclass, metro_mx_parse_eclass, enum metro_mx_eclass)
ADAPT(p_gclass, metro_mx_parse_gclass, enum metro_mx_gclass)
ADAPT(p_conn, metro_mx_parse_connection, enum metro_mx_connection)
ADAPT(p_pf, metro_mx_parse_pf, enum metro_mx_pf)
ADAPT(p_phases, metro_mx_parse_phases, enum metro_mx_phases)

static int type_opt(const struct calc *c, struct metro_mx_limits *l)
{
	enum metro_mx_vtype t = METRO_MX_INITIAL;
	memset(l, 0, sizeof *l);
	if (!has(c, O_TYPE))
		return usage_err(c, "--type is missing");
	if (metro_mx_parse_vtype(val(c, O_TYPE), &t))
		return usage_err(c,
				 "--type: '%s' is not one of initial, subsequent, in-service, "
				 "sampling-new, sampling-in-use",
				 val(c, O_TYPE));
	if (t == METRO_MX_COMPLAINT)
		return usage_err(c,
				 "--type complaint: which limits apply is a procedure parameter; "
				 "give the type whose limits apply (initial or in-service)");
	l->type = t;
	return 0;
}

/* Report a refusal of the metrology module, naming the option behind the input. */
static int module_err(const struct calc *c, const struct metro_mx_bad *b, int err)
{
	const char *in = b->input ? b->input : "?";
	if (!strcmp(in, "runs"))
		return usage_err(c, "RUN: %s (%s)", b->reason, metro_strerror(err));
	for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
		if (!strcmp(all_opts[i].name, in) && has(c, all_opts[i].val))
			return usage_err(c, "--%s %s: %s", in, val(c, all_opts[i].val),
					 b->reason ? b->reason : metro_strerror(err));
	return usage_err(c, "--%s: %s", in, b->reason ? b->reason : metro_strerror(err));
}

/* ---- output ----------------------------------------------------------------------------- */

/* For the readable line: the exact value when it has a decimal expansion of at most 38
 * significant digits, else 15 significant digits (a third, a computed error). */
static const char *fmt(struct metro_dec v, char *buf, size_t size)
{
	struct metro_dec back;
	if (metro_dec_format_sig(v, METRO_DEC_MAX_DIGITS, buf, size) == 0 &&
	    metro_dec_parse(buf, &back) == 0 && metro_dec_cmp(back, v) == 0)
		return buf;
	if (metro_dec_format_sig(v, 15, buf, size))
		snprintf(buf, size, "?");
	return buf;
}

/* For JSON: at most 15 significant digits, so that the double jansson writes with %.15g gives
 * the same digits back (0.4 stays 0.4); exact for every decimal of up to 15 digits. */
static void put_dec(struct calc *c, const char *key, struct metro_dec v)
{
	char buf[96];
	if (metro_dec_format_sig(v, 15, buf, sizeof buf))
		snprintf(buf, sizeof buf, "nan");
	json_object_set_new(c->out, key, json_real(strtod(buf, NULL)));
}

/* v written with as many decimal places as the interval has ("-1.0" for interval 0.1). */
static const char *fmt_places(struct metro_dec v, struct metro_dec interval, char *buf, size_t size)
{
	int places = 0;
	struct metro_dec x = interval;
	while (places < METRO_DEC_MAX_PLACES && !metro_dec_is_int(x)) {
		x = metro_dec_mul(x, metro_dec_e(10, 0));
		places++;
	}
	if (metro_dec_format(v, places, buf, size))
		return fmt(v, buf, size);
	return buf;
}

static void put_real(struct calc *c, const char *key, double v)
{
	json_object_set_new(c->out, key, json_real(v));
}

static void put_str(struct calc *c, const char *key, const char *s)
{
	json_object_set_new(c->out, key, json_string(s));
}

static void put_bool(struct calc *c, const char *key, int v)
{
	json_object_set_new(c->out, key, json_boolean(v));
}

static void say(struct calc *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void say(struct calc *c, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *at = c->text + c->tlen;
	size_t room = sizeof c->text - c->tlen;
	int n = vsnprintf(at, room, f, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (n > 0)
		c->tlen += (size_t)n < sizeof c->text - c->tlen ? (size_t)n
								: sizeof c->text - c->tlen - 1;
}

/* A signed percentage for text: "+1.2", "-3.8", "0"; with the places of interval when given
 * (not zero). */
static const char *pct_places(struct metro_dec v, struct metro_dec interval, char *buf, size_t size)
{
	char t[96];
	if (metro_dec_sign(interval) > 0)
		fmt_places(v, interval, t, sizeof t);
	else
		fmt(v, t, sizeof t);
	snprintf(buf, size, "%s%s", metro_dec_sign(v) > 0 && strcmp(t, "0") != 0 ? "+" : "", t);
	return buf;
}

static const char *pct(struct metro_dec v, char *buf, size_t size)
{
	return pct_places(v, metro_dec_e(0, 0), buf, size);
}

static void put_mpe_text(struct calc *c, const struct metro_mx_judgement *j, const char *zone)
{
	char a[96], b[96], r[96];
	if (j->rule == METRO_MX_RULE_ROUNDED)
		say(c, "error %s %%, rounded to %s: %s %%, ", pct(j->value, a, sizeof a),
		    fmt(j->interval, b, sizeof b),
		    pct_places(j->rounded, j->interval, r, sizeof r));
	else
		say(c, "error %s %%, ", pct(j->value, a, sizeof a));
	say(c, "MPE ±%s %%", fmt(j->mpe, b, sizeof b));
	if (zone)
		say(c, " (%s zone)", zone);
	say(c, ", judged %s: %s",
	    j->rule == METRO_MX_RULE_ROUNDED ? "on the rounded value" : "at full precision",
	    metro_mx_verdict_name(j->verdict));
}

static void put_judgement(struct calc *c, const struct metro_mx_judgement *j)
{
	put_dec(c, "error", j->value);
	if (j->rule == METRO_MX_RULE_ROUNDED) {
		put_dec(c, "rounded", j->rounded);
		put_dec(c, "interval", j->interval);
	}
	put_dec(c, "mpe", j->mpe);
	put_str(c, "rule", metro_mx_rule_name(j->rule));
	put_str(c, "verdict", metro_mx_verdict_name(j->verdict));
}

/* ---- the forms -------------------------------------------------------------------------- */

static int calc_round(struct calc *c)
{
	struct metro_dec value, interval, rounded;
	char a[96], b[96], r[96];
	int rc;
	if ((rc = dec_opt_sign(c, O_INTERVAL, 1, &interval)))
		return rc;
	if (c->npos != 1)
		return usage_err(c, "give exactly one VALUE (got %d)", c->npos);
	int err = metro_dec_parse(c->pos[0], &value);
	if (err)
		return usage_err(c, "VALUE: '%s' is not a decimal number%s", c->pos[0],
				 err == METRO_E_RANGE ? " with at most 38 digits" : "");
	if (metro_mx_round(value, interval, &rounded))
		return usage_err(c, "VALUE: %s is out of reach of exact rounding", c->pos[0]);
	put_dec(c, "value", value);
	put_dec(c, "interval", interval);
	put_dec(c, "rounded", rounded);
	say(c, "%s rounded to a multiple of %s (half to even): %s", fmt(value, a, sizeof a),
	    fmt(interval, b, sizeof b), fmt_places(rounded, interval, r, sizeof r));
	return 0;
}

static int calc_water(struct calc *c)
{
	struct metro_mx_water_input in;
	struct metro_mx_water_result res;
	int rc;
	memset(&in, 0, sizeof in);
	if ((rc = dec_opt_sign(c, O_Q3, 1, &in.meter.q3)) ||
	    (rc = dec_opt_sign(c, O_R, 1, &in.meter.r)) ||
	    (rc = enum_opt(c, O_CLASS, p_wclass, "1, 2", &in.meter.cls)) ||
	    (rc = type_opt(c, &in.limits)) || (rc = dec_opt_sign(c, O_FLOW, 1, &in.flow)) ||
	    (rc = dec_opt(c, O_TEMP, &in.temp_c)))
		return rc;
	static const int not_with_error[] = {O_INDICATED, O_ACTUAL,   O_MASS,
					     O_DENSITY,	  O_BUOYANCY, 0};
	static const int not_with_mass[] = {O_ACTUAL, 0};
	static const int not_with_actual[] = {O_DENSITY, O_BUOYANCY, 0};
	if (has(c, O_ERROR)) {
		in.method = METRO_MX_WATER_GIVEN;
		if ((rc = refuse(c, O_ERROR, not_with_error)) ||
		    (rc = dec_opt(c, O_ERROR, &in.error)))
			return rc;
	} else if (has(c, O_MASS)) {
		in.method = METRO_MX_WATER_GRAVIMETRIC;
		if ((rc = refuse(c, O_MASS, not_with_mass)) ||
		    (rc = dec_opt_sign(c, O_MASS, 1, &in.mass_kg)) ||
		    (has(c, O_DENSITY) && (rc = dec_opt_sign(c, O_DENSITY, 1, &in.density_kg_l))) ||
		    (rc = dec_opt_sign(c, O_INDICATED, 0, &in.indicated_l)))
			return rc;
		if (has(c, O_BUOYANCY) && (rc = dec_opt_sign(c, O_BUOYANCY, 1, &in.buoyancy)))
			return rc;
	} else if (has(c, O_ACTUAL) || has(c, O_INDICATED)) {
		in.method = METRO_MX_WATER_VOLUMETRIC;
		if ((rc = refuse(c, O_ACTUAL, not_with_actual)) ||
		    (rc = dec_opt_sign(c, O_INDICATED, 0, &in.indicated_l)) ||
		    (rc = dec_opt_sign(c, O_ACTUAL, 1, &in.actual_l)))
			return rc;
	} else {
		return usage_err(c, "give --indicated and --actual, or --error, or --mass and "
				    "--indicated (and --density, else water's at --temp)");
	}
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_water_check(&in, &res);
	if (err && in.method == METRO_MX_WATER_GRAVIMETRIC && !has(c, O_DENSITY) && res.bad.input &&
	    !strcmp(res.bad.input, "temp"))
		return usage_err(c, "--temp %s: %s; give --density", val(c, O_TEMP),
				 res.bad.reason ? res.bad.reason : metro_strerror(err));
	if (err)
		return module_err(c, &res.bad, err);
	const char *zone = metro_mx_zone_name(res.point.mpe.zone);
	put_judgement(c, &res.judgement);
	put_str(c, "zone", zone);
	put_dec(c, "q1", res.point.q1);
	put_dec(c, "q2", res.point.q2);
	put_dec(c, "q4", res.point.q4);
	put_str(c, "type", metro_mx_vtype_name(in.limits.type));
	if (in.method == METRO_MX_WATER_GRAVIMETRIC) {
		put_dec(c, "actual_l", res.actual_l);
		put_dec(c, "density_kg_l", res.density_kg_l);
		put_str(c, "density_source", has(c, O_DENSITY) ? "given" : "water-formula");
		put_dec(c, "buoyancy", res.buoyancy);
	}
	put_mpe_text(c, &res.judgement, zone);
	if (in.method == METRO_MX_WATER_GRAVIMETRIC) {
		char a[96], b[96];
		say(c, "; reference volume %s L", fmt(res.actual_l, a, sizeof a));
		if (!has(c, O_DENSITY))
			say(c, " (water density %s kg/L at %s degC, Tanaka 2001)",
			    fmt(res.density_kg_l, a, sizeof a), fmt(in.temp_c, b, sizeof b));
	}
	return res.judgement.verdict == METRO_MX_PASS ? 0 : METROCTL_EXIT_FAIL;
}

static int calc_water_retest(struct calc *c)
{
	struct metro_dec mpe, runs[3];
	struct metro_mx_repeat rep;
	char a[96], b[96];
	int rc;
	if ((rc = dec_opt_sign(c, O_MPE, 1, &mpe)))
		return rc;
	if (c->npos != 3)
		return usage_err(c, "give exactly three runs RUN1 RUN2 RUN3 (got %d)", c->npos);
	json_t *arr = json_array();
	for (int i = 0; i < 3; i++) {
		if (metro_dec_parse(c->pos[i], &runs[i])) {
			json_decref(arr);
			return usage_err(c, "RUN%d: '%s' is not a decimal number", i + 1,
					 c->pos[i]);
		}
		json_array_append_new(arr, json_real(strtod(fmt(runs[i], a, sizeof a), NULL)));
	}
	int err = metro_mx_water_repeat(runs, 3, mpe, &rep);
	if (err) {
		json_decref(arr);
		return module_err(c, &rep.bad, err);
	}
	json_object_set_new(c->out, "runs", arr);
	put_dec(c, "mpe", mpe);
	put_dec(c, "mean", rep.mean);
	put_str(c, "rule", metro_mx_rule_name(METRO_MX_RULE_FULL));
	put_str(c, "verdict", metro_mx_verdict_name(rep.verdict));
	say(c, "mean of three %s %%, MPE ±%s %%: extra runs and mean within the MPE: %s",
	    pct(rep.mean, a, sizeof a), fmt(mpe, b, sizeof b), metro_mx_verdict_name(rep.verdict));
	return rep.verdict == METRO_MX_PASS ? 0 : METROCTL_EXIT_FAIL;
}

/* "A,B[,C,D]": two readings, or four when the first two's mean asked for two more. */
static int parse_readings(const struct calc *c, struct metro_mx_elec_input *in)
{
	const char *s = val(c, O_READINGS);
	size_t n = 0;
	while (1) {
		size_t len = strcspn(s, ",");
		if (n == 4)
			return usage_err(c, "--readings: at most four readings");
		if (metro_dec_parsen(s, len, &in->readings[n]))
			return usage_err(c, "--readings: '%.*s' is not a decimal number", (int)len,
					 s);
		n++;
		if (!s[len])
			break;
		s += len + 1;
	}
	if (n != 2 && n != 4)
		return usage_err(c, "--readings: give two readings A,B, or four A,B,C,D when the "
				    "mean of the first two lies within 80..120 %% of the MPE");
	in->nreadings = n;
	in->nextra = n - 2;
	return 0;
}

static int calc_electricity(struct calc *c)
{
	struct metro_mx_elec_input in;
	struct metro_mx_elec_result res;
	char a[96], b[96];
	int rc;
	memset(&in, 0, sizeof in);
	if ((rc = enum_opt(c, O_CLASS, p_eclass, "0.2S, 0.5S, 1, 2", &in.meter.cls)) ||
	    (rc = enum_opt(c, O_CONNECTION, p_conn, "direct, ct", &in.meter.conn)) ||
	    (rc = need_opt(c, O_CURRENT)))
		return rc;
	if (metro_mx_parse_current(val(c, O_CURRENT), &in.current))
		return usage_err(c, "--current: '%s' is not like 0.1Ib, Ib, 0.5Imax or 0.05In",
				 val(c, O_CURRENT));
	if ((rc = enum_opt(c, O_PF, p_pf, "1.0, 0.5L, 0.8C", &in.pf)))
		return rc;
	if (has(c, O_TYPE)) {
		if ((rc = type_opt(c, &in.limits)))
			return rc;
	}
	static const int pulse_opts[] = {O_STD_CONST, O_METER_CONST, O_METER_PULSES, O_STD_PULSES,
					 0};
	static const int not_with_error[] = {O_READINGS,     O_STD_CONST,  O_METER_CONST,
					     O_METER_PULSES, O_STD_PULSES, 0};
	int any_pulse = 0;
	for (const int *p = pulse_opts; *p; p++)
		any_pulse |= has(c, *p);
	if (has(c, O_ERROR)) {
		in.method = METRO_MX_ELEC_GIVEN;
		if ((rc = refuse(c, O_ERROR, not_with_error)) ||
		    (rc = dec_opt(c, O_ERROR, &in.error)))
			return rc;
	} else if (has(c, O_READINGS)) {
		in.method = METRO_MX_ELEC_READINGS;
		if ((rc = refuse(c, O_READINGS, pulse_opts)) || (rc = parse_readings(c, &in)))
			return rc;
	} else if (any_pulse) {
		in.method = METRO_MX_ELEC_PULSES;
		if ((rc = dec_opt_sign(c, O_STD_CONST, 1, &in.pulses.c0)) ||
		    (rc = dec_opt_sign(c, O_METER_CONST, 1, &in.pulses.c)) ||
		    (rc = dec_opt_sign(c, O_METER_PULSES, 1, &in.pulses.n)) ||
		    (rc = dec_opt_sign(c, O_STD_PULSES, 1, &in.pulses.m)))
			return rc;
	} else {
		return usage_err(c, "give --error, or --readings, or --standard-constant, "
				    "--meter-constant, --meter-pulses and --standard-pulses");
	}
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_elec_check(&in, &res);
	if (err)
		return module_err(c, &res.bad, err);
	const char *zone = metro_mx_zone_name(res.point.mpe.zone);
	if (in.method == METRO_MX_ELEC_READINGS) {
		put_bool(c, "needs_extra", res.repeat.band);
		put_dec(c, "mean", res.repeat.mean);
	}
	if (in.method == METRO_MX_ELEC_PULSES)
		put_dec(c, "computed_pulses", res.computed_pulses);
	if (!res.complete) {
		put_dec(c, "interval", res.point.interval);
		put_dec(c, "mpe", res.point.mpe.mpe);
		put_str(c, "zone", zone);
		say(c,
		    "mean of the first readings %s %% lies within 80..120 %% of the MPE ±%s %%: "
		    "take two more readings",
		    pct(res.repeat.mean, a, sizeof a), fmt(res.point.mpe.mpe, b, sizeof b));
		return 0;
	}
	put_judgement(c, &res.judgement);
	put_str(c, "zone", zone);
	if (in.method == METRO_MX_ELEC_PULSES)
		say(c, "computed standard pulses %s, ", fmt(res.computed_pulses, a, sizeof a));
	if (in.method == METRO_MX_ELEC_READINGS)
		say(c, "mean of %zu readings, ", res.repeat.n);
	put_mpe_text(c, &res.judgement, zone);
	return res.judgement.verdict == METRO_MX_PASS ? 0 : METROCTL_EXIT_FAIL;
}

static int calc_start(struct calc *c)
{
	struct metro_mx_start_input in;
	struct metro_mx_start_result res;
	char a[96];
	int rc;
	memset(&in, 0, sizeof in);
	if ((rc = enum_opt(c, O_CLASS, p_eclass, "0.2S, 0.5S, 1, 2", &in.cls)) ||
	    (rc = enum_opt(c, O_CONNECTION, p_conn, "direct, ct", &in.conn)))
		return rc;
	int id = in.conn == METRO_MX_DIRECT ? O_IB : O_IN;
	int other = in.conn == METRO_MX_DIRECT ? O_IN : O_IB;
	if (has(c, other))
		return usage_err(c, "--%s: %s meters are rated by %s; give --%s", optname(other),
				 metro_mx_connection_name(in.conn),
				 in.conn == METRO_MX_DIRECT ? "Ib" : "In", optname(id));
	if ((rc = dec_opt_sign(c, id, 1, &in.rated_a)) ||
	    (rc = dec_opt_sign(c, O_UN, 1, &in.un_v)) ||
	    (rc = dec_opt_sign(c, O_METER_CONST, 1, &in.meter_constant)) ||
	    (rc = enum_opt(c, O_PHASES, p_phases, "1, 3, 3w", &in.phases)))
		return rc;
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_start(&in, &res);
	if (err) {
		if (res.bad.input && !strcmp(res.bad.input, "rated"))
			res.bad.input = optname(id);
		return module_err(c, &res.bad, err);
	}
	put_dec(c, "start_current", res.current_a);
	put_real(c, "start_time_min", res.time_min);
	put_dec(c, "start_factor", res.factor);
	put_real(c, "m", res.m);
	say(c, "starting current %s A (%s %s), at least one pulse within %.3f min",
	    fmt(res.current_a, a, sizeof a), val(c, id),
	    in.conn == METRO_MX_DIRECT ? "A Ib" : "A In", res.time_min);
	return 0;
}

static int calc_creep(struct calc *c)
{
	struct metro_mx_creep_input in;
	struct metro_mx_creep_result res;
	char a[96];
	int rc;
	memset(&in, 0, sizeof in);
	if ((rc = enum_opt(c, O_CLASS, p_eclass, "0.2S, 0.5S, 1, 2", &in.cls)) ||
	    (rc = enum_opt(c, O_CONNECTION, p_conn, "direct, ct", &in.conn)) ||
	    (rc = dec_opt_sign(c, O_IMAX, 1, &in.imax_a)) ||
	    (rc = dec_opt_sign(c, O_UN, 1, &in.un_v)) ||
	    (rc = dec_opt_sign(c, O_METER_CONST, 1, &in.meter_constant)) ||
	    (rc = enum_opt(c, O_PHASES, p_phases, "1, 3, 3w", &in.phases)))
		return rc;
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_creep(&in, &res);
	if (err)
		return module_err(c, &res.bad, err);
	put_dec(c, "creep_voltage", res.voltage_v);
	put_real(c, "creep_time_min", res.time_min);
	put_dec(c, "k", res.k);
	put_real(c, "m", res.m);
	say(c, "creep test at %s V (115 %% Un) for %.3f min", fmt(res.voltage_v, a, sizeof a),
	    res.time_min);
	return 0;
}

static int calc_pulses(struct calc *c)
{
	struct metro_mx_pulses_input in;
	struct metro_mx_pulses_result res;
	int rc;
	memset(&in, 0, sizeof in);
	in.phases = METRO_MX_PHASES_1;
	if ((rc = dec_opt_sign(c, O_UN, 1, &in.un_v)) ||
	    (rc = dec_opt_sign(c, O_CURRENT, 1, &in.current_a)) ||
	    (rc = enum_opt(c, O_PF, p_pf, "1.0, 0.5L, 0.8C", &in.pf)) ||
	    (rc = dec_opt_sign(c, O_METER_CONST, 1, &in.meter_constant)) ||
	    (rc = dec_opt_sign(c, O_MIN_SECONDS, 1, &in.min_seconds)))
		return rc;
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_pulses_needed(&in, &res);
	if (err)
		return module_err(c, &res.bad, err);
	json_object_set_new(c->out, "meter_pulses", json_integer(res.pulses));
	put_real(c, "power_w", res.power_w);
	put_real(c, "pulse_period_s", res.period_s);
	say(c, "%lld meter pulses (one every %.3f s at %.1f W)", res.pulses, res.period_s,
	    res.power_w);
	return 0;
}

static int calc_gas(struct calc *c)
{
	struct metro_mx_gas_input in;
	struct metro_mx_gas_result res;
	char a[96], b[96];
	int rc;
	memset(&in, 0, sizeof in);
	if ((rc = enum_opt(c, O_CLASS, p_gclass, "1.0, 1.5", &in.cls)) ||
	    (rc = dec_opt_sign(c, O_QMAX, 1, &in.qmax)) ||
	    (rc = dec_opt_sign(c, O_FLOW, 1, &in.flow)) || (rc = type_opt(c, &in.limits)))
		return rc;
	/* qmin stays 0 (unknown: not checked by the module) unless given */
	if (has(c, O_QMIN) && (rc = dec_opt_sign(c, O_QMIN, 1, &in.qmin)))
		return rc;
	static const int ref_opts[] = {O_P_ATM,	       O_REF_VOLUME, O_REF_P,	O_REF_T,
				       O_METER_VOLUME, O_METER_P,    O_METER_T, 0};
	if (has(c, O_ERROR)) {
		in.method = METRO_MX_GAS_GIVEN;
		if ((rc = refuse(c, O_ERROR, ref_opts)) || (rc = dec_opt(c, O_ERROR, &in.error)))
			return rc;
	} else {
		in.method = METRO_MX_GAS_BELL;
		if ((rc = dec_opt_sign(c, O_P_ATM, 1, &in.ref.p_atm_kpa)) ||
		    (rc = dec_opt_sign(c, O_REF_VOLUME, 1, &in.ref.ref_volume_l)) ||
		    (rc = dec_opt(c, O_REF_P, &in.ref.ref_p_kpa)) ||
		    (rc = dec_opt(c, O_REF_T, &in.ref.ref_t_c)) ||
		    (rc = dec_opt_sign(c, O_METER_VOLUME, 0, &in.ref.meter_volume_l)) ||
		    (rc = dec_opt(c, O_METER_P, &in.ref.meter_p_kpa)) ||
		    (rc = dec_opt(c, O_METER_T, &in.ref.meter_t_c)))
			return rc;
	}
	if (c->npos)
		return usage_err(c, "unexpected argument '%s'", c->pos[0]);
	int err = metro_mx_gas_check(&in, &res);
	/* The module refuses a flow below qmin; say which minimum it was measured against. */
	if (err && res.bad.input && !strcmp(res.bad.input, "flow") && has(c, O_QMIN) &&
	    metro_dec_cmp(in.flow, in.qmin) < 0)
		return usage_err(c, "--flow %s: below the meter's minimum flow --qmin %s m3/h",
				 val(c, O_FLOW), val(c, O_QMIN));
	if (err)
		return module_err(c, &res.bad, err);
	const char *zone = metro_mx_zone_name(res.point.mpe.zone);
	if (in.method != METRO_MX_GAS_GIVEN) {
		put_dec(c, "reference_l", res.ref.reference_l);
		put_dec(c, "pressure_factor", res.ref.pressure_factor);
		put_dec(c, "temperature_factor", res.ref.temperature_factor);
		say(c, "reference %s L at meter conditions (pressure factor %s, ",
		    fmt(res.ref.reference_l, a, sizeof a),
		    fmt(res.ref.pressure_factor, b, sizeof b));
		say(c, "temperature factor %s), ", fmt(res.ref.temperature_factor, a, sizeof a));
	}
	put_judgement(c, &res.judgement);
	put_str(c, "zone", zone);
	put_dec(c, "qt", res.point.qt);
	if (has(c, O_QMIN))
		put_dec(c, "qmin", in.qmin);
	put_str(c, "type", metro_mx_vtype_name(in.limits.type));
	put_mpe_text(c, &res.judgement, zone);
	return res.judgement.verdict == METRO_MX_PASS ? 0 : METROCTL_EXIT_FAIL;
}

/* ---- dispatch --------------------------------------------------------------------------- */

struct form {
	const char *name;
	int (*run)(struct calc *c);
	int opts[24];
};

static const struct form forms[] = {
	{"round", calc_round, {O_INTERVAL, 0}},
	{"water",
	 calc_water,
	 {O_Q3, O_R, O_CLASS, O_TYPE, O_FLOW, O_TEMP, O_INDICATED, O_ACTUAL, O_ERROR, O_MASS,
	  O_DENSITY, O_BUOYANCY, 0}},
	{"water-retest", calc_water_retest, {O_MPE, 0}},
	{"electricity",
	 calc_electricity,
	 {O_CLASS, O_CONNECTION, O_CURRENT, O_PF, O_ERROR, O_READINGS, O_STD_CONST, O_METER_CONST,
	  O_METER_PULSES, O_STD_PULSES, O_TYPE, 0}},
	{"start",
	 calc_start,
	 {O_CLASS, O_CONNECTION, O_IB, O_IN, O_UN, O_METER_CONST, O_PHASES, 0}},
	{"creep", calc_creep, {O_CLASS, O_CONNECTION, O_IMAX, O_UN, O_METER_CONST, O_PHASES, 0}},
	{"pulses", calc_pulses, {O_UN, O_CURRENT, O_PF, O_METER_CONST, O_MIN_SECONDS, 0}},
	{"gas",
	 calc_gas,
	 {O_CLASS, O_QMAX, O_QMIN, O_FLOW, O_TYPE, O_ERROR, O_P_ATM, O_REF_VOLUME, O_REF_P, O_REF_T,
	  O_METER_VOLUME, O_METER_P, O_METER_T, 0}},
};

int metroctl_calc(int argc, char **argv, const struct metroctl_opts *o)
{
	if (argc < 2) {
		fputs(help_text, stderr);
		return METROCTL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(help_text, stdout);
		return METROCTL_EXIT_OK;
	}
	const struct form *f = NULL;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
		if (!strcmp(argv[1], forms[i].name))
			f = &forms[i];
	if (!f) {
		fprintf(stderr, "metroctl calc: unknown form '%s'\n", argv[1]);
		fputs(help_text, stderr);
		return METROCTL_EXIT_USAGE;
	}
	struct calc c;
	memset(&c, 0, sizeof c);
	c.form = f->name;
	c.json = o->json;
	int help = 0;
	int rc = parse_args(&c, argc - 1, argv + 1, f->opts, &help);
	if (rc)
		return rc;
	if (help) {
		fputs(help_text, stdout);
		free(c.pos);
		return METROCTL_EXIT_OK;
	}
	c.out = json_object();
	rc = f->run(&c);
	if (rc == METROCTL_EXIT_OK || rc == METROCTL_EXIT_FAIL) {
		if (c.json) {
			char *t = json_dumps(c.out, JSON_COMPACT | JSON_REAL_PRECISION(15));
			puts(t);
			free(t);
		} else {
			puts(c.text);
		}
	}
	json_decref(c.out);
	free(c.pos);
	return rc;
}
