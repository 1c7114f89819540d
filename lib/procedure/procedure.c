#include "procedure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kinds.h"
#include "sha256.h"
#include "util.h"
#include "yfile.h"

static const char *const meters[] = {"water", "electricity", "gas"};
static const char *const verifications[] = {"initial",	       "subsequent",	     "in-service",
					    "supervision-new", "supervision-in-use", "complaint",
					    "commissioning"};
static const char *const limit_sets[] = {"verification", "in-service"};
static const char *const item_kinds[] = {"judgement",	   "flow-point",  "load-point",
					 "start-test",	   "creep-test",  "constant-test",
					 "position-check", "measurement", "timing-test"};
static const char *const formulas[] = {"none", "volumetric",   "gravimetric",
				       "bell", "master-meter", "pulse"};
static const char *const repeats[] = {"single", "water-retest", "electricity-mean"};
static const char *const pfs[] = {"1.0", "0.5L", "0.8C"};

/* Parameters a procedure may set, with their ranges.  A closed list: a misspelt parameter
 * must be an error, not a silently ignored line that leaves the default in force. */
static const struct {
	const char *name;
	const char *min, *max;
} known_params[] = {
	{"mpe_factor", "0.1", "1"},
	{"uncertainty_ratio", "0.01", "1"},
	{"prompt_timeout_s", "1", "86400"},
	{"frequency_hz", "45", "65"},
	{"due_warning_days", "0", "3650"},
	{"plausibility_factor", "0", "1000"},
	{"plausibility_reference_pct", "0", "100"},
};

int metro_procedure_is_commissioning(const struct metro_procedure *p)
{
	return p->verification && !strcmp(p->verification, "commissioning");
}

const char *metro_item_kind_name(enum metro_item_kind k)
{
	return (unsigned)k < METRO_ARRAY_SIZE(item_kinds) ? item_kinds[k] : "?";
}

struct loader {
	struct metro_yfile *f;
	struct metro_procedure *p;
};

static int is_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* An exact number from a scalar, within [min, max] given as decimal text. */
static int number(struct loader *L, yaml_node_t *n, const char *name, const char *min,
		  const char *max, struct metro_dec *out)
{
	char *text = NULL;
	if (metro_y_number_text(L->f, n, name, &text))
		return METRO_E_INVAL;
	struct metro_dec v, lo, hi;
	int rc = metro_dec_parse(text, &v);
	if (rc) {
		metro_y_error(L->f, n, "%s: %s has too many digits", name, text);
		free(text);
		return METRO_E_INVAL;
	}
	metro_dec_parse(min, &lo);
	metro_dec_parse(max, &hi);
	if (metro_dec_cmp(v, lo) < 0 || metro_dec_cmp(v, hi) > 0) {
		metro_y_error(L->f, n, "%s: %s is out of range [%s, %s]", name, text, min, max);
		free(text);
		return METRO_E_INVAL;
	}
	free(text);
	*out = v;
	return METRO_OK;
}

/* Compile an expression scalar; errors point at the character within the scalar. */
static void expression(struct loader *L, yaml_node_t *n, const char *name, struct metro_expr **out)
{
	if (!n)
		return;
	char *src = NULL;
	/* A plain number is a valid expression too, so accept numbers and text alike. */
	if (n->type != YAML_SCALAR_NODE || metro_y_is_null(n)) {
		metro_y_error(L->f, n, "%s: expected an expression", name);
		return;
	}
	src = metro_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
	unsigned col;
	char err[300];
	if (metro_expr_compile(src, L->p->names, L->p->nnames, out, &col, err, sizeof err)) {
		int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			     n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		metro_diag_add(L->f->diag, L->f->name, metro_y_line(n),
			       metro_y_col(n) + (unsigned)quoted + col - 1, "%s: %s", name, err);
	}
	free(src);
}

/* A parameter: a number or a constant expression ("1 / 3": the ratio the regulation states,
 * exactly, rather than a rounded 0.333). */
static int constant(struct loader *L, yaml_node_t *n, const char *name, const char *min,
		    const char *max, struct metro_dec *out)
{
	struct metro_expr *e = NULL;
	const char **saved = L->p->names;
	size_t nsaved = L->p->nnames;
	L->p->names = NULL;
	L->p->nnames = 0;
	size_t before = metro_diag_count(L->f->diag);
	expression(L, n, name, &e);
	L->p->names = saved;
	L->p->nnames = nsaved;
	if (!e) {
		if (metro_diag_count(L->f->diag) == before)
			metro_y_error(L->f, n, "%s: expected a number", name);
		return METRO_E_INVAL;
	}
	struct metro_dec v, lo, hi;
	char err[200];
	int rc = metro_expr_eval(e, NULL, &v, err, sizeof err);
	metro_expr_destroy(&e);
	if (rc) {
		metro_y_error(L->f, n, "%s: %s", name, err);
		return METRO_E_INVAL;
	}
	metro_dec_parse(min, &lo);
	metro_dec_parse(max, &hi);
	if (metro_dec_cmp(v, lo) < 0 || metro_dec_cmp(v, hi) > 0) {
		char text[64];
		metro_dec_format_sig(v, 12, text, sizeof text);
		metro_y_error(L->f, n, "%s: %s is out of range [%s, %s]", name, text, min, max);
		return METRO_E_INVAL;
	}
	*out = v;
	return METRO_OK;
}

static void header(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},  {"title", 1},	 {"regulation", 1}, {"meter", 1},
		{"rig", 1}, {"verification", 1}, {"limits", 0},
	};
	enum { ID, TITLE, REG, METER, RIG, VERIF, LIMITS, NF };
	yaml_node_t *v[NF];
	struct metro_procedure *p = L->p;
	metro_y_map(L->f, n, "procedure", fields, NF, v);
	if (v[ID])
		metro_y_ident(L->f, v[ID], "procedure.id", &p->id);
	if (v[TITLE])
		metro_y_str(L->f, v[TITLE], "procedure.title", 300, &p->title);
	if (v[REG]) {
		static const struct metro_yfield rf[] = {{"id", 1}, {"edition", 1}};
		yaml_node_t *r[2];
		metro_y_map(L->f, v[REG], "procedure.regulation", rf, 2, r);
		if (r[0])
			metro_y_str(L->f, r[0], "procedure.regulation.id", 100, &p->regulation);
		if (r[1])
			metro_y_str(L->f, r[1], "procedure.regulation.edition", 32, &p->edition);
	}
	int k;
	if (v[METER] && !metro_y_enum(L->f, v[METER], "procedure.meter", meters, 3, &k))
		p->meter = metro_strdup(meters[k]);
	if (v[RIG] &&
	    !metro_y_enum(L->f, v[RIG], "procedure.rig", metro_rig_kind_names, METRO_RIG_KINDS, &k))
		p->rig = metro_strdup(metro_rig_kind_names[k]);
	if (p->meter && p->rig &&
	    (int)(strcmp(p->meter, "water") == 0 ? 0
		  : strcmp(p->meter, "electricity") == 0
			  ? 1
			  : 2) != (int)(strcmp(p->rig, "flow-bench") == 0	   ? 0
					: strcmp(p->rig, "electricity-bench") == 0 ? 1
										   : 2))
		metro_y_error(L->f, v[RIG], "procedure.rig: a %s rig does not verify %s meters",
			      p->rig, p->meter);
	if (v[VERIF] && !metro_y_enum(L->f, v[VERIF], "procedure.verification", verifications,
				      METRO_ARRAY_SIZE(verifications), &k))
		p->verification = metro_strdup(verifications[k]);
	if (v[LIMITS]) {
		if (!metro_y_enum(L->f, v[LIMITS], "procedure.limits", limit_sets, 2, &k))
			p->limits = metro_strdup(limit_sets[k]);
	} else if (p->verification) {
		/* In-service inspection and sampling of in-use meters judge against the
		 * in-service limits; complaint verification sets `limits` explicitly. */
		int in_service = !strcmp(p->verification, "in-service") ||
				 !strcmp(p->verification, "supervision-in-use");
		if (!strcmp(p->verification, "complaint"))
			metro_y_error(L->f, n,
				      "procedure.limits: a complaint verification must say "
				      "which limits apply (verification or in-service)");
		p->limits = metro_strdup(in_service ? "in-service" : "verification");
	}
}

