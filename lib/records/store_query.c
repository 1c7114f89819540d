/* store_query.c — reading the record store as JSON: runs, a run, committed points, the
 * evidence behind a certificate (trace), the standards on a day (store.h). */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

/* ---- queries ------------------------------------------------------------------------------- */

/* Columns that hold JSON text: embedded as JSON in query results. */
static int json_column(const char *name)
{
	static const char *const cols[] = {
		"readings",	"intermediates", "environment", "parameters", "nameplate",
		"failed_items", "old",		 "new",		"standards",  "body"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cols); i++)
		if (!strcmp(name, cols[i]))
			return 1;
	return 0;
}

/* The current row as a JSON object; tracks the highest chain_seq seen in *maxseq. */
static json_t *row_json(sqlite3_stmt *st, int64_t *maxseq)
{
	json_t *o = json_object();
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		const char *name = sqlite3_column_name(st, c);
		json_t *v = NULL;
		if (sqlite3_column_type(st, c) == SQLITE_TEXT && json_column(name))
			v = json_loads((const char *)sqlite3_column_text(st, c), JSON_DECODE_ANY,
				       NULL);
		if (!v)
			v = st_col_json(st, c);
		if (maxseq && !strcmp(name, "chain_seq") && json_integer_value(v) > *maxseq)
			*maxseq = json_integer_value(v);
		json_object_set_new(o, name, v);
	}
	return o;
}

/* Every row of a query as a JSON array (0 and *out, or an error). */
static int rows_json(struct metro_store *s, json_t **out, int64_t *maxseq, const char *sql,
		     const char *fmt, ...)
{
	*out = NULL;
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, 0, fmt, ap);
	va_end(ap);
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, row_json(st, maxseq));
	int err = rc == SQLITE_DONE ? METRO_OK : st_sqlfail(s, rc, "query");
	sqlite3_reset(st);
	if (err)
		json_decref(a);
	else
		*out = a;
	return err;
}

/* The first row as an object; METRO_E_NOTFOUND when there is none. */
static int row1_json(struct metro_store *s, json_t **out, int64_t *maxseq, const char *sql,
		     const char *fmt, int64_t arg)
{
	json_t *a;
	int err = rows_json(s, &a, maxseq, sql, fmt, arg);
	if (err)
		return err;
	*out = json_incref(json_array_get(a, 0));
	json_decref(a);
	return *out ? METRO_OK : METRO_E_NOTFOUND;
}

int metro_store_runs(struct metro_store *s, size_t limit, json_t **out)
{
	return rows_json(s, out, NULL,
			 "SELECT r.id, r.rig, r.state, r.verification_type, r.operator, "
			 "r.simulated, r.started, r.ended, r.resumed_from, p.name AS procedure, "
			 "p.sha256 AS procedure_sha256, (SELECT count(*) FROM positions x WHERE "
			 "x.run = r.id) AS positions FROM runs r JOIN procedures p ON p.id = "
			 "r.procedure ORDER BY r.id DESC LIMIT ?",
			 "l", (int64_t)(limit ? limit : 100));
}

/* Whether a procedure's or profile's stored content still has its stored SHA-256. */
static void content_check(json_t *o)
{
	const char *content = json_string_value(json_object_get(o, "content"));
	char hex[METRO_SHA256_HEX];
	metro_sha256_hex(content ? content : "", content ? strlen(content) : 0, hex);
	const char *stored = json_string_value(json_object_get(o, "sha256"));
	json_object_set_new(o, "content_matches_sha256",
			    json_boolean(content && stored && !strcmp(stored, hex)));
}

/* The run with its procedure and rig profile (name, hash, whether the content still has that
 * hash) and software.  A run recorded without a profile (before schema 3) has "profile"
 * null, or no such member when the file has no such column. */
static int run_json(struct metro_store *s, int64_t run, json_t **out, int64_t *maxseq)
{
	json_t *r, *p = NULL, *sw = NULL, *pf = NULL;
	int err = row1_json(s, &r, maxseq, "SELECT * FROM runs WHERE id = ?", "l", run);
	if (err == METRO_E_NOTFOUND)
		return st_refuse(s, err, "run %lld does not exist", (long long)run);
	if (err)
		return err;
	err = row1_json(s, &p, maxseq, "SELECT * FROM procedures WHERE id = ?", "l",
			json_integer_value(json_object_get(r, "procedure")));
	if (!err) {
		content_check(p);
		json_object_set_new(r, "procedure", p);
		err = row1_json(s, &sw, maxseq, "SELECT * FROM software WHERE id = ?", "l",
				json_integer_value(json_object_get(r, "software")));
	}
	if (!err)
		json_object_set_new(r, "software", sw);
	if (!err && json_is_integer(json_object_get(r, "profile"))) {
		err = row1_json(s, &pf, maxseq, "SELECT * FROM profiles WHERE id = ?", "l",
				json_integer_value(json_object_get(r, "profile")));
		if (!err) {
			content_check(pf);
			json_object_set_new(r, "profile", pf);
		}
	}
	if (err) {
		json_decref(r);
		return err == METRO_E_NOTFOUND ? METRO_E_CORRUPT : err;
	}
	*out = r;
	return METRO_OK;
}

