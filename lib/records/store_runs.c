/* store_runs.c — runs in the record store: begin, points, verdicts, inputs, the end,
 * certificates, document seqs and replay, checkpoints (store.h, docs/records.md). */
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

/* ---- runs ---------------------------------------------------------------------------------- */

static int software_id(struct metro_store *s, const char *version, const char *sha, int64_t *id)
{
	char now[40];
	int err = st_query_int(s, id,
			       "SELECT id FROM software WHERE name = 'metrod' AND version = ? AND "
			       "exe_sha256 = ?",
			       "tt", version, sha);
	if (err != METRO_E_NOTFOUND)
		return err;
	st_now_iso(now);
	return st_write_chained(s, "software", METRO_AUDIT_INSERT, 0, id,
				"INSERT INTO software (name, version, exe_sha256, registered, "
				"chain_seq) VALUES ('metrod', ?, ?, ?, :chain_seq)",
				"ttt", version, sha, now);
}

static int meter_id(struct metro_store *s, const struct metro_store_meter *m, int64_t *id)
{
	char now[40];
	char *np = st_dump_json(m->nameplate);
	int err =
		st_query_int(s, id,
			     "SELECT id FROM meters WHERE serial = ? AND model IS ? AND "
			     "manufacturer IS ? AND pattern_approval IS ? AND accuracy_class IS ? "
			     "AND nameplate IS ? ORDER BY id LIMIT 1",
			     "tttttt", m->serial, m->model, m->manufacturer, m->pattern_approval,
			     m->accuracy_class, np);
	if (err == METRO_E_NOTFOUND) {
		st_now_iso(now);
		err = st_write_chained(s, "meters", METRO_AUDIT_INSERT, 0, id,
				       "INSERT INTO meters (serial, model, manufacturer, "
				       "pattern_approval, accuracy_class, nameplate, registered, "
				       "chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, :chain_seq)",
				       "ttttttt", m->serial, m->model, m->manufacturer,
				       m->pattern_approval, m->accuracy_class, np, now);
	}
	free(np);
	return err;
}

/* A standard the run needs: in the registry, active, and neither it nor its assessment
 * certificate past due on the run date. */
static int check_standard(struct metro_store *s, const char *id, const char *day)
{
	sqlite3_stmt *st =
		st_query(s,
			 "SELECT certificate, due, assessment_certificate, assessment_due "
			 "FROM standards WHERE std_id = ? AND active = 1",
			 "t", id);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		const char *cert = (const char *)sqlite3_column_text(st, 0);
		const char *due = (const char *)sqlite3_column_text(st, 1);
		const char *acert = (const char *)sqlite3_column_text(st, 2);
		const char *adue = (const char *)sqlite3_column_text(st, 3);
		/* ISO dates compare as text. */
		if (due && strcmp(due, day) < 0)
			err = st_refuse(
				s, METRO_E_DENIED,
				"standard %s (certificate %s) was due %s; the run date is %s: "
				"recalibrate it or update the registry",
				id, cert ? cert : "?", due, day);
		else if (adue && strcmp(adue, day) < 0)
			err = st_refuse(
				s, METRO_E_DENIED,
				"standard %s: its assessment certificate %s was due %s; the run "
				"date is %s",
				id, acert ? acert : "?", adue, day);
	} else {
		err = rc == SQLITE_DONE
			      ? st_refuse(s, METRO_E_NOTFOUND,
					  "standard %s is not in the registry (or was retired)", id)
			      : st_sqlfail(s, rc, "standards");
	}
	sqlite3_reset(st);
	return err;
}

/* A resume-run's checks: the run it resumes exists, is incomplete, was not resumed already,
 * and used the same rig and procedure. */