static void nameplate(struct loader *L, yaml_node_t *n)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		metro_y_error(L->f, n, "nameplate: expected a mapping of field names");
		return;
	}
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	struct metro_procedure *p = L->p;
	p->fields = metro_calloc(count, sizeof *p->fields);
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&L->f->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&L->f->doc, pr->value);
		char *name = NULL;
		if (metro_y_str(L->f, k, "nameplate", 64, &name))
			continue;
		struct metro_ypath wp = metro_ykey("nameplate", name);
		const char *where = wp.s;
		if (!is_name(name)) {
			metro_y_error(L->f, k,
				      "%s: field names are lower-case words ([a-z][a-z0-9_]*)",
				      where);
			free(name);
			continue;
		}
		if (metro_procedure_field(p, name)) {
			metro_y_error(L->f, k, "%s: defined twice", where);
			free(name);
			continue;
		}
		struct metro_proc_field *fd = &p->fields[p->nfields++];
		fd->name = name;
		static const struct metro_yfield ff[] = {
			{"unit", 0}, {"min", 0}, {"max", 0}, {"values", 0}};
		yaml_node_t *fv[4];
		if (v && metro_y_is_null(v))
			continue; /* a bare field: any positive number */
		metro_y_map(L->f, v, where, ff, 4, fv);
		if (fv[0])
			metro_y_str(L->f, fv[0], metro_ykey(where, "unit").s, 32, &fd->unit);
		if (fv[3]) {
			if (fv[1] || fv[2])
				metro_y_error(L->f, fv[3],
					      "%s.values: a field is either a number "
					      "(min/max) or one of values, not both",
					      where);
			struct metro_ypath vk = metro_ykey(where, "values");
			int len = metro_y_seq(L->f, fv[3], vk.s);
			fd->is_text = 1;
			if (len == 0)
				metro_y_error(L->f, fv[3], "%s: at least one value", vk.s);
			fd->values = metro_calloc(len > 0 ? (size_t)len : 1, sizeof(char *));
			for (int i = 0; i < len; i++)
				if (!metro_y_str(L->f, metro_y_seq_at(L->f, fv[3], i),
						 metro_yindex(vk.s, i).s, 32,
						 &fd->values[fd->nvalues]))
					fd->nvalues++;
		}
		if (fv[1] &&
		    !number(L, fv[1], metro_ykey(where, "min").s, "-1e12", "1e12", &fd->min))
			fd->has_min = 1;
		if (fv[2] &&
		    !number(L, fv[2], metro_ykey(where, "max").s, "-1e12", "1e12", &fd->max))
			fd->has_max = 1;
		if (fd->has_min && fd->has_max && metro_dec_cmp(fd->min, fd->max) > 0)
			metro_y_error(L->f, fv[2], "%s.max: below min", where);
	}
}

static void parameters(struct loader *L, yaml_node_t *n)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		metro_y_error(L->f, n, "parameters: expected a mapping of parameter names");
		return;
	}
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	struct metro_procedure *p = L->p;
	p->params = metro_calloc(count ? count : 1, sizeof *p->params);
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&L->f->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&L->f->doc, pr->value);
		char *name = NULL;
		if (metro_y_str(L->f, k, "parameters", 64, &name))
			continue;
		size_t i;
		for (i = 0; i < METRO_ARRAY_SIZE(known_params); i++)
			if (!strcmp(known_params[i].name, name))
				break;
		if (i == METRO_ARRAY_SIZE(known_params)) {
			metro_y_error(L->f, k,
				      "parameters.%s: unknown parameter (known: mpe_factor, "
				      "uncertainty_ratio, prompt_timeout_s, frequency_hz, "
				      "due_warning_days, plausibility_factor, "
				      "plausibility_reference_pct)",
				      name);
			free(name);
			continue;
		}
		for (size_t j = 0; j < p->nparams; j++)
			if (!strcmp(p->params[j].name, name))
				metro_y_error(L->f, k, "parameters.%s: set twice", name);
		struct metro_dec val;
		if (constant(L, v, metro_ykey("parameters", name).s, known_params[i].min,
			     known_params[i].max, &val)) {
			free(name);
			continue;
		}
		p->params[p->nparams].name = name;
		p->params[p->nparams++].value = val;
	}
}

/* A channel of a condition: a rig channel name, or pos[N].x for every position's. */
static int channel_name_ok(const char *name);
static void collect_names(struct metro_procedure *p);

/* A condition's minus (a second channel: the condition is on the difference) and when (a guard
 * over the nameplate: {value: EXPR, min, max}). */
static void condition_extras(struct loader *L, yaml_node_t *ch, yaml_node_t *minus,
			     yaml_node_t *when, const char *where, struct metro_proc_condition *c)
{
	struct metro_procedure *p = L->p;
	if (c->channel && !channel_name_ok(c->channel))
		metro_y_error(L->f, ch,
			      "%s.channel: '%s' is not a channel name (lower-case words joined by "
			      "dots, optionally prefixed pos[N].)",
			      where, c->channel);
	if (minus) {
		struct metro_ypath key = metro_ykey(where, "minus");
		if (!metro_y_str(L->f, minus, key.s, 80, &c->minus) && !channel_name_ok(c->minus))
			metro_y_error(L->f, minus,
				      "%s: '%s' is not a channel name (lower-case words joined by "
				      "dots, optionally prefixed pos[N].)",
				      key.s, c->minus);
		if (c->minus && c->channel && !strncmp(c->channel, "pos[N].", 7) &&
		    !strncmp(c->minus, "pos[N].", 7))
			metro_y_error(L->f, minus,
				      "%s: at most one side of a difference is a channel of every "
				      "position",
				      key.s);
	}
	if (!when)
		return;
	static const struct metro_yfield wf[] = {{"value", 1}, {"min", 0}, {"max", 0}};
	yaml_node_t *w[3];
	struct metro_ypath key = metro_ykey(where, "when");
	metro_y_map(L->f, when, key.s, wf, 3, w);
	if (when->type != YAML_MAPPING_NODE)
		return;
	collect_names(p);
	expression(L, w[0], metro_ykey(key.s, "value").s, &c->when);
	if (w[1] && !number(L, w[1], metro_ykey(key.s, "min").s, "-1e12", "1e12", &c->when_min))
		c->has_when_min = 1;
	if (w[2] && !number(L, w[2], metro_ykey(key.s, "max").s, "-1e12", "1e12", &c->when_max))
		c->has_when_max = 1;
	if (!w[1] && !w[2])
		metro_y_error(L->f, when, "%s: give min, max or both", key.s);
}