static int set_rows(struct metro_store *s, json_t *obj, const char *key, int64_t *maxseq,
		    const char *sql, const char *fmt, int64_t a, int b)
{
	json_t *rows;
	int err = rows_json(s, &rows, maxseq, sql, fmt, a, b);
	if (!err)
		json_object_set_new(obj, key, rows);
	return err;
}

/* Each certificate of a list (rows of certificates) gets its signed steps ("steps", schema 4;
 * none before), where it stands ("state": numbered, verified, checked, approved, issued or
 * voided, as metro_store_cert_status says), "printable" (issued and not voided) and
 * "replaced_by" (the reissue of a voided one, or null). */
static int add_steps(struct metro_store *s, json_t *certs, int64_t *maxseq)
{
	size_t i;
	json_t *c;
	json_array_foreach (certs, i, c) {
		const char *number = json_string_value(json_object_get(c, "number"));
		json_t *steps = NULL, *by = NULL;
		int err = METRO_OK;
		if (s->schema >= 4) {
			err = rows_json(s, &steps, maxseq,
					"SELECT * FROM certificate_steps WHERE certificate = ? "
					"ORDER BY id",
					"t", number);
			if (!err)
				err = rows_json(
					s, &by, NULL,
					"SELECT number FROM certificates WHERE replaces = ?", "t",
					number);
		} else {
			steps = json_array();
			by = json_array();
		}
		if (err)
			return err;
		int workflow = json_integer_value(json_object_get(c, "workflow")) == 1;
		const char *state = workflow ? "numbered" : "issued";
		int issued = !workflow, voided = 0;
		size_t k;
		json_t *x;
		json_array_foreach (steps, k, x) {
			state = json_string_value(json_object_get(x, "step"));
			issued |= !strcmp(state, "issued");
			voided |= !strcmp(state, "voided");
		}
		json_object_set_new(c, "state", json_string(state));
		json_object_set_new(c, "printable", json_boolean(issued && !voided));
		json_t *r = json_object_get(json_array_get(by, 0), "number");
		json_object_set_new(c, "replaced_by", r ? json_incref(r) : json_null());
		json_object_set_new(c, "steps", steps);
		json_decref(by);
	}
	return METRO_OK;
}