static int check_resume(struct metro_store *s, const struct metro_store_run *r)
{
	char *state = NULL, *rig = NULL;
	int64_t proc = 0, x;
	int err = st_query_text(s, &state, "SELECT state FROM runs WHERE id = ?", "l",
				r->resumed_from);
	if (!err)
		err = st_query_text(s, &rig, "SELECT rig FROM runs WHERE id = ?", "l",
				    r->resumed_from);
	if (!err)
		err = st_query_int(s, &proc, "SELECT procedure FROM runs WHERE id = ?", "l",
				   r->resumed_from);
	if (err == METRO_E_NOTFOUND)
		err = st_refuse(s, err, "run %lld does not exist", (long long)r->resumed_from);
	else if (!err && strcmp(state, "incomplete") != 0)
		err = st_refuse(s, METRO_E_STATE,
				"run %lld is %s: only an incomplete run can be resumed",
				(long long)r->resumed_from, state);
	else if (!err && (strcmp(rig, r->rig) != 0 || proc != r->procedure))
		err = st_refuse(s, METRO_E_INVAL,
				"run %lld used rig %s and procedure %lld: a resume must use "
				"the same",
				(long long)r->resumed_from, rig, (long long)proc);
	else if (!err && !st_query_int(s, &x, "SELECT id FROM runs WHERE resumed_from = ?", "l",
				       r->resumed_from))
		err = st_refuse(s, METRO_E_EXISTS, "run %lld was already resumed by run %lld",
				(long long)r->resumed_from, (long long)x);
	free(state);
	free(rig);
	return err;
}

/* A profile's digest and path: 0 and the two texts (caller frees), or an error. */
static int profile_of(struct metro_store *s, const char *sql, const char *fmt, int64_t a,
		      const char *b, int64_t *run, char **sha, char **path)
{
	sqlite3_stmt *st = st_query(s, sql, fmt, a, b);
	*sha = *path = NULL;
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		*sha = metro_strdup((const char *)sqlite3_column_text(st, 0));
		*path = metro_strdup((const char *)sqlite3_column_text(st, 1));
		if (run)
			*run = sqlite3_column_int64(st, 2);
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : st_sqlfail(s, rc, "profiles");
	}
	sqlite3_reset(st);
	return err;
}

/* The run rid names profile r->profile: when the rig's latest earlier run that recorded a
 * profile had another digest, that is an audit event in this transaction. */
static int note_profile(struct metro_store *s, const struct metro_store_run *r, int64_t rid)
{
	char *sha = NULL, *path = NULL, *osha = NULL, *opath = NULL;
	int64_t orun = 0;
	int err = profile_of(s, "SELECT sha256, path, id FROM profiles WHERE id = ?", "l",
			     r->profile, NULL, NULL, &sha, &path);
	if (!err)
		err = profile_of(s,
				 "SELECT p.sha256, p.path, r.id FROM runs r JOIN profiles p ON "
				 "p.id = r.profile WHERE r.id < ? AND r.rig = ? ORDER BY r.id DESC "
				 "LIMIT 1",
				 "lt", rid, r->rig, &orun, &osha, &opath);
	if (err == METRO_E_NOTFOUND) /* the rig's first run with a profile */
		err = METRO_OK;
	else if (!err && sha && osha && strcmp(osha, sha) != 0) {
		char subject[80], why[160];
		json_t *o = json_pack("{ss ss sI}", "sha256", osha, "path", opath, "run",
				      (json_int_t)orun);
		json_t *n = json_pack("{ss ss sI}", "sha256", sha, "path", path, "run",
				      (json_int_t)rid);
		snprintf(subject, sizeof subject, "rig/%s", r->rig);
		snprintf(why, sizeof why,
			 "the rig's profile differs from the one its previous run (run %lld) used",
			 (long long)orun);
		err = st_audit_event(s, "metrod", "profile.changed", subject, o, n, why, NULL);
		json_decref(o);
		json_decref(n);
	}
	free(sha);
	free(path);
	free(osha);
	free(opath);
	return err;
}

/* The INSERT of a run for the file's schema version: version 1 has no client column, versions
 * 1 and 2 no profile (only tests write such files). */