static void conditions(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "conditions");
	struct metro_procedure *p = L->p;
	if (len <= 0)
		return;
	p->conditions = metro_calloc((size_t)len, sizeof *p->conditions);
	for (int i = 0; i < len; i++) {
		static const struct metro_yfield cf[] = {{"channel", 1}, {"min", 1},   {"max", 1},
							 {"unit", 0},	 {"minus", 0}, {"when", 0}};
		yaml_node_t *v[6];
		struct metro_ypath wp = metro_yindex("conditions", i);
		const char *where = wp.s;
		metro_y_map(L->f, metro_y_seq_at(L->f, n, i), where, cf, 6, v);
		struct metro_proc_condition *c = &p->conditions[p->nconditions++];
		if (v[0])
			metro_y_str(L->f, v[0], metro_ykey(where, "channel").s, 80, &c->channel);
		if (v[1])
			number(L, v[1], metro_ykey(where, "min").s, "-1e9", "1e9", &c->min);
		if (v[2])
			number(L, v[2], metro_ykey(where, "max").s, "-1e9", "1e9", &c->max);
		if (v[3])
			metro_y_str(L->f, v[3], metro_ykey(where, "unit").s, 32, &c->unit);
		if (v[1] && v[2] && metro_dec_valid(c->min) && metro_dec_valid(c->max) &&
		    metro_dec_cmp(c->min, c->max) >= 0)
			metro_y_error(L->f, v[2], "%s.max: must be above min", where);
		condition_extras(L, v[0], v[4], v[5], where, c);
	}
}

/* The keys each item kind takes beyond id, kind, title. */
static const char *const kind_keys[][14] = {
	[METRO_ITEM_JUDGEMENT] = {"prompt", "sensor"},
	[METRO_ITEM_FLOW_POINT] = {"flow", "window", "stabilise", "steady_pct", "max_temp_change",
				   "collect", "formula", "repeat", "readings", "prompt"},
	[METRO_ITEM_LOAD_POINT] = {"current", "voltage", "pf", "min_seconds", "settle_seconds",
				   "formula", "repeat"},
	[METRO_ITEM_START_TEST] = {"voltage"},
	[METRO_ITEM_CREEP_TEST] = {"allowed_pulses"},
	[METRO_ITEM_CONSTANT_TEST] = {"current", "voltage", "pf", "energy_kwh", "limit_pct",
				      "settle_seconds", "register", "resolution_kwh",
				      "resolution_ratio"},
	[METRO_ITEM_POSITION_CHECK] = {"flow", "volume_l", "tolerance_pct"},
	[METRO_ITEM_MEASUREMENT] = {"prompt", "unit", "channel", "readings", "count", "interval_s",
				    "limits", "flow", "settle_seconds"},
	[METRO_ITEM_TIMING_TEST] = {"voltage", "runs", "gate_seconds", "limit_s_per_day"},
};

static int key_allowed(enum metro_item_kind k, const char *key)
{
	if (!strcmp(key, "id") || !strcmp(key, "kind") || !strcmp(key, "title") ||
	    !strcmp(key, "only"))
		return 1;
	for (size_t i = 0; i < 14 && kind_keys[k][i]; i++)
		if (!strcmp(kind_keys[k][i], key))
			return 1;
	return 0;
}

static yaml_node_t *get(struct loader *L, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&L->f->doc, pr->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(&L->f->doc, pr->value);
	}
	return NULL;
}

static void repeat_rule(struct loader *L, yaml_node_t *n, const char *where,
			struct metro_proc_item *it)
{
	struct metro_ypath key = metro_ykey(where, "repeat");
	if (n->type == YAML_MAPPING_NODE) {
		static const struct metro_yfield rf[] = {{"rule", 1}, {"runs", 1}};
		yaml_node_t *v[2];
		metro_y_map(L->f, n, key.s, rf, 2, v);
		static const char *const rules[] = {"mean"};
		int k;
		if (v[0])
			metro_y_enum(L->f, v[0], metro_ykey(key.s, "rule").s, rules, 1, &k);
		if (v[1])
			metro_y_long(L->f, v[1], metro_ykey(key.s, "runs").s, 1, 10, &it->runs);
		it->repeat = METRO_REPEAT_MEAN;
		return;
	}
	int k;
	if (!metro_y_enum(L->f, n, key.s, repeats, METRO_ARRAY_SIZE(repeats), &k))
		it->repeat = (enum metro_repeat)k;
}

/* The keys of a flow point (water or gas): flow, window, stabilisation, collection, readings. */
static void flow_point_keys(struct loader *L, yaml_node_t *n, const char *where,
			    struct metro_proc_item *it)
{
	struct metro_procedure *p = L->p;
	yaml_node_t *v;
	if (!(v = get(L, n, "flow")))
		metro_y_error(L->f, n, "%s: missing required key 'flow'", where);
	expression(L, v, metro_ykey(where, "flow").s, &it->flow);
	if (!(v = get(L, n, "window"))) {
		metro_y_error(L->f, n, "%s: missing required key 'window'", where);
	} else {
		static const struct metro_yfield wf[] = {{"min", 1}, {"max", 1}};
		yaml_node_t *w[2];
		metro_y_map(L->f, v, metro_ykey(where, "window").s, wf, 2, w);
		expression(L, w[0], metro_ykey(where, "window.min").s, &it->window_min);
		expression(L, w[1], metro_ykey(where, "window.max").s, &it->window_max);
	}
	if ((v = get(L, n, "stabilise"))) {
		static const struct metro_yfield sf[] = {
			{"channel", 1}, {"band_pct", 1}, {"seconds", 1}};
		yaml_node_t *s[3];
		metro_y_map(L->f, v, metro_ykey(where, "stabilise").s, sf, 3, s);
		if (s[0])
			metro_y_str(L->f, s[0], metro_ykey(where, "stabilise.channel").s, 80,
				    &it->stab_channel);
		if (s[1])
			number(L, s[1], metro_ykey(where, "stabilise.band_pct").s, "0.01", "50",
			       &it->stab_band_pct);
		if (s[2])
			number(L, s[2], metro_ykey(where, "stabilise.seconds").s, "0", "3600",
			       &it->stab_seconds);
		it->has_stabilise = 1;
	}
	if ((v = get(L, n, "steady_pct")))
		number(L, v, metro_ykey(where, "steady_pct").s, "0.01", "50", &it->steady_pct);
	if ((v = get(L, n, "max_temp_change")))
		number(L, v, metro_ykey(where, "max_temp_change").s, "0.01", "50",
		       &it->max_temp_change);
	if (!(v = get(L, n, "collect"))) {
		metro_y_error(L->f, n, "%s: missing required key 'collect'", where);
	} else {
		static const struct metro_yfield cf[] = {{"volume_l", 1}, {"min_seconds", 0}};
		yaml_node_t *c[2];
		metro_y_map(L->f, v, metro_ykey(where, "collect").s, cf, 2, c);
		expression(L, c[0], metro_ykey(where, "collect.volume_l").s, &it->volume_l);
		if (c[1])
			number(L, c[1], metro_ykey(where, "collect.min_seconds").s, "0", "86400",
			       &it->min_seconds);
	}
	if ((v = get(L, n, "readings"))) {
		static const char *const r[] = {"pulses", "operator"};
		int k;
		if (!metro_y_enum(L->f, v, metro_ykey(where, "readings").s, r, 2, &k))
			it->operator_readings = k == 1;
		if (it->operator_readings && p->meter && strcmp(p->meter, "water") != 0)
			metro_y_error(L->f, v,
				      "%s: typed readings are for mechanical water meters "
				      "(a gas meter is read by its pulse pick-up)",
				      metro_ykey(where, "readings").s);
	}
}

