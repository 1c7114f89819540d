/* metroctl_report_household.c — the household-meter rule (metroctl_report_household.h). */
#include "metroctl_report_household.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "diag.h"
#include "util.h"
#include "yfile.h"

void rpt_household_free(struct rpt_household *h)
{
	free(h->path);
	for (size_t i = 0; i < h->nconnection; i++)
		free(h->connection[i]);
	for (size_t i = 0; i < h->nphases; i++)
		free(h->phases[i]);
	memset(h, 0, sizeof *h);
}

/* A decimal limit > 0 of the rule. */
static void limit(struct metro_yfile *f, yaml_node_t *n, const char *name, struct metro_dec *out)
{
	char *t = NULL;
	if (metro_y_number_text(f, n, name, &t))
		return;
	if (metro_dec_parse(t, out) || metro_dec_sign(*out) <= 0)
		metro_y_error(f, n, "%s: a number greater than 0 is expected", name);
	free(t);
}

/* A list of text values (1..RPT_HH_MAX_VALUES). */
static void values(struct metro_yfile *f, yaml_node_t *n, const char *name, char **out,
		   size_t *nout)
{
	int len = metro_y_seq(f, n, name);
	if (len < 0)
		return;
	if (len < 1 || len > RPT_HH_MAX_VALUES) {
		metro_y_error(f, n, "%s: a list of 1 to %d values is expected", name,
			      RPT_HH_MAX_VALUES);
		return;
	}
	for (int i = 0; i < len; i++) {
		char *s = NULL;
		if (!metro_y_str(f, metro_y_seq_at(f, n, i), metro_yindex(name, i).s, 16, &s))
			out[(*nout)++] = s;
	}
}

static int load(struct rpt_household *h, const char *name, struct metro_yfile *f,
		struct metro_diag *d)
{
	static const struct metro_yfield top[] = {{"water", 1}, {"electricity", 1}, {"gas", 1}};
	static const struct metro_yfield wf[] = {{"dn_max", 1}, {"q3_max", 1}};
	static const struct metro_yfield ef[] = {{"connection", 1}, {"phases", 1}};
	static const struct metro_yfield gf[] = {{"qmax_max", 1}};
	yaml_node_t *v[3] = {0}, *w[2] = {0}, *e[2] = {0}, *g[1] = {0};
	metro_y_map(f, metro_y_root(f), "", top, 3, v);
	if (v[0] && !metro_y_map(f, v[0], "water", wf, 2, w)) {
		limit(f, w[0], "water.dn_max", &h->water_dn_max);
		limit(f, w[1], "water.q3_max", &h->water_q3_max);
	}
	if (v[1] && !metro_y_map(f, v[1], "electricity", ef, 2, e)) {
		values(f, e[0], "electricity.connection", h->connection, &h->nconnection);
		values(f, e[1], "electricity.phases", h->phases, &h->nphases);
	}
	if (v[2] && !metro_y_map(f, v[2], "gas", gf, 1, g))
		limit(f, g[0], "gas.qmax_max", &h->gas_qmax_max);
	metro_yfile_destroy(&f);
	if (metro_diag_count(d)) {
		metro_diag_print(d, stderr);
		fprintf(stderr,
			"metroctl: %s: the household rule has errors; nothing was written\n", name);
		metro_diag_free(d);
		rpt_household_free(h);
		return -1;
	}
	metro_diag_free(d);
	h->path = metro_strdup(name);
	return 0;
}

int rpt_household_load(struct rpt_household *h, const char *path)
{
	struct metro_diag d;
	struct metro_yfile *f;
	memset(h, 0, sizeof *h);
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	return load(h, path, f, &d);
}

int rpt_household_load_buffer(struct rpt_household *h, const char *name, const char *text)
{
	struct metro_diag d;
	struct metro_yfile *f;
	memset(h, 0, sizeof *h);
	metro_diag_init(&d);
	if (metro_yfile_load_buffer(name, (const unsigned char *)text, strlen(text), &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	return load(h, name, f, &d);
}

/* A nameplate number: a JSON number or a decimal string.  Returns 0, 1 absent, -1 not a
 * number. */
static int np_dec(json_t *np, const char *key, struct metro_dec *out)
{
	json_t *v = json_object_get(np, key);
	if (!v || json_is_null(v))
		return 1;
	if (json_is_string(v))
		return metro_dec_parse(json_string_value(v), out) ? -1 : 0;
	if (json_is_integer(v))
		*out = metro_dec_e(json_integer_value(v), 0);
	else if (json_is_real(v))
		*out = metro_dec_from_double(json_real_value(v));
	else
		return -1;
	return metro_dec_valid(*out) ? 0 : -1;
}

/* A nameplate text (a string, or an integer written as one: phases 1). */
static const char *np_text(json_t *np, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(np, key);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

static int listed(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

/* At most the limit: 1; above: 0; not a number: -1 with why. */
static int at_most(json_t *np, const char *key, struct metro_dec max, char *why, size_t cap)
{
	struct metro_dec x;
	int rc = np_dec(np, key, &x);
	if (rc) {
		snprintf(why, cap, "the nameplate's %s %s", key,
			 rc > 0 ? "is not recorded" : "is not a number");
		return -1;
	}
	return metro_dec_cmp(x, max) <= 0;
}

int rpt_household_match(const struct rpt_household *h, const char *kind, const char *nameplate,
			char *why, size_t cap)
{
	json_t *np = nameplate ? json_loads(nameplate, 0, NULL) : NULL;
	int rc = -1;
	snprintf(why, cap, "%s", "");
	if (!json_is_object(np)) {
		snprintf(why, cap, "no nameplate is recorded");
	} else if (kind && !strcmp(kind, "water")) {
		/* DN when the nameplate gives it, else Q3. */
		rc = json_object_get(np, "dn") ? at_most(np, "dn", h->water_dn_max, why, cap)
					       : at_most(np, "q3", h->water_q3_max, why, cap);
		if (rc < 0 && !json_object_get(np, "dn") && !json_object_get(np, "q3"))
			snprintf(why, cap, "the nameplate gives neither dn nor q3");
	} else if (kind && !strcmp(kind, "gas")) {
		rc = at_most(np, "qmax", h->gas_qmax_max, why, cap);
	} else if (kind && !strcmp(kind, "electricity")) {
		char b1[24], b2[24];
		const char *conn = np_text(np, "connection", b1, sizeof b1);
		const char *ph = np_text(np, "phases", b2, sizeof b2);
		if (!conn || !ph)
			snprintf(why, cap, "the nameplate's %s is not recorded",
				 !conn ? "connection" : "phases");
		else
			rc = listed(h->connection, h->nconnection, conn) &&
			     listed(h->phases, h->nphases, ph);
	} else {
		snprintf(why, cap, "the meter kind %s is not known", kind ? kind : "(none)");
	}
	json_decref(np);
	return rc;
}