static int insert_run(struct metro_store *s, const struct metro_store_run *r, int64_t sw,
		      const char *now, int64_t *rid)
{
	static const char *const sql[] = {
		"INSERT INTO runs (station, rig, procedure, software, verification_type, operator, "
		"state, simulated, started, started_mono, resumed_from, environment, parameters, "
		"chain_seq) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, :chain_seq)",
		"INSERT INTO runs (station, rig, procedure, software, verification_type, operator, "
		"state, simulated, started, started_mono, resumed_from, environment, parameters, "
		"client, chain_seq) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, "
		":chain_seq)",
		"INSERT INTO runs (station, rig, procedure, software, verification_type, operator, "
		"state, simulated, started, started_mono, resumed_from, environment, parameters, "
		"client, profile, chain_seq) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, "
		"?, "
		"?, ?, :chain_seq)",
	};
	static const char *const fmt[] = {"ttllttitlzjj", "ttllttitlzjjt", "ttllttitlzjjtz"};
	int v = s->schema >= 3 ? 2 : s->schema >= 2 ? 1 : 0;
	return st_write_chained(s, "runs", METRO_AUDIT_INSERT, 0, rid, sql[v], fmt[v], s->station,
				r->rig, r->procedure, sw, r->verification_type, r->operator_id,
				!!r->simulated, now, (int64_t)metro_now_ns(), r->resumed_from,
				r->environment, r->parameters, r->client, r->profile);
}

static int begin_run(struct metro_store *s, const struct metro_store_run *r, int64_t *run_id)
{
	char now[40], day[11];
	struct metro_date d;
	int64_t sw, rid, x;
	int err;
	st_now_iso(now);
	st_today(&d, day);
	err = st_query_int(s, &x, "SELECT id FROM procedures WHERE id = ?", "l", r->procedure);
	if (err == METRO_E_NOTFOUND)
		return st_refuse(s, err, "procedure %lld is not registered",
				 (long long)r->procedure);
	if (err)
		return err;
	if (r->profile && s->schema < 3)
		return st_refuse(s, METRO_E_UNSUPPORTED,
				 "schema version %d cannot record a run's profile", s->schema);
	if (r->profile) {
		err = st_query_int(s, &x, "SELECT id FROM profiles WHERE id = ?", "l", r->profile);
		if (err == METRO_E_NOTFOUND)
			return st_refuse(s, err, "profile %lld is not registered",
					 (long long)r->profile);
		if (err)
			return err;
	}
	if (r->resumed_from && (err = check_resume(s, r)))
		return err;
	for (size_t i = 0; i < r->nstandards; i++)
		if ((err = check_standard(s, r->standards[i], day)))
			return err;
	if ((err = software_id(s, r->software_version, r->software_sha256, &sw)))
		return err;
	err = insert_run(s, r, sw, now, &rid);
	if (!err && r->profile)
		err = note_profile(s, r, rid);
	/* Copy, do not reference: the run keeps the certificate data it was verified under. */
	for (size_t i = 0; !err && i < r->nstandards; i++)
		err = st_write_chained(
			s, "run_standards", METRO_AUDIT_INSERT, 0, NULL,
			s->schema >= 5
				? "INSERT INTO run_standards (run, std_id, description, serial, "
				  "certificate, issuer, calibrated, due, uncertainty_pct, k, "
				  "accuracy_class, assessment_certificate, assessment_due, "
				  "measuring_range, chain_seq) SELECT ?, std_id, description, "
				  "serial, certificate, issuer, calibrated, due, uncertainty_pct, "
				  "k, accuracy_class, assessment_certificate, assessment_due, "
				  "measuring_range, :chain_seq FROM standards WHERE std_id = ?"
				: "INSERT INTO run_standards (run, std_id, description, serial, "
				  "certificate, issuer, calibrated, due, uncertainty_pct, k, "
				  "accuracy_class, assessment_certificate, assessment_due, "
				  "chain_seq) SELECT ?, std_id, description, serial, certificate, "
				  "issuer, calibrated, due, uncertainty_pct, k, accuracy_class, "
				  "assessment_certificate, assessment_due, :chain_seq FROM "
				  "standards WHERE std_id = ?",
			"lt", rid, r->standards[i]);
	for (size_t i = 0; !err && i < r->nmeters; i++) {
		int64_t mid;
		err = meter_id(s, &r->meters[i], &mid);
		if (!err)
			err = st_write_chained(
				s, "positions", METRO_AUDIT_INSERT, 0, NULL,
				"INSERT INTO positions (run, position, meter, chain_seq) "
				"VALUES (?, ?, ?, :chain_seq)",
				"lil", rid, r->meters[i].position, mid);
	}
	if (!err && r->resumed_from) {
		json_t *o = json_pack("{sI}", "run", (json_int_t)r->resumed_from);
		json_t *n = json_pack("{sI}", "run", (json_int_t)rid);
		char subject[48], why[96];
		snprintf(subject, sizeof subject, "run/%lld", (long long)rid);
		snprintf(why, sizeof why, "resume-run of incomplete run %lld",
			 (long long)r->resumed_from);
		err = st_audit_event(s, r->operator_id, "run.resume", subject, o, n, why, NULL);
		json_decref(o);
		json_decref(n);
	}
	if (!err)
		*run_id = rid;
	return err;
}