/* The register keys of a constant test: how the register is read (register: rig | operator),
 * its resolution (an expression, kWh) and the largest share of the limit one step may be. */
static void register_keys(struct loader *L, yaml_node_t *n, const char *where,
			  struct metro_proc_item *it)
{
	yaml_node_t *v;
	if ((v = get(L, n, "register"))) {
		static const char *const r[] = {"rig", "operator"};
		int k;
		if (!metro_y_enum(L->f, v, metro_ykey(where, "register").s, r, 2, &k))
			it->register_typed = k == 1;
	}
	if (!(v = get(L, n, "resolution_kwh")))
		metro_y_error(L->f, n, "%s: missing required key 'resolution_kwh'", where);
	expression(L, v, metro_ykey(where, "resolution_kwh").s, &it->resolution_kwh);
	if (!(v = get(L, n, "resolution_ratio")))
		metro_y_error(L->f, n, "%s: missing required key 'resolution_ratio'", where);
	else
		constant(L, v, metro_ykey(where, "resolution_ratio").s, "0.001", "1",
			 &it->resolution_ratio);
}

/* The keys of a timing test (daily timing error): readings, gate time, limit, voltage. */
static void timing_keys(struct loader *L, yaml_node_t *n, const char *where,
			struct metro_proc_item *it)
{
	yaml_node_t *v;
	if ((v = get(L, n, "voltage")))
		expression(L, v, metro_ykey(where, "voltage").s, &it->voltage);
	if (!(v = get(L, n, "runs")))
		metro_y_error(L->f, n, "%s: missing required key 'runs'", where);
	else
		metro_y_long(L->f, v, metro_ykey(where, "runs").s, 1, 10, &it->runs);
	if (!(v = get(L, n, "gate_seconds")))
		metro_y_error(L->f, n, "%s: missing required key 'gate_seconds'", where);
	else
		number(L, v, metro_ykey(where, "gate_seconds").s, "1", "86400", &it->gate_seconds);
	if (!(v = get(L, n, "limit_s_per_day")))
		metro_y_error(L->f, n, "%s: missing required key 'limit_s_per_day'", where);
	else
		number(L, v, metro_ykey(where, "limit_s_per_day").s, "0.001", "100",
		       &it->limit_s_per_day);
}

/* The keys of a load point or a constant test (electricity): current, voltage, power factor,
 * times, and for the constant test the energy and its limit. */
static void load_point_keys(struct loader *L, yaml_node_t *n, const char *where,
			    struct metro_proc_item *it)
{
	yaml_node_t *v;
	if (!(v = get(L, n, "current")))
		metro_y_error(L->f, n, "%s: missing required key 'current'", where);
	expression(L, v, metro_ykey(where, "current").s, &it->current);
	if ((v = get(L, n, "voltage")))
		expression(L, v, metro_ykey(where, "voltage").s, &it->voltage);
	if (!(v = get(L, n, "pf"))) {
		metro_y_error(L->f, n, "%s: missing required key 'pf'", where);
	} else {
		int k;
		if (!metro_y_enum(L->f, v, metro_ykey(where, "pf").s, pfs, 3, &k))
			it->pf = metro_strdup(pfs[k]);
	}
	if ((v = get(L, n, "min_seconds")))
		number(L, v, metro_ykey(where, "min_seconds").s, "0.1", "86400", &it->min_seconds);
	if ((v = get(L, n, "settle_seconds")))
		number(L, v, metro_ykey(where, "settle_seconds").s, "0", "3600",
		       &it->settle_seconds);
	if (it->kind == METRO_ITEM_CONSTANT_TEST) {
		if (!(v = get(L, n, "energy_kwh")))
			metro_y_error(L->f, n, "%s: missing required key 'energy_kwh'", where);
		expression(L, v, metro_ykey(where, "energy_kwh").s, &it->energy_kwh);
		if (!(v = get(L, n, "limit_pct")))
			metro_y_error(L->f, n, "%s: missing required key 'limit_pct'", where);
		else if (v->type == YAML_SCALAR_NODE &&
			 v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			 !strcmp((const char *)v->data.scalar.value, "class"))
			it->limit_by_class = 1;
		else
			number(L, v, metro_ykey(where, "limit_pct").s, "0.001", "100",
			       &it->limit_pct);
		register_keys(L, n, where, it);
	}
}

/* A channel name as rig profiles write them (drivers/profile.c): 1..64 of [a-z0-9_.], not
 * starting or ending with a dot, optionally prefixed "pos[N]." for a channel of every
 * position. */
