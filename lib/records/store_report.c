/* store_report.c — typed reads for reports and exports: the station, positions with their
 * verdicts, recorded points, checkpoints (store_report.h). */
#include "store_report.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "error.h"
#include "store_int.h"
#include "util.h"

/* Text of a column, NULL for SQL NULL. */
static const char *col_text(sqlite3_stmt *st, int c)
{
	return sqlite3_column_type(st, c) == SQLITE_NULL ? NULL
							 : (const char *)sqlite3_column_text(st, c);
}

/* A statement of its own (not the cache): fn may use the store while a walk is under way. */
static sqlite3_stmt *walk_prepare(struct metro_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		st_sqlfail(s, rc, "report query");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* ---- the station --------------------------------------------------------------------------- */

int metro_store_station_info(struct metro_store *s, struct metro_store_station_info *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = walk_prepare(
		s, s->schema >= 5 ? "SELECT station, name, institution, authorisation, address, "
				    "phone, postcode FROM stations ORDER BY id LIMIT 1"
				  : "SELECT station, name, institution, authorisation, address, "
				    "NULL, NULL FROM stations ORDER BY id LIMIT 1");
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		char **f[] = {&out->station, &out->name,  &out->institution, &out->authorisation,
			      &out->address, &out->phone, &out->postcode};
		for (int i = 0; i < (int)METRO_ARRAY_SIZE(f); i++)
			if (sqlite3_column_type(st, i) == SQLITE_TEXT)
				*f[i] = metro_strdup((const char *)sqlite3_column_text(st, i));
	} else if (rc == SQLITE_DONE) {
		err = st_refuse(s, METRO_E_NOTFOUND, "no station is recorded");
	} else {
		err = st_sqlfail(s, rc, "station");
	}
	sqlite3_finalize(st);
	return err;
}

void metro_store_station_info_free(struct metro_store_station_info *st)
{
	free(st->station);
	free(st->name);
	free(st->institution);
	free(st->authorisation);
	free(st->address);
	free(st->phone);
	free(st->postcode);
	memset(st, 0, sizeof *st);
}

/* ---- positions with a verdict -------------------------------------------------------------- */

/* The latest certificate or notice issued for the position p of a query. */
#define LATEST_CERTIFICATE                                                                    \
	"(SELECT number FROM certificates c WHERE c.run = p.run AND c.position = p.position " \
	"ORDER BY c.id DESC LIMIT 1)"

int metro_store_each_verdict(struct metro_store *s, metro_store_verdict_fn fn, void *arg)
{
	sqlite3_stmt *st = walk_prepare(
		s, "SELECT r.id, r.started, r.verification_type, r.simulated, g.kind, r.client, "
		   "p.position, p.verdict, v.chain_seq, m.serial, m.model, m.manufacturer, "
		   "m.accuracy_class, m.nameplate, " LATEST_CERTIFICATE " "
		   "FROM positions p JOIN runs r ON r.id = p.run JOIN meters m ON m.id = p.meter "
		   "LEFT JOIN rigs g ON g.rig = r.rig LEFT JOIN verdicts v ON v.id = p.verdict_id "
		   "WHERE p.verdict IS NOT NULL ORDER BY r.id, p.position");
	if (!st)
		return METRO_E_IO;
	int rc = SQLITE_DONE, stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct metro_store_verdict_row row = {
			.run = sqlite3_column_int64(st, 0),
			.started = col_text(st, 1),
			.verification_type = col_text(st, 2),
			.simulated = sqlite3_column_int(st, 3),
			.rig_kind = col_text(st, 4),
			.client = col_text(st, 5),
			.position = sqlite3_column_int(st, 6),
			.verdict = col_text(st, 7),
			.chain_seq = sqlite3_column_int64(st, 8),
			.serial = col_text(st, 9),
			.model = col_text(st, 10),
			.manufacturer = col_text(st, 11),
			.accuracy_class = col_text(st, 12),
			.nameplate = col_text(st, 13),
			.certificate = col_text(st, 14),
		};
		stop = fn(arg, &row);
	}
	int err = stop ? stop : rc == SQLITE_DONE ? METRO_OK : st_sqlfail(s, rc, "positions");
	sqlite3_finalize(st);
	return err;
}

/* ---- recorded points ----------------------------------------------------------------------- */

int metro_store_each_point(struct metro_store *s, metro_store_point_fn fn, void *arg)
{
	sqlite3_stmt *st = walk_prepare(
		s, "SELECT r.id, r.started, r.rig, g.kind, r.verification_type, r.simulated, "
		   "p.position, m.serial, m.model, m.manufacturer, m.accuracy_class, "
		   "pt.test_point, pt.attempt, pt.error, pt.rounded, pt.mpe, pt.verdict, "
		   "p.verdict, " LATEST_CERTIFICATE ", pt.recorded, pt.chain_seq "
		   "FROM points pt JOIN positions p ON p.run = pt.run AND "
		   "p.position = pt.position JOIN runs r ON r.id = pt.run "
		   "JOIN meters m ON m.id = p.meter LEFT JOIN rigs g ON g.rig = r.rig "
		   "ORDER BY r.id, p.position, pt.id");
	if (!st)
		return METRO_E_IO;
	int rc = SQLITE_DONE, stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct metro_store_point_row row = {
			.run = sqlite3_column_int64(st, 0),
			.started = col_text(st, 1),
			.rig = col_text(st, 2),
			.rig_kind = col_text(st, 3),
			.verification_type = col_text(st, 4),
			.simulated = sqlite3_column_int(st, 5),
			.position = sqlite3_column_int(st, 6),
			.serial = col_text(st, 7),
			.model = col_text(st, 8),
			.manufacturer = col_text(st, 9),
			.accuracy_class = col_text(st, 10),
			.test_point = col_text(st, 11),
			.attempt = sqlite3_column_int(st, 12),
			.error = col_text(st, 13),
			.rounded = col_text(st, 14),
			.mpe = col_text(st, 15),
			.verdict = col_text(st, 16),
			.meter_verdict = col_text(st, 17),
			.certificate = col_text(st, 18),
			.recorded = col_text(st, 19),
			.chain_seq = sqlite3_column_int64(st, 20),
		};
		stop = fn(arg, &row);
	}
	int err = stop ? stop : rc == SQLITE_DONE ? METRO_OK : st_sqlfail(s, rc, "points");
	sqlite3_finalize(st);
	return err;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