int metro_store_run_begin(struct metro_store *s, const struct metro_store_run *r, int64_t *run)
{
	if (st_empty(r->rig) || st_empty(r->operator_id) || st_empty(r->verification_type) ||
	    st_empty(r->software_version) || st_empty(r->software_sha256))
		return st_refuse(s, METRO_E_INVAL,
				 "a run needs a rig, an operator, a verification type and the "
				 "software identification");
	if (!r->nstandards || !r->nmeters)
		return st_refuse(s, METRO_E_INVAL,
				 "a run needs at least one standard and one meter");
	for (size_t i = 0; i < r->nmeters; i++) {
		if (r->meters[i].position < 1 || st_empty(r->meters[i].serial))
			return st_refuse(
				s, METRO_E_INVAL,
				"meter %zu: a position from 1 and a serial number are needed",
				i + 1);
		for (size_t j = 0; j < i; j++)
			if (r->meters[j].position == r->meters[i].position)
				return st_refuse(s, METRO_E_INVAL, "two meters on position %d",
						 r->meters[i].position);
	}
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, begin_run(s, r, run));
}

/* The state of a run: 0 and *state (caller frees) or METRO_E_NOTFOUND with a message. */
static int run_state(struct metro_store *s, int64_t run, char **state)
{
	int err = st_query_text(s, state, "SELECT state FROM runs WHERE id = ?", "l", run);
	if (err == METRO_E_NOTFOUND)
		return st_refuse(s, err, "run %lld does not exist", (long long)run);
	return err;
}

static int valid_verdict(const char *v)
{
	static const char *const ok[] = {"pass", "conditional", "fail", "aborted", "error"};
	for (size_t i = 0; v && i < METRO_ARRAY_SIZE(ok); i++)
		if (!strcmp(v, ok[i]))
			return 1;
	return 0;
}

int metro_store_point(struct metro_store *s, const struct metro_store_point *p, int64_t *id)
{
	char now[40], *state = NULL;
	if (p->run < 1 || p->position < 1 || st_empty(p->test_point) || p->attempt < 1 ||
	    !p->readings)
		return st_refuse(
			s, METRO_E_INVAL,
			"a point needs a run, a position, a test point id, an attempt from "
			"1 and its raw readings");
	if (p->verdict && !valid_verdict(p->verdict))
		return st_refuse(s, METRO_E_INVAL, "'%s' is not a verdict", p->verdict);
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, p->run, &state);
	if (!err && strcmp(state, "running") != 0)
		err = st_refuse(s, METRO_E_STATE,
				"run %lld is %s: points are recorded only while a run is running",
				(long long)p->run, state);
	free(state);
	st_now_iso(now);
	if (!err)
		err = st_write_chained(
			s, "points", METRO_AUDIT_INSERT, 0, id,
			"INSERT INTO points (run, position, test_point, attempt, "
			"readings, intermediates, environment, error, rounded, mpe, "
			"verdict, rule, recorded, chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, "
			"?, ?, ?, ?, ?, ?, :chain_seq)",
			"litijjjtttttt", p->run, p->position, p->test_point, p->attempt,
			p->readings, p->intermediates, p->environment, p->error, p->rounded, p->mpe,
			p->verdict, p->rule, now);
	return st_tx_end(s, err);
}