int metro_store_run(struct metro_store *s, int64_t run, json_t **out)
{
	json_t *r = NULL;
	*out = NULL;
	int err = run_json(s, run, &r, NULL);
	if (err)
		return err;
	err = set_rows(s, r, "standards", NULL,
		       "SELECT * FROM run_standards WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "positions", NULL,
			       "SELECT p.position, p.verdict, p.verdict_id, m.serial, m.model, "
			       "m.manufacturer, m.pattern_approval, m.accuracy_class, m.nameplate "
			       "FROM positions p JOIN meters m ON m.id = p.meter WHERE p.run = ? "
			       "ORDER BY p.position",
			       "l", run, 0);
	if (!err)
		err = set_rows(s, r, "points", NULL,
			       "SELECT * FROM points WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "verdicts", NULL,
			       "SELECT * FROM verdicts WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "inputs", NULL,
			       "SELECT * FROM inputs WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "certificates", NULL,
			       "SELECT * FROM certificates WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = add_steps(s, json_object_get(r, "certificates"), NULL);
	if (err)
		json_decref(r);
	else
		*out = r;
	return err;
}

int metro_store_committed_points(struct metro_store *s, int64_t run, json_t **out)
{
	return rows_json(s, out, NULL,
			 "WITH RECURSIVE lineage(id) AS (SELECT ? UNION SELECT r.resumed_from "
			 "FROM runs r JOIN lineage l ON r.id = l.id WHERE r.resumed_from IS NOT "
			 "NULL) SELECT run, position, test_point, attempt, verdict, error, rounded "
			 "FROM points WHERE run IN (SELECT id FROM lineage) ORDER BY position, "
			 "test_point, attempt, run",
			 "l", run);
}

/* The evidence for one (run, position). */
static int evidence(struct metro_store *s, int64_t run, int position, json_t **out)
{
	int64_t maxseq = 0;
	json_t *e = json_object(), *r = NULL;
	int err = run_json(s, run, &r, &maxseq);
	if (!err) {
		json_object_set_new(e, "run", r);
		json_object_set_new(e, "position", json_integer(position));
	}
	if (!err) {
		json_t *a;
		err = rows_json(s, &a, &maxseq,
				"SELECT m.* FROM meters m JOIN positions p ON p.meter = m.id WHERE "
				"p.run = ? AND p.position = ?",
				"li", run, position);
		if (!err) {
			json_object_set_new(e, "meter", json_incref(json_array_get(a, 0)));
			json_decref(a);
		}
	}
	if (!err)
		err = set_rows(s, e, "standards", &maxseq,
			       "SELECT * FROM run_standards WHERE run = ? ORDER BY id", "l", run,
			       0);
	if (!err)
		err = set_rows(s, e, "position_record", &maxseq,
			       "SELECT * FROM positions WHERE run = ? AND position = ?", "li", run,
			       position);
	if (!err)
		err = set_rows(
			s, e, "points", &maxseq,
			"WITH RECURSIVE lineage(id) AS (SELECT ? UNION SELECT r.resumed_from "
			"FROM runs r JOIN lineage l ON r.id = l.id WHERE r.resumed_from IS "
			"NOT NULL) SELECT * FROM points WHERE run IN (SELECT id FROM lineage) "
			"AND position = ? ORDER BY run, id",
			"li", run, position);
	if (!err)
		err = set_rows(s, e, "verdicts", &maxseq,
			       "SELECT * FROM verdicts WHERE run = ? AND position = ? ORDER BY id",
			       "li", run, position);
	if (!err)
		err = set_rows(s, e, "inputs", &maxseq,
			       "SELECT * FROM inputs WHERE run = ? AND (position IS NULL OR "
			       "position = ?) ORDER BY id",
			       "li", run, position);
	if (!err)
		err = set_rows(s, e, "certificates", &maxseq,
			       "SELECT * FROM certificates WHERE run = ? AND position = ? ORDER BY "
			       "id",
			       "li", run, position);
	if (!err)
		err = add_steps(s, json_object_get(e, "certificates"), &maxseq);
	if (!err) {
		json_t *cp;
		err = rows_json(
			s, &cp, NULL,
			"SELECT epoch, short_id AS id, head_seq, time FROM checkpoints WHERE "
			"head_seq >= ? ORDER BY epoch LIMIT 1",
			"l", maxseq);
		if (!err) {
			json_t *first = json_array_get(cp, 0);
			json_object_set_new(e, "signed_by",
					    first ? json_incref(first) : json_null());
			json_object_set_new(e, "max_chain_seq", json_integer(maxseq));
			json_decref(cp);
		}
	}
	if (err)
		json_decref(e);
	else
		*out = e;
	return err;
}

int metro_store_trace(struct metro_store *s, const char *what, json_t **out)
{
	*out = NULL;
	if (st_empty(what))
		return st_refuse(s, METRO_E_INVAL, "trace needs a certificate number or a serial");
	sqlite3_stmt *st =
		st_query(s,
			 "SELECT run, position, 'certificate' FROM certificates WHERE "
			 "number = ?1 UNION ALL SELECT p.run, p.position, 'serial' FROM "
			 "positions p JOIN meters m ON m.id = p.meter WHERE m.serial = ?1 "
			 "ORDER BY 1, 2",
			 "t", what);
	if (!st)
		return METRO_E_IO;
	int64_t(*pairs)[2] = NULL;
	size_t n = 0;
	int rc, by_cert = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		by_cert |= !strcmp((const char *)sqlite3_column_text(st, 2), "certificate");
		pairs = metro_realloc(pairs, (n + 1) * sizeof *pairs);
		pairs[n][0] = sqlite3_column_int64(st, 0);
		pairs[n][1] = sqlite3_column_int64(st, 1);
		n++;
	}
	int err = rc == SQLITE_DONE ? METRO_OK : st_sqlfail(s, rc, "trace");
	sqlite3_reset(st);
	if (!err && !n)
		err = st_refuse(s, METRO_E_NOTFOUND, "no certificate and no meter serial '%s'",
				what);
	json_t *res = json_pack("{ss ss}", "query", what, "matched_by",
				by_cert ? "certificate" : "serial");
	json_t *list = json_array();
	for (size_t i = 0; !err && i < n; i++) {
		json_t *e;
		if (i && pairs[i][0] == pairs[i - 1][0] && pairs[i][1] == pairs[i - 1][1])
			continue;
		err = evidence(s, pairs[i][0], (int)pairs[i][1], &e);
		if (!err)
			json_array_append_new(list, e);
	}
	free(pairs);
	json_object_set_new(res, "results", list);
	if (err)
		json_decref(res);
	else
		*out = res;
	return err;
}

int metro_store_standards(struct metro_store *s, const struct metro_date *day, json_t **out)
{
	json_t *a;
	int err = rows_json(s, &a, NULL, "SELECT * FROM standards ORDER BY std_id", "");
	if (err)
		return err;
	long t = metro_date_days(day);
	size_t i;
	json_t *row;
	json_array_foreach (a, i, row) {
		static const char *const dues[][2] = {{"due", "days_left"},
						      {"assessment_due", "assessment_days_left"}};
		for (size_t k = 0; k < 2; k++) {
			struct metro_date d;
			const char *v = json_string_value(json_object_get(row, dues[k][0]));
			json_object_set_new(row, dues[k][1],
					    v && !metro_date_parse(v, &d)
						    ? json_integer(metro_date_days(&d) - t)
						    : json_null());
		}
	}
	*out = a;
	return METRO_OK;
}