int metro_store_checkpoint_get(struct metro_store *s, int64_t epoch,
			       struct metro_audit_checkpoint *cp)
{
	int err = metro_audit_checkpoint_load(s->db, epoch, cp);
	if (err == METRO_E_NOTFOUND)
		return st_refuse(s, err, "no checkpoint%s", epoch ? " with that epoch" : "");
	if (err)
		return st_refuse(s, err, "the checkpoint cannot be read: %s", metro_strerror(err));
	return METRO_OK;
}

/* ---- certificates and their steps ---------------------------------------------------------- */

static char *dup_col(sqlite3_stmt *st, int c)
{
	const char *t = col_text(st, c);
	return t ? metro_strdup(t) : NULL;
}

int metro_store_cert_status(struct metro_store *s, const char *number,
			    struct metro_store_cert_status *out)
{
	memset(out, 0, sizeof *out);
	int v4 = s->schema >= 4;
	sqlite3_stmt *st = walk_prepare(
		s, v4 ? "SELECT number, kind, run, position, verdict, issued, coalesce(workflow, "
			"-1), replaces, (SELECT number FROM certificates r WHERE r.replaces = "
			"c.number) FROM certificates c WHERE number = ?"
		      : "SELECT number, kind, run, position, verdict, issued, -1, NULL, NULL FROM "
			"certificates c WHERE number = ?");
	if (!st)
		return METRO_E_IO;
	sqlite3_bind_text(st, 1, number ? number : "", -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		out->number = dup_col(st, 0);
		out->kind = dup_col(st, 1);
		out->run = sqlite3_column_int64(st, 2);
		out->position = sqlite3_column_int(st, 3);
		out->verdict = sqlite3_column_int64(st, 4);
		out->numbered = dup_col(st, 5);
		out->workflow = sqlite3_column_int(st, 6);
		out->replaces = dup_col(st, 7);
		out->replaced_by = dup_col(st, 8);
	} else {
		err = rc == SQLITE_DONE
			      ? st_refuse(s, METRO_E_NOTFOUND, "no certificate or notice %s",
					  number ? number : "")
			      : st_sqlfail(s, rc, "certificates");
	}
	sqlite3_finalize(st);
	if (!err && v4) {
		st = walk_prepare(s, "SELECT step, person, person_name, role, qualification, "
				     "qualification_due, time, recorded, why, replaces, statement, "
				     "signature, sign_pk, chain_seq FROM certificate_steps WHERE "
				     "certificate = ? ORDER BY id");
		if (!st)
			err = METRO_E_IO;
		else {
			sqlite3_bind_text(st, 1, number, -1, SQLITE_TRANSIENT);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				out->steps = metro_realloc(out->steps,
							   (out->nsteps + 1) * sizeof *out->steps);
				struct metro_store_cert_step_row *r = &out->steps[out->nsteps++];
				char **f[] = {
					&r->step,     &r->person,	 &r->person_name,
					&r->role,     &r->qualification, &r->qualification_due,
					&r->time,     &r->recorded,	 &r->why,
					&r->replaces, &r->statement,	 &r->signature,
					&r->sign_pk};
				for (int i = 0; i < (int)METRO_ARRAY_SIZE(f); i++)
					*f[i] = dup_col(st, i);
				r->chain_seq = sqlite3_column_int64(st, 13);
			}
			if (rc != SQLITE_DONE)
				err = st_sqlfail(s, rc, "certificate_steps");
			sqlite3_finalize(st);
		}
	}
	if (!err) {
		out->state = out->workflow == 1 ? "numbered" : "issued";
		out->issued = out->workflow != 1;
		for (size_t i = 0; i < out->nsteps; i++) {
			const char *k = out->steps[i].step ? out->steps[i].step : "";
			static const char *const names[] = {"verified", "checked", "approved",
							    "issued", "voided"};
			for (size_t j = 0; j < METRO_ARRAY_SIZE(names); j++)
				if (!strcmp(k, names[j]))
					out->state = names[j];
			if (!strcmp(k, "issued"))
				out->issued = 1;
			if (!strcmp(k, "voided"))
				out->voided = 1;
		}
	}
	if (err)
		metro_store_cert_status_free(out);
	return err;
}

void metro_store_cert_status_free(struct metro_store_cert_status *c)
{
	for (size_t i = 0; i < c->nsteps; i++) {
		struct metro_store_cert_step_row *r = &c->steps[i];
		char *f[] = {r->step,	  r->person,	    r->person_name,
			     r->role,	  r->qualification, r->qualification_due,
			     r->time,	  r->recorded,	    r->why,
			     r->replaces, r->statement,	    r->signature,
			     r->sign_pk};
		for (size_t j = 0; j < METRO_ARRAY_SIZE(f); j++)
			free(f[j]);
	}
	free(c->steps);
	free(c->number);
	free(c->kind);
	free(c->numbered);
	free(c->replaces);
	free(c->replaced_by);
	memset(c, 0, sizeof *c);
}