int metro_store_point_result(struct metro_store *s, const struct metro_point_result *r,
			     const json_t *readings, int64_t *id)
{
	char e[64], rd[64], m[64];
	const struct metro_mx_judgement *j = &r->judgement;
	if (r->judged && (metro_evidence_text(j->value, e, sizeof e) ||
			  metro_evidence_text(j->rounded, rd, sizeof rd) ||
			  metro_evidence_text(j->mpe, m, sizeof m)))
		return st_refuse(s, METRO_E_INVAL,
				 "point %s of position %d: its error, rounding or limit is not a "
				 "number that can be recorded exactly",
				 r->item, r->position);
	json_t *intermediates = r->judged ? metro_mx_judgement_json(j) : NULL;
	struct metro_store_point pt = {
		.run = r->run,
		.position = r->position,
		.test_point = r->item,
		.attempt = r->attempt,
		.readings = readings,
		.intermediates = intermediates,
		.error = r->judged ? e : NULL,
		.rounded = r->judged ? rd : NULL,
		.mpe = r->judged ? m : NULL,
		.verdict = r->pending ? NULL : metro_verdict_name(r->verdict),
		.rule = r->judged ? metro_mx_rule_name(j->rule) : NULL,
	};
	int err = metro_store_point(s, &pt, id);
	json_decref(intermediates);
	return err;
}

/* The position's current verdict (one that no other verdict corrects): 0 and *id, *verdict
 * (caller frees), or METRO_E_NOTFOUND. */
int st_current_verdict(struct metro_store *s, int64_t run, int position, int64_t *id,
		       char **verdict)
{
	sqlite3_stmt *st = st_query(s,
				    "SELECT v.id, v.verdict FROM verdicts v WHERE v.run = ? AND "
				    "v.position = ? AND NOT EXISTS (SELECT 1 FROM verdicts c WHERE "
				    "c.corrects = v.id) ORDER BY v.id DESC LIMIT 1",
				    "li", run, position);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		*verdict = metro_strdup(v ? v : "");
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : st_sqlfail(s, rc, "verdicts");
	}
	sqlite3_reset(st);
	return err;
}

static int record_verdict(struct metro_store *s, const struct metro_store_verdict *v, int64_t *out)
{
	char now[40], *state = NULL, *cur_v = NULL;
	int64_t cur = 0, pos_id = 0, vid = 0;
	int err = run_state(s, v->run, &state);
	if (err)
		return err;
	err = st_query_int(s, &pos_id, "SELECT id FROM positions WHERE run = ? AND position = ?",
			   "li", v->run, v->position);
	if (err == METRO_E_NOTFOUND)
		err = st_refuse(s, err, "run %lld has no position %d", (long long)v->run,
				v->position);
	int have = 0;
	if (!err) {
		err = st_current_verdict(s, v->run, v->position, &cur, &cur_v);
		have = !err;
		if (err == METRO_E_NOTFOUND)
			err = METRO_OK;
	}
	if (!err && !v->corrects) {
		if (have)
			err = st_refuse(
				s, METRO_E_EXISTS,
				"run %lld position %d already has verdict %lld (%s): record a "
				"correction that names it",
				(long long)v->run, v->position, (long long)cur, cur_v);
		else if (strcmp(state, "running") != 0)
			err = st_refuse(s, METRO_E_STATE,
					"run %lld is %s: a first verdict needs a running run",
					(long long)v->run, state);
	} else if (!err) {
		if (!have || cur != v->corrects)
			err = st_refuse(
				s, METRO_E_STATE,
				"verdict %lld is not the current verdict of run %lld position "
				"%d (%s): a correction must name the current one",
				(long long)v->corrects, (long long)v->run, v->position,
				have ? "its current one is another" : "it has none");
	}
	st_now_iso(now);
	if (!err)
		err = st_write_chained(
			s, "verdicts", METRO_AUDIT_INSERT, 0, &vid,
			"INSERT INTO verdicts (run, position, verdict, failed_items, rule, "
			"corrects, actor, why, decided, chain_seq) VALUES (?, ?, ?, ?, ?, "
			"?, ?, ?, ?, :chain_seq)",
			"litjtzttt", v->run, v->position, v->verdict, v->failed_items, v->rule,
			v->corrects, v->actor, v->why, now);
	if (!err)
		err = st_write_chained(
			s, "positions", METRO_AUDIT_UPDATE, pos_id, NULL,
			"UPDATE positions SET verdict = ?, verdict_id = ?, chain_seq = "
			":chain_seq WHERE id = ?",
			"tll", v->verdict, vid, pos_id);
	if (!err && v->corrects) {
		json_t *o = json_pack("{sIss}", "verdict_id", (json_int_t)cur, "verdict", cur_v);
		json_t *n =
			json_pack("{sIss}", "verdict_id", (json_int_t)vid, "verdict", v->verdict);
		char subject[64];
		snprintf(subject, sizeof subject, "run/%lld/position/%d", (long long)v->run,
			 v->position);
		err = st_audit_event(s, v->actor, "verdict.correct", subject, o, n, v->why, NULL);
		json_decref(o);
		json_decref(n);
	}
	free(state);
	free(cur_v);
	if (!err && out)
		*out = vid;
	return err;
}