static int channel_name_ok(const char *name)
{
	const char *base = strncmp(name, "pos[N].", 7) ? name : name + 7;
	size_t n = strlen(base);
	if (n == 0 || n > 64 || base[0] == '.' || base[n - 1] == '.')
		return 0;
	for (const char *s = base; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.'))
			return 0;
	return 1;
}

/* sensor: CHANNEL — the rig channel that decides a judgement (an automated answer to it is
 * then taken on any rig, docs/procedures.md). */
static void sensor_key(struct loader *L, yaml_node_t *v, const char *key,
		       struct metro_proc_item *it)
{
	if (metro_y_str(L->f, v, key, 80, &it->sensor))
		return;
	if (!channel_name_ok(it->sensor)) {
		metro_y_error(L->f, v,
			      "%s: '%s' is not a channel name (lower-case words joined by dots, "
			      "optionally prefixed pos[N].)",
			      key, it->sensor);
		free(it->sensor);
		it->sensor = NULL;
	}
}

/* The keys of a measurement: what is measured (unit; a channel, or typed by the operator with
 * a prompt), how often (count readings, interval_s apart, their mean judged), at what flow
 * (optional, held for settle_seconds first) and the limits (min and/or max, expressions over
 * each meter's nameplate and the parameters). */
static void measurement_keys(struct loader *L, yaml_node_t *n, const char *where,
			     struct metro_proc_item *it)
{
	struct metro_procedure *p = L->p;
	yaml_node_t *v, *ch = get(L, n, "channel"), *rd = get(L, n, "readings");
	if (!(v = get(L, n, "unit")))
		metro_y_error(L->f, n, "%s: missing required key 'unit'", where);
	else
		metro_y_str(L->f, v, metro_ykey(where, "unit").s, 32, &it->unit);
	if (rd) {
		static const char *const r[] = {"channel", "operator"};
		int k;
		if (!metro_y_enum(L->f, rd, metro_ykey(where, "readings").s, r, 2, &k))
			it->operator_readings = k == 1;
	}
	if (ch) {
		struct metro_ypath key = metro_ykey(where, "channel");
		if (!metro_y_str(L->f, ch, key.s, 80, &it->channel) &&
		    !channel_name_ok(it->channel)) {
			metro_y_error(L->f, ch,
				      "%s: '%s' is not a channel name (lower-case words joined by "
				      "dots, optionally prefixed pos[N].)",
				      key.s, it->channel);
			free(it->channel);
			it->channel = NULL;
		}
		if (it->operator_readings)
			metro_y_error(L->f, ch,
				      "%s: a measurement typed by the operator reads no channel",
				      key.s);
	} else if (!it->operator_readings) {
		metro_y_error(L->f, n,
			      "%s: a measurement reads a rig channel ('channel: pos[N].dp') or is "
			      "typed by the operator ('readings: operator' with a prompt)",
			      where);
	}
	if (it->operator_readings && !it->prompt)
		metro_y_error(L->f, n, "%s: a measurement typed by the operator needs a prompt",
			      where);
	it->count = 1;
	if ((v = get(L, n, "count")))
		metro_y_long(L->f, v, metro_ykey(where, "count").s, 1,
			     METRO_MEASUREMENT_MAX_READINGS, &it->count);
	it->interval_s = metro_dec_e(1, 0);
	if ((v = get(L, n, "interval_s")))
		number(L, v, metro_ykey(where, "interval_s").s, "0", "3600", &it->interval_s);
	if ((v = get(L, n, "settle_seconds")))
		number(L, v, metro_ykey(where, "settle_seconds").s, "0", "3600",
		       &it->settle_seconds);
	if ((v = get(L, n, "flow"))) {
		if (p->meter && !strcmp(p->meter, "electricity"))
			metro_y_error(L->f, v, "%s: electricity meters have no flow",
				      metro_ykey(where, "flow").s);
		else
			expression(L, v, metro_ykey(where, "flow").s, &it->flow);
	}
	if (!(v = get(L, n, "limits"))) {
		metro_y_error(L->f, n,
			      "%s: missing required key 'limits' ({min, max}: at least one)",
			      where);
		return;
	}
	static const struct metro_yfield lf[] = {{"min", 0}, {"max", 0}};
	yaml_node_t *lim[2];
	struct metro_ypath key = metro_ykey(where, "limits");
	metro_y_map(L->f, v, key.s, lf, 2, lim);
	if (v->type == YAML_MAPPING_NODE && !lim[0] && !lim[1])
		metro_y_error(L->f, v, "%s: give min, max or both", key.s);
	expression(L, lim[0], metro_ykey(key.s, "min").s, &it->limit_min);
	expression(L, lim[1], metro_ykey(key.s, "max").s, &it->limit_max);
}

/* only: {FIELD: WORD or [WORD, ...]}: the item applies to the meters whose text nameplate field
 * FIELD is one of the words. */
static void only_key(struct loader *L, yaml_node_t *v, const char *key, struct metro_proc_item *it)
{
	if (v->type != YAML_MAPPING_NODE ||
	    v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1) {
		metro_y_error(L->f, v,
			      "%s: expected one text nameplate field and its words, e.g. "
			      "{electronic: yes}",
			      key);
		return;
	}
	yaml_node_pair_t *pr = v->data.mapping.pairs.start;
	yaml_node_t *k = yaml_document_get_node(&L->f->doc, pr->key);
	yaml_node_t *w = yaml_document_get_node(&L->f->doc, pr->value);
	char *field = NULL;
	if (metro_y_str(L->f, k, key, 64, &field))
		return;
	const struct metro_proc_field *fd = metro_procedure_field(L->p, field);
	if (!fd || !fd->is_text) {
		metro_y_error(L->f, k, "%s: '%s' is not a text field of the nameplate", key, field);
		free(field);
		return;
	}
	struct metro_ypath fk = metro_ykey(key, field);
	int seq = w && w->type == YAML_SEQUENCE_NODE;
	int len = seq ? metro_y_seq(L->f, w, fk.s) : 1;
	if (len <= 0) {
		if (len == 0)
			metro_y_error(L->f, w, "%s: at least one word", fk.s);
		free(field);
		return;
	}
	it->only_field = field;
	it->only_values = metro_calloc((size_t)len, sizeof(char *));
	for (int i = 0; i < len; i++) {
		yaml_node_t *wi = seq ? metro_y_seq_at(L->f, w, i) : w;
		char *word = NULL;
		if (metro_y_str(L->f, wi, fk.s, 32, &word))
			continue;
		size_t j;
		for (j = 0; j < fd->nvalues && strcmp(fd->values[j], word) != 0; j++)
			;
		if (j == fd->nvalues) {
			metro_y_error(L->f, wi, "%s: '%s' is not one of the field's values", fk.s,
				      word);
			free(word);
			continue;
		}
		it->only_values[it->nonly++] = word;
	}
}

int metro_item_applies(const struct metro_proc_item *it, const char *value)
{
	if (!it->only_field)
		return 1;
	for (size_t i = 0; value && i < it->nonly; i++)
		if (!strcmp(it->only_values[i], value))
			return 1;
	return 0;
}

/* Which kinds fit which meter, and which procedures (a position check: commissioning only). */
static void kind_fits(struct loader *L, const struct metro_proc_item *it, yaml_node_t *kn,
		      const char *where)
{
	const struct metro_procedure *p = L->p;
	int electric = p->meter && !strcmp(p->meter, "electricity");
	int is_electric_item = it->kind >= METRO_ITEM_LOAD_POINT;
	if (it->kind == METRO_ITEM_POSITION_CHECK) {
		is_electric_item = electric; /* water and gas for now: checked below */
		if (!metro_procedure_is_commissioning(p))
			metro_y_error(L->f, kn,
				      "%s: a position check belongs to a commissioning procedure "
				      "(procedure.verification: commissioning)",
				      metro_ykey(where, "kind").s);
		if (electric)
			metro_y_error(L->f, kn,
				      "%s: the position check of an electricity bench is not "
				      "implemented yet (water and gas benches only)",
				      metro_ykey(where, "kind").s);
	} else if (metro_procedure_is_commissioning(p) && it->kind != METRO_ITEM_JUDGEMENT) {
		metro_y_error(L->f, kn,
			      "%s: a commissioning procedure has judgements and position checks "
			      "only",
			      metro_ykey(where, "kind").s);
	}
	if (p->meter && it->kind != METRO_ITEM_JUDGEMENT && it->kind != METRO_ITEM_MEASUREMENT &&
	    electric != is_electric_item)
		metro_y_error(L->f, kn, "%s: a %s item does not apply to %s meters",
			      metro_ykey(where, "kind").s, item_kinds[it->kind], p->meter);
}

static void item(struct loader *L, yaml_node_t *n, int i, struct metro_proc_item *it)
{
	struct metro_ypath wp = metro_yindex("items", i);
	const char *where = wp.s;
	if (!n || n->type != YAML_MAPPING_NODE) {
		metro_y_error(L->f, n, "%s: expected a mapping", where);
		return;
	}
	it->line = metro_y_line(n);
	struct metro_procedure *p = L->p;
	yaml_node_t *kn = get(L, n, "kind");
	int kind = -1;
	if (!kn)
		metro_y_error(L->f, n, "%s: missing required key 'kind'", where);
	else if (!metro_y_enum(L->f, kn, metro_ykey(where, "kind").s, item_kinds,
			       METRO_ARRAY_SIZE(item_kinds), &kind))
		it->kind = (enum metro_item_kind)kind;
	/* Every key must be one this kind takes (checked once the kind is known). */
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&L->f->doc, pr->key);
		const char *ks =
			k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *kq = yaml_document_get_node(&L->f->doc, q->key);
			if (kq && kq->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)kq->data.scalar.value, ks))
				metro_y_error(L->f, k, "%s: duplicate key",
					      metro_ykey(where, ks).s);
		}
		if (kind >= 0 && !key_allowed(it->kind, ks))
			metro_y_error(L->f, k, "%s: a %s item has no key '%s'",
				      metro_ykey(where, ks).s, item_kinds[kind], ks);
	}
	yaml_node_t *v = get(L, n, "id");
	if (!v)
		metro_y_error(L->f, n, "%s: missing required key 'id'", where);
	else
		metro_y_ident(L->f, v, metro_ykey(where, "id").s, &it->id);
	if ((v = get(L, n, "title")))
		metro_y_str(L->f, v, metro_ykey(where, "title").s, 200, &it->title);
	if ((v = get(L, n, "prompt")))
		metro_y_str(L->f, v, metro_ykey(where, "prompt").s, 1000, &it->prompt);
	if (kind < 0)
		return;

	kind_fits(L, it, kn, where);

	switch (it->kind) {
	case METRO_ITEM_JUDGEMENT:
		if (!it->prompt)
			metro_y_error(L->f, n, "%s: a judgement needs a prompt", where);
		if ((v = get(L, n, "sensor")))
			sensor_key(L, v, metro_ykey(where, "sensor").s, it);
		break;
	case METRO_ITEM_FLOW_POINT:
		flow_point_keys(L, n, where, it);
		break;
	case METRO_ITEM_LOAD_POINT:
	case METRO_ITEM_CONSTANT_TEST:
		load_point_keys(L, n, where, it);
		break;
	case METRO_ITEM_START_TEST:
		if ((v = get(L, n, "voltage")))
			expression(L, v, metro_ykey(where, "voltage").s, &it->voltage);
		break;
	case METRO_ITEM_POSITION_CHECK:
		if (!(v = get(L, n, "flow")))
			metro_y_error(L->f, n, "%s: missing required key 'flow'", where);
		expression(L, v, metro_ykey(where, "flow").s, &it->flow);
		if (!(v = get(L, n, "volume_l")))
			metro_y_error(L->f, n, "%s: missing required key 'volume_l'", where);
		expression(L, v, metro_ykey(where, "volume_l").s, &it->volume_l);
		it->tolerance_pct = metro_dec_e(2, 0);
		if ((v = get(L, n, "tolerance_pct")))
			number(L, v, metro_ykey(where, "tolerance_pct").s, "0.01", "20",
			       &it->tolerance_pct);
		break;
	case METRO_ITEM_CREEP_TEST:
		/* at most one pulse in the creep time unless the procedure says otherwise
		 * (IEC 62053-21; JJG 596-2012 [confirm], docs/metrology.md) */
		it->allowed_pulses = METRO_CREEP_ALLOWED_PULSES_DEFAULT;
		if ((v = get(L, n, "allowed_pulses")))
			metro_y_long(L->f, v, metro_ykey(where, "allowed_pulses").s, 0, 10,
				     &it->allowed_pulses);
		break;
	case METRO_ITEM_MEASUREMENT:
		measurement_keys(L, n, where, it);
		break;
	case METRO_ITEM_TIMING_TEST:
		timing_keys(L, n, where, it);
		break;
	}
	if ((v = get(L, n, "only")))
		only_key(L, v, metro_ykey(where, "only").s, it);
	if (it->kind == METRO_ITEM_FLOW_POINT || it->kind == METRO_ITEM_LOAD_POINT) {
		int k;
		if (!(v = get(L, n, "formula"))) {
			metro_y_error(L->f, n, "%s: missing required key 'formula'", where);
		} else if (!metro_y_enum(L->f, v, metro_ykey(where, "formula").s, formulas,
					 METRO_ARRAY_SIZE(formulas), &k)) {
			it->formula = (enum metro_formula)k;
			int ok = it->kind == METRO_ITEM_LOAD_POINT
					 ? it->formula == METRO_FORMULA_PULSE
				 : p->meter && !strcmp(p->meter, "gas")
					 ? it->formula == METRO_FORMULA_BELL ||
						   it->formula == METRO_FORMULA_MASTER_METER
					 : it->formula == METRO_FORMULA_VOLUMETRIC ||
						   it->formula == METRO_FORMULA_GRAVIMETRIC;
			if (!ok)
				metro_y_error(L->f, v,
					      "%s: formula %s does not fit a %s item for %s "
					      "meters",
					      metro_ykey(where, "formula").s, formulas[k],
					      item_kinds[kind], p->meter ? p->meter : "these");
		}
		it->repeat = METRO_REPEAT_SINGLE;
		it->runs = 1;
		if ((v = get(L, n, "repeat")))
			repeat_rule(L, v, where, it);
		if (it->repeat == METRO_REPEAT_WATER_RETEST && p->meter &&
		    strcmp(p->meter, "water") != 0)
			metro_y_error(L->f, v, "%s: water-retest is the water meter rule",
				      metro_ykey(where, "repeat").s);
		if (it->repeat == METRO_REPEAT_ELECTRICITY_MEAN &&
		    it->kind != METRO_ITEM_LOAD_POINT)
			metro_y_error(L->f, v, "%s: electricity-mean is the rule of load points",
				      metro_ykey(where, "repeat").s);
	}
}

