/* config_standards.c — the `standards` section: the lab's reference standards with their
 * calibration certificates, due dates and uncertainty or accuracy class.  The same validator
 * parses a standard given on its own (metro_standard_conf_parse, the `standard-set` command).
 * docs/configuration.md describes the keys. */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

/* One reference standard; where names it in messages ("standards[2]", "standard"). */
static void standard(struct loader *L, yaml_node_t *n, const char *where,
		     struct metro_standard_conf *s)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},     {"description", 1}, {"serial", 0}, {"certificate", 1},
		{"issuer", 1}, {"calibrated", 1},  {"due", 1},	  {"uncertainty", 0},
		{"class", 0},  {"assessment", 0},  {"range", 0},
	};
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
	s->line = metro_y_line(n);
	if (v[0])
		metro_y_ident(L->f, v[0], metro_ykey(where, "id").s, &s->id);
	if (v[1])
		metro_y_str(L->f, v[1], metro_ykey(where, "description").s, 200, &s->description);
	if (v[2])
		metro_y_str(L->f, v[2], metro_ykey(where, "serial").s, 100, &s->serial);
	if (v[3])
		metro_y_str(L->f, v[3], metro_ykey(where, "certificate").s, 100, &s->certificate);
	if (v[4])
		metro_y_str(L->f, v[4], metro_ykey(where, "issuer").s, 200, &s->issuer);
	int have_cal = v[5] &&
		       !metro_y_date(L->f, v[5], metro_ykey(where, "calibrated").s, &s->calibrated);
	int have_due = v[6] && !metro_y_date(L->f, v[6], metro_ykey(where, "due").s, &s->due);
	/* A calibration that has not happened yet is a wrong date, or a wrong clock: either way
	 * no verdict may rest on it. */
	struct metro_date today = metro_date_today();
	if (have_cal && metro_date_cmp(&s->calibrated, &today) > 0)
		metro_y_error(
			L->f, v[5],
			"%s: standard %s was calibrated on %04d-%02d-%02d, after today: a "
			"calibration date cannot be in the future (is the date, or the system "
			"clock, wrong?)",
			metro_ykey(where, "calibrated").s, s->id ? s->id : "(no id)",
			s->calibrated.year, s->calibrated.month, s->calibrated.day);
	if (have_cal && have_due && metro_date_cmp(&s->calibrated, &s->due) >= 0)
		metro_y_error(L->f, v[6], "%s: due date is not after the calibration date",
			      metro_ykey(where, "due").s);
	if (v[7] && v[8]) {
		metro_y_error(L->f, v[8], "%s: give either uncertainty or class, not both",
			      metro_ykey(where, "class").s);
	} else if (!v[7] && !v[8]) {
		metro_y_error(L->f, n, "%s: an uncertainty or an accuracy class is required",
			      where);
	} else if (v[7]) {
		static const struct metro_yfield uf[] = {{"value", 1}, {"k", 1}};
		yaml_node_t *u[2];
		metro_y_map(L->f, v[7], metro_ykey(where, "uncertainty").s, uf, 2, u);
		if (u[0])
			metro_y_double(L->f, u[0], metro_ykey(where, "uncertainty.value").s, 1e-9,
				       100, &s->uncertainty_pct);
		if (u[1])
			metro_y_double(L->f, u[1], metro_ykey(where, "uncertainty.k").s, 1, 4,
				       &s->k);
	} else {
		metro_y_str(L->f, v[8], metro_ykey(where, "class").s, 16, &s->accuracy_class);
	}
	if (v[9]) {
		static const struct metro_yfield af[] = {{"certificate", 1}, {"due", 1}};
		yaml_node_t *a[2];
		metro_y_map(L->f, v[9], metro_ykey(where, "assessment").s, af, 2, a);
		if (a[0])
			metro_y_str(L->f, a[0], metro_ykey(where, "assessment.certificate").s, 100,
				    &s->assessment_certificate);
		if (a[1])
			metro_y_date(L->f, a[1], metro_ykey(where, "assessment.due").s,
				     &s->assessment_due);
	}
	if (v[10])
		metro_y_str(L->f, v[10], metro_ykey(where, "range").s, 100, &s->measuring_range);
}

void cfg_standards(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "standards");
	if (len < 0)
		return;
	struct metro_config *c = L->c;
	c->standards = metro_calloc((size_t)len, sizeof *c->standards);
	c->nstandards = (size_t)len;
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		standard(L, item, metro_yindex("standards", i).s, &c->standards[i]);
		for (int j = 0; j < i && c->standards[i].id; j++) {
			if (c->standards[j].id && !strcmp(c->standards[j].id, c->standards[i].id)) {
				metro_y_error(L->f, item,
					      "standards[%d].id: duplicate standard id '%s' (first "
					      "defined at line %u)",
					      i, c->standards[i].id, c->standards[j].line);
				break;
			}
		}
	}
}

static void standard_entry(struct loader *L, yaml_node_t *n, const char *where, void *out)
{
	standard(L, n, where, out);
}

int metro_standard_conf_parse(const char *name, const char *text, size_t len, const char *where,
			      struct metro_diag *diag, struct metro_standard_conf *out)
{
	memset(out, 0, sizeof *out);
	int rc = cfg_parse_entry(name, text, len, where, diag, standard_entry, out);
	if (rc)
		metro_standard_conf_free(out);
	return rc;
}

void metro_standard_conf_free(struct metro_standard_conf *s)
{
	free(s->id);
	free(s->description);
	free(s->serial);
	free(s->certificate);
	free(s->issuer);
	free(s->accuracy_class);
	free(s->assessment_certificate);
	free(s->measuring_range);
	memset(s, 0, sizeof *s);
}