int metro_store_verdict(struct metro_store *s, const struct metro_store_verdict *v, int64_t *id)
{
	if (v->run < 1 || v->position < 1 || !valid_verdict(v->verdict) || st_empty(v->actor))
		return st_refuse(
			s, METRO_E_INVAL,
			"a verdict needs a run, a position, one of pass, conditional, fail, "
			"aborted, error, and who decided it");
	if (v->corrects && st_empty(v->why))
		return st_refuse(s, METRO_E_INVAL, "a correction needs a reason");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, record_verdict(s, v, id));
}

int metro_store_input(struct metro_store *s, const struct metro_store_input *in, int64_t *id)
{
	char now[40], *state = NULL;
	if (in->run < 1 || in->position < 0 || st_empty(in->prompt) || !in->answer ||
	    st_empty(in->operator_id))
		return st_refuse(s, METRO_E_INVAL,
				 "an input needs a run, the prompt, the answer and who answered");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, in->run, &state);
	free(state);
	st_now_iso(now);
	if (!err)
		err = st_write_chained(
			s, "inputs", METRO_AUDIT_INSERT, 0, id,
			"INSERT INTO inputs (run, position, prompt, answer, operator, "
			"answered, chain_seq) VALUES (?, ?, ?, ?, ?, ?, :chain_seq)",
			"lztttt", in->run, (int64_t)in->position, in->prompt, in->answer,
			in->operator_id, now);
	return st_tx_end(s, err);
}

int metro_store_run_end(struct metro_store *s, int64_t run, const char *state, const char *reason)
{
	static const char *const ok[] = {"done", "stopped", "aborted", "error"};
	char now[40], *cur = NULL;
	size_t i = 0;
	while (state && i < METRO_ARRAY_SIZE(ok) && strcmp(state, ok[i]) != 0)
		i++;
	if (!state || i == METRO_ARRAY_SIZE(ok))
		return st_refuse(s, METRO_E_INVAL,
				 "'%s' is not an end state (done, stopped, aborted, "
				 "error)",
				 state ? state : "(null)");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, run, &cur);
	if (!err && strcmp(cur, "running") != 0)
		err = st_refuse(s, METRO_E_STATE, "run %lld is %s, not running", (long long)run,
				cur);
	free(cur);
	st_now_iso(now);
	if (!err)
		err = st_write_chained(s, "runs", METRO_AUDIT_UPDATE, run, NULL,
				       "UPDATE runs SET state = ?, ended = ?, ended_mono = ?, "
				       "end_reason = ?, chain_seq = :chain_seq WHERE id = ?",
				       "ttltl", state, now, (int64_t)metro_now_ns(), reason, run);
	return st_tx_end(s, err);
}

/* ---- certificates, seqs, documents --------------------------------------------------------- */

/* Number a certificate for the position's current verdict, inside the caller's transaction:
 * workflow 1 (issued through the signed steps) or 0 (issued now); replaces NULL or the voided
 * number a reissue replaces.  number gets the new number. */