/* Names usable in expressions: the numeric nameplate fields, then the parameters. */
static void collect_names(struct metro_procedure *p)
{
	if (p->names)
		return; /* collected already, for the conditions' guards */
	p->names = metro_calloc(p->nfields + p->nparams + 1, sizeof *p->names);
	for (size_t i = 0; i < p->nfields; i++)
		if (!p->fields[i].is_text)
			p->names[p->nnames++] = p->fields[i].name;
	for (size_t i = 0; i < p->nparams; i++)
		p->names[p->nnames++] = p->params[i].name;
}

/* The items, after the nameplate and the parameters: their expressions use those names. */
static void items(struct loader *L, yaml_node_t *n)
{
	struct metro_procedure *p = L->p;
	collect_names(p);
	int len = metro_y_seq(L->f, n, "items");
	if (len == 0)
		metro_y_error(L->f, n, "items: a procedure needs at least one item");
	if (len <= 0)
		return;
	p->items = metro_calloc((size_t)len, sizeof *p->items);
	p->nitems = (size_t)len;
	for (int i = 0; i < len; i++) {
		yaml_node_t *in = metro_y_seq_at(L->f, n, i);
		item(L, in, i, &p->items[i]);
		for (int j = 0; j < i && p->items[i].id; j++)
			if (p->items[j].id && !strcmp(p->items[j].id, p->items[i].id))
				metro_y_error(L->f, in,
					      "items[%d].id: '%s' already used at line %u", i,
					      p->items[i].id, p->items[j].line);
	}
}

/* One condition of a validity rule: `field: {min, max}` for a number, `field: [words]` for a
 * word field of the nameplate. */
static void cert_cond(struct loader *L, yaml_node_t *k, yaml_node_t *v, const char *where,
		      struct metro_cert_cond *c)
{
	struct metro_procedure *p = L->p;
	if (metro_y_str(L->f, k, where, 64, &c->field))
		return;
	struct metro_ypath w = metro_ykey(where, c->field);
	const struct metro_proc_field *fd = metro_procedure_field(p, c->field);
	if (!fd) {
		metro_y_error(L->f, k, "%s: the nameplate has no field '%s'", w.s, c->field);
		return;
	}
	c->is_text = fd->is_text;
	if (fd->is_text) {
		int len = metro_y_seq(L->f, v, w.s);
		if (len == 0)
			metro_y_error(L->f, v, "%s: at least one value", w.s);
		c->values = metro_calloc(len > 0 ? (size_t)len : 1, sizeof *c->values);
		for (int i = 0; i < len; i++) {
			yaml_node_t *x = metro_y_seq_at(L->f, v, i);
			char *word = NULL;
			if (metro_y_str(L->f, x, metro_yindex(w.s, i).s, 32, &word))
				continue;
			size_t j = 0;
			while (j < fd->nvalues && strcmp(fd->values[j], word) != 0)
				j++;
			if (j == fd->nvalues)
				metro_y_error(L->f, x,
					      "%s: '%s' is not one of the nameplate's values",
					      metro_yindex(w.s, i).s, word);
			c->values[c->nvalues++] = word;
		}
		return;
	}
	static const struct metro_yfield mf[] = {{"min", 0}, {"max", 0}};
	yaml_node_t *m[2];
	if (metro_y_map(L->f, v, w.s, mf, 2, m))
		return;
	if (!m[0] && !m[1])
		metro_y_error(L->f, v, "%s: give min, max or both", w.s);
	if (m[0] && !number(L, m[0], metro_ykey(w.s, "min").s, "-1e12", "1e12", &c->min))
		c->has_min = 1;
	if (m[1] && !number(L, m[1], metro_ykey(w.s, "max").s, "-1e12", "1e12", &c->max))
		c->has_max = 1;
	if (c->has_min && c->has_max && metro_dec_cmp(c->min, c->max) > 0)
		metro_y_error(L->f, m[1], "%s.max: below min", w.s);
}

/* certificate.validity: a sequence of rules, the first that matches a meter decides. */
static void cert_rules(struct loader *L, yaml_node_t *n)
{
	struct metro_procedure *p = L->p;
	int len = metro_y_seq(L->f, n, "certificate.validity");
	if (len == 0)
		metro_y_error(L->f, n, "certificate.validity: at least one rule");
	if (len <= 0)
		return;
	p->cert_rules = metro_calloc((size_t)len, sizeof *p->cert_rules);
	unsigned catch_all = 0; /* the line of a rule without conditions */
	for (int i = 0; i < len; i++) {
		static const struct metro_yfield rf[] = {
			{"when", 0}, {"valid_months", 0}, {"service_life_years", 0}, {"note", 0}};
		yaml_node_t *v[4], *x = metro_y_seq_at(L->f, n, i);
		struct metro_ypath w = metro_yindex("certificate.validity", i);
		struct metro_cert_rule *r = &p->cert_rules[p->ncert_rules++];
		r->line = metro_y_line(x);
		if (catch_all)
			metro_y_error(L->f, x,
				      "%s: never applies: the rule at line %u has no conditions "
				      "and matches every meter",
				      w.s, catch_all);
		if (metro_y_map(L->f, x, w.s, rf, 4, v))
			continue;
		if (!v[1] == !v[2])
			metro_y_error(L->f, x,
				      "%s: give either valid_months (periodic verification) or "
				      "service_life_years (initial verification only), one of them",
				      w.s);
		if (v[1])
			metro_y_long(L->f, v[1], metro_ykey(w.s, "valid_months").s, 1, 240,
				     &r->valid_months);
		if (v[2])
			metro_y_long(L->f, v[2], metro_ykey(w.s, "service_life_years").s, 1, 30,
				     &r->service_life_years);
		if (v[3])
			metro_y_str(L->f, v[3], metro_ykey(w.s, "note").s, 300, &r->note);
		if (!v[0]) {
			catch_all = r->line;
			continue;
		}
		struct metro_ypath ww = metro_ykey(w.s, "when");
		if (v[0]->type != YAML_MAPPING_NODE ||
		    v[0]->data.mapping.pairs.top == v[0]->data.mapping.pairs.start) {
			metro_y_error(L->f, v[0], "%s: expected a mapping of nameplate fields",
				      ww.s);
			continue;
		}
		size_t count =
			(size_t)(v[0]->data.mapping.pairs.top - v[0]->data.mapping.pairs.start);
		r->conds = metro_calloc(count, sizeof *r->conds);
		for (yaml_node_pair_t *pr = v[0]->data.mapping.pairs.start;
		     pr < v[0]->data.mapping.pairs.top; pr++)
			cert_cond(L, yaml_document_get_node(&L->f->doc, pr->key),
				  yaml_document_get_node(&L->f->doc, pr->value), ww.s,
				  &r->conds[r->nconds++]);
	}
}

/* certificate: {instrument, valid_months | validity, note}: what the certificate of a pass
 * says. */
static void certificate(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {
		{"instrument", 0}, {"valid_months", 0}, {"note", 0}, {"validity", 0}};
	yaml_node_t *v[4];
	struct metro_procedure *p = L->p;
	metro_y_map(L->f, n, "certificate", fields, 4, v);
	if (v[0])
		metro_y_str(L->f, v[0], "certificate.instrument", 100, &p->cert_instrument);
	if (v[1])
		metro_y_long(L->f, v[1], "certificate.valid_months", 1, 240, &p->cert_valid_months);
	if (v[2])
		metro_y_str(L->f, v[2], "certificate.note", 300, &p->cert_note);
	if (v[1] && v[3])
		metro_y_error(L->f, v[3],
			      "certificate.validity: give valid_months (one period for every "
			      "meter) or validity rules, not both");
	if (v[3])
		cert_rules(L, v[3]);
}

static void teardown(struct loader *L, yaml_node_t *n)
{
	static const char *const td[] = {"safe-state"};
	int k;
	metro_y_enum(L->f, n, "teardown", td, 1, &k);
}

/* The sections of a procedure file, each with its validator, in the order that messages name
 * them and that they are validated in: the items use the names of the nameplate fields and
 * the parameters, so those come first. */
enum {
	SEC_PROCEDURE,
	SEC_NAMEPLATE,
	SEC_PARAMETERS,
	SEC_CONDITIONS,
	SEC_ITEMS,
	SEC_TEARDOWN,
	SEC_CERTIFICATE,
	NSECTIONS
};
static const struct section {
	const char *key;
	int required;
	void (*validate)(struct loader *L, yaml_node_t *n);
} sections[NSECTIONS] = {
	[SEC_PROCEDURE] = {.key = "procedure", .required = 1, .validate = header},
	[SEC_NAMEPLATE] = {.key = "nameplate", .required = 1, .validate = nameplate},
	[SEC_PARAMETERS] = {.key = "parameters", .required = 0, .validate = parameters},
	[SEC_CONDITIONS] = {.key = "conditions", .required = 0, .validate = conditions},
	[SEC_ITEMS] = {.key = "items", .required = 1, .validate = items},
	[SEC_TEARDOWN] = {.key = "teardown", .required = 1, .validate = teardown},
	[SEC_CERTIFICATE] = {.key = "certificate", .required = 0, .validate = certificate},
};

/* A timing test is for meters with a clock: the procedure's nameplate must then have the
 * field `clock` with the words "yes" and "no" (a batch says which meters have one; the item
 * is not run for a meter with clock "no"). */
static void clock_field(struct loader *L, yaml_node_t *np)
{
	struct metro_procedure *p = L->p;
	const struct metro_proc_item *timing = NULL;
	for (size_t i = 0; i < p->nitems && !timing; i++)
		if (p->items[i].kind == METRO_ITEM_TIMING_TEST)
			timing = &p->items[i];
	if (!timing || !np)
		return;
	const struct metro_proc_field *f = metro_procedure_field(p, "clock");
	int yes = 0, no = 0;
	for (size_t i = 0; f && f->is_text && i < f->nvalues; i++) {
		yes |= !strcmp(f->values[i], "yes");
		no |= !strcmp(f->values[i], "no");
	}
	if (!f || !f->is_text || !yes || !no || f->nvalues != 2)
		metro_y_error(L->f, np,
			      "nameplate: the timing test (%s, line %u) needs the field "
			      "clock: {values: [\"yes\", \"no\"]} (whether each meter has a clock)",
			      timing->id ? timing->id : "?", timing->line);
}

/* What no one section can check: the nameplate fields the meter's regulation needs, and the
 * uncertainty ratio every procedure must state.  v is the sections' nodes. */