int st_certificate_number(struct metro_store *s, int64_t run, int position, int workflow,
			  const char *replaces, char number[METRO_STORE_CERT_MAX])
{
	char now[40], *verdict = NULL;
	int64_t vid = 0, last = 0;
	number[0] = '\0';
	int err = st_current_verdict(s, run, position, &vid, &verdict);
	if (err == METRO_E_NOTFOUND)
		err = st_refuse(s, METRO_E_STATE, "run %lld position %d has no verdict",
				(long long)run, position);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	int year = tm.tm_year + 1900;
	if (!err)
		err = st_exec1(s, "certificate sequence",
			       "INSERT INTO cert_sequence (station, year, last) VALUES (?, ?, 1) "
			       "ON CONFLICT (station, year) DO UPDATE SET last = last + 1",
			       "ti", s->station, year);
	if (!err)
		err = st_query_int(s, &last,
				   "SELECT last FROM cert_sequence WHERE station = ? AND year = ?",
				   "ti", s->station, year);
	if (!err) {
		snprintf(number, METRO_STORE_CERT_MAX, "%s-%04d-%06lld", s->station, year,
			 (long long)last);
		st_now_iso(now);
		const char *kind = verdict && !strcmp(verdict, "pass") ? "certificate" : "notice";
		if (s->schema < 4)
			err = st_write_chained(
				s, "certificates", METRO_AUDIT_INSERT, 0, NULL,
				"INSERT INTO certificates (number, kind, run, position, verdict, "
				"issued, chain_seq) VALUES (?, ?, ?, ?, ?, ?, :chain_seq)",
				"ttlilt", number, kind, run, position, vid, now);
		else
			err = st_write_chained(
				s, "certificates", METRO_AUDIT_INSERT, 0, NULL,
				"INSERT INTO certificates (number, kind, run, position, verdict, "
				"issued, workflow, replaces, chain_seq) VALUES (?, ?, ?, ?, ?, ?, "
				"?, "
				"?, :chain_seq)",
				"ttliltit", number, kind, run, position, vid, now, workflow,
				replaces);
	}
	free(verdict);
	if (err)
		number[0] = '\0';
	return err;
}

int metro_store_certificate(struct metro_store *s, int64_t run, int position,
			    char number[METRO_STORE_CERT_MAX])
{
	number[0] = '\0';
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = st_tx_end(s, st_certificate_number(s, run, position, 0, NULL, number));
	if (err)
		number[0] = '\0';
	return err;
}

static int next_seq(struct metro_store *s, int64_t *seq)
{
	if (s->seq_next > s->seq_reserved) {
		int64_t upto = s->seq_next + SEQ_BLOCK - 1;
		int err =
			st_exec1(s, "seq reservation",
				 "INSERT INTO counters (name, value) VALUES ('publish_seq', ?) ON "
				 "CONFLICT (name) DO UPDATE SET value = excluded.value",
				 "l", upto);
		if (err)
			return err;
		s->seq_reserved = upto;
	}
	*seq = s->seq_next++;
	return METRO_OK;
}

int metro_store_next_seq(struct metro_store *s, int64_t *seq)
{
	if (s->seq_next <= s->seq_reserved && !s->failed[0] && !s->readonly) {
		*seq = s->seq_next++;
		return METRO_OK;
	}
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, next_seq(s, seq));
}

static int store_document(struct metro_store *s, const char *topic, json_t *doc, int64_t *out)
{
	char now[40];
	int64_t seq;
	if (st_empty(topic) || !json_is_object(doc))
		return st_refuse(s, METRO_E_INVAL, "a document needs a topic and a JSON object");
	int err = next_seq(s, &seq);
	if (err)
		return err;
	json_object_set_new(doc, "seq", json_integer(seq));
	st_now_iso(now);
	/* Written with the precision it is published with, so that a replayed copy is the
	 * document subscribers received (test_kill.sh compares them). */
	char *body = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS |
					     JSON_REAL_PRECISION(METRO_DOC_REAL_PRECISION));
	err = st_exec1(s, "document",
		       "INSERT INTO documents (seq, topic, time, body) VALUES (?, ?, ?, ?)", "lttt",
		       seq, topic, now, body);
	free(body);
	if (!err && out)
		*out = seq;
	return err;
}