static void check_whole(struct loader *L, yaml_node_t *const *v)
{
	struct metro_procedure *p = L->p;
	yaml_node_t *np = v[SEC_NAMEPLATE], *params = v[SEC_PARAMETERS];
	if (metro_procedure_is_commissioning(p))
		return; /* no regulation's fields, no MPE to hold an uncertainty against */
	if (p->meter && !strcmp(p->meter, "electricity")) {
		static const char *const need[] = {"un",    "ib",	  "imax",  "meter_constant",
						   "class", "connection", "phases"};
		for (size_t i = 0; i < METRO_ARRAY_SIZE(need); i++)
			if (!metro_procedure_field(p, need[i]) && np)
				metro_y_error(L->f, np,
					      "nameplate: an electricity procedure needs the field "
					      "'%s'",
					      need[i]);
	} else if (p->meter) {
		const char *const *need = !strcmp(p->meter, "water")
						  ? (const char *const[]){"q3", "r", "class", NULL}
						  : (const char *const[]){"qmax", "class", NULL};
		for (size_t i = 0; need[i]; i++)
			if (!metro_procedure_field(p, need[i]) && np)
				metro_y_error(L->f, np,
					      "nameplate: a %s procedure needs the field '%s'",
					      p->meter, need[i]);
	}
	clock_field(L, np);
	if (!metro_dec_valid(metro_procedure_param(p, "uncertainty_ratio", metro_dec_invalid())) &&
	    v[SEC_PROCEDURE] &&
	    !(params && params->type == YAML_MAPPING_NODE && get(L, params, "uncertainty_ratio")))
		metro_y_error(L->f, params ? params : v[SEC_PROCEDURE],
			      "parameters: uncertainty_ratio is required (the largest U/MPE the "
			      "regulation allows for this verification)");
}

static int load(struct metro_yfile *f, const char *path, struct metro_procedure **out)
{
	size_t before = metro_diag_count(f->diag);
	struct metro_procedure *p = metro_calloc(1, sizeof *p);
	p->path = metro_strdup(path);
	/* the digest of the bytes parsed (yfile.h), never of a second read of the file */
	snprintf(p->sha256, sizeof p->sha256, "%s", f->sha256);
	struct loader L = {f, p};
	struct metro_yfield fields[NSECTIONS];
	for (size_t i = 0; i < NSECTIONS; i++)
		fields[i] = (struct metro_yfield){sections[i].key, sections[i].required};
	yaml_node_t *v[NSECTIONS];
	metro_y_map(f, metro_y_root(f), "", fields, NSECTIONS, v);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (v[i])
			sections[i].validate(&L, v[i]);
	check_whole(&L, v);
	if (metro_diag_count(f->diag) != before) {
		metro_procedure_destroy(&p);
		return METRO_E_INVAL;
	}
	*out = p;
	return METRO_OK;
}

int metro_procedure_load(const char *path, struct metro_diag *diag, struct metro_procedure **out)
{
	struct metro_yfile *f;
	*out = NULL;
	if (metro_yfile_load(path, diag, &f))
		return METRO_E_INVAL;
	int err = load(f, path, out);
	metro_yfile_destroy(&f);
	return err;
}

int metro_procedure_load_buffer(const char *name, const char *buf, size_t len,
				struct metro_diag *diag, struct metro_procedure **out)
{
	struct metro_yfile *f;
	*out = NULL;
	if (metro_yfile_load_buffer(name, (const unsigned char *)buf, len, diag, &f))
		return METRO_E_INVAL;
	int err = load(f, name, out);
	metro_yfile_destroy(&f);
	return err;
}

void metro_procedure_destroy(struct metro_procedure **pp)
{
	struct metro_procedure *p = *pp;
	if (!p)
		return;
	for (size_t i = 0; i < p->nfields; i++) {
		free(p->fields[i].name);
		free(p->fields[i].unit);
		for (size_t j = 0; j < p->fields[i].nvalues; j++)
			free(p->fields[i].values[j]);
		free(p->fields[i].values);
	}
	free(p->fields);
	for (size_t i = 0; i < p->nparams; i++)
		free(p->params[i].name);
	free(p->params);
	for (size_t i = 0; i < p->nconditions; i++) {
		free(p->conditions[i].channel);
		free(p->conditions[i].unit);
		free(p->conditions[i].minus);
		metro_expr_destroy(&p->conditions[i].when);
	}
	free(p->conditions);
	for (size_t i = 0; i < p->nitems; i++) {
		struct metro_proc_item *it = &p->items[i];
		free(it->id);
		free(it->title);
		free(it->prompt);
		free(it->sensor);
		free(it->stab_channel);
		free(it->pf);
		metro_expr_destroy(&it->flow);
		metro_expr_destroy(&it->window_min);
		metro_expr_destroy(&it->window_max);
		metro_expr_destroy(&it->volume_l);
		metro_expr_destroy(&it->current);
		metro_expr_destroy(&it->voltage);
		metro_expr_destroy(&it->energy_kwh);
		free(it->unit);
		free(it->channel);
		metro_expr_destroy(&it->limit_min);
		metro_expr_destroy(&it->limit_max);
		free(it->only_field);
		for (size_t j = 0; j < it->nonly; j++)
			free(it->only_values[j]);
		free(it->only_values);
		metro_expr_destroy(&it->resolution_kwh);
	}
	free(p->items);
	free(p->names);
	free(p->path);
	free(p->id);
	free(p->title);
	free(p->cert_instrument);
	free(p->cert_note);
	for (size_t i = 0; i < p->ncert_rules; i++) {
		struct metro_cert_rule *r = &p->cert_rules[i];
		for (size_t j = 0; j < r->nconds; j++) {
			free(r->conds[j].field);
			for (size_t k = 0; k < r->conds[j].nvalues; k++)
				free(r->conds[j].values[k]);
			free(r->conds[j].values);
		}
		free(r->conds);
		free(r->note);
	}
	free(p->cert_rules);
	free(p->regulation);
	free(p->edition);
	free(p->meter);
	free(p->rig);
	free(p->verification);
	free(p->limits);
	free(p);
	*pp = NULL;
}

const struct metro_proc_field *metro_procedure_field(const struct metro_procedure *p,
						     const char *name)
{
	for (size_t i = 0; i < p->nfields; i++)
		if (p->fields[i].name && !strcmp(p->fields[i].name, name))
			return &p->fields[i];
	return NULL;
}

struct metro_dec metro_procedure_param(const struct metro_procedure *p, const char *name,
				       struct metro_dec dflt)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (!strcmp(p->params[i].name, name))
			return p->params[i].value;
	return dflt;
}

const struct metro_cert_rule *
metro_procedure_cert_rule(const struct metro_procedure *p,
			  const char *(*value)(const char *field, void *arg), void *arg)
{
	for (size_t i = 0; i < p->ncert_rules; i++) {
		const struct metro_cert_rule *r = &p->cert_rules[i];
		int match = 1;
		for (size_t j = 0; match && j < r->nconds; j++) {
			const struct metro_cert_cond *c = &r->conds[j];
			const char *s = value(c->field, arg);
			struct metro_dec d;
			match = 0; /* a field not recorded, or not a number: no rule can apply */
			if (s && c->is_text) {
				for (size_t k = 0; k < c->nvalues; k++)
					match |= !strcmp(c->values[k], s);
			} else if (s && !metro_dec_parse(s, &d)) {
				match = !(c->has_min && metro_dec_cmp(d, c->min) < 0) &&
					!(c->has_max && metro_dec_cmp(d, c->max) > 0);
			}
		}
		if (match)
			return r;
	}
	return NULL;
}