int metro_store_document(struct metro_store *s, const char *topic, json_t *doc, int64_t *seq)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, store_document(s, topic, doc, seq));
}

int metro_store_replay(struct metro_store *s, int64_t from, size_t limit, json_t **out)
{
	*out = NULL;
	if (s->schema < 2)
		return st_refuse(s, METRO_E_UNSUPPORTED, "schema version %d stores no documents",
				 s->schema);
	sqlite3_stmt *st =
		st_query(s,
			 "SELECT seq, topic, body FROM documents WHERE seq >= ? ORDER BY seq "
			 "LIMIT ?",
			 "ll", from, (int64_t)(limit ? limit : 1000));
	if (!st)
		return METRO_E_IO;
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		json_array_append_new(a, json_pack("{sI ss so}", "seq",
						   (json_int_t)sqlite3_column_int64(st, 0), "topic",
						   (const char *)sqlite3_column_text(st, 1), "doc",
						   doc ? doc : json_null()));
	}
	int err = rc == SQLITE_DONE ? METRO_OK : st_sqlfail(s, rc, "replay");
	sqlite3_reset(st);
	if (err)
		json_decref(a);
	else
		*out = a;
	return err;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static int make_checkpoint(struct metro_store *s, json_t **doc)
{
	struct metro_audit_checkpoint last, cp;
	int err = metro_audit_checkpoint_load(s->db, 0, &last);
	if (err && err != METRO_E_NOTFOUND)
		return st_refuse(s, err == METRO_E_IO ? METRO_E_IO : METRO_E_CORRUPT,
				 "cannot read the last checkpoint: %s", sqlite3_errmsg(s->db));
	if (!err && last.chain_seq == s->head_seq)
		return METRO_OK; /* nothing new to sign */
	memset(&cp, 0, sizeof cp);
	metro_strlcpy(cp.station, s->station, sizeof cp.station);
	cp.epoch = err ? 1 : last.epoch + 1;
	cp.head_seq = s->head_seq;
	memcpy(cp.head_hash, s->head_hash, METRO_AUDIT_HASH);
	st_now_iso(cp.time);
	if (metro_audit_checkpoint_sign(&cp, s->sk))
		return st_refuse(s, METRO_E_INVAL, "checkpoint cannot be encoded");
	char hh[65], pk[65], sig[129];
	metro_audit_hex(cp.head_hash, METRO_AUDIT_HASH, hh);
	metro_audit_hex(cp.pubkey, METRO_AUDIT_PUBKEY, pk);
	metro_audit_hex(cp.signature, METRO_AUDIT_SIG, sig);
	err = st_write_chained(
		s, "checkpoints", METRO_AUDIT_INSERT, 0, &cp.row_id,
		"INSERT INTO checkpoints (epoch, station, time, head_seq, head_hash, "
		"pubkey, signature, short_id, chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
		":chain_seq)",
		"lttltttt", cp.epoch, cp.station, cp.time, cp.head_seq, hh, pk, sig, cp.short_id);
	if (err)
		return err;
	cp.chain_seq = s->head_seq;
	json_t *d = metro_audit_checkpoint_json(&cp);
	if (s->schema >= 2)
		err = store_document(s, "audit", d, NULL);
	if (err)
		json_decref(d);
	else
		*doc = d;
	return err;
}

int metro_store_checkpoint(struct metro_store *s, json_t **doc)
{
	*doc = NULL;
	if (!s->have_key)
		return st_refuse(s, METRO_E_STATE, "no station key: the store is open read-only");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = st_tx_end(s, make_checkpoint(s, doc));
	if (err && *doc) {
		json_decref(*doc);
		*doc = NULL;
	}
	if (!err && *doc && st_state_write(s))
		metro_warn("store %s: %s (the next start compares with an older head)", s->path,
			   s->errmsg);
	return err;
}
