/* store_certs.c — the certificate workflow (schema 4, #17): drafts, the signed steps verified →
 * checked → approved → issued (→ voided), reissues, and each certificate's status for reads
 * (store.h, docs/records.md "Certificate steps"). */
#include "store.h"
#include "store_int.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cert_statement.h"
#include "error.h"
#include "util.h"

/* A signed time may be this far ahead of the store's clock (two machines' clocks). */
#define AHEAD_MAX_S 300

/* Set the refusal code and the message; returns err. */
static int refuse(struct metro_store *s, char code[METRO_STORE_CODE_MAX], const char *c, int err,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int refuse(struct metro_store *s, char code[METRO_STORE_CODE_MAX], const char *c, int err,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	snprintf(code, METRO_STORE_CODE_MAX, "%s", c);
	return err;
}

/* A store error (not a refusal of the request): the code says so. */
static int store_error(char code[METRO_STORE_CODE_MAX], int err)
{
	if (err && !code[0])
		snprintf(code, METRO_STORE_CODE_MAX, "%s",
			 err == METRO_E_NOTFOUND ? "not-found"
			 : err == METRO_E_EXISTS ? "exists"
			 : err == METRO_E_INVAL	 ? "bad-request"
						 : "store");
	return err;
}

static int need_v4(struct metro_store *s, char code[METRO_STORE_CODE_MAX])
{
	if (s->schema >= 4)
		return METRO_OK;
	return refuse(s, code, "store", METRO_E_UNSUPPORTED,
		      "schema version %d has no certificate workflow (version 4 has)", s->schema);
}

int metro_store_certificate_draft(struct metro_store *s, int64_t run, int position,
				  char number[METRO_STORE_CERT_MAX])
{
	char code[METRO_STORE_CODE_MAX] = "";
	number[0] = '\0';
	int err = need_v4(s, code);
	if (!err)
		err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = st_tx_end(s, st_certificate_number(s, run, position, 1, NULL, number));
	if (err)
		number[0] = '\0';
	return err;
}

/* Seconds since 1970 of a statement time (metro_cert_time_ok), fraction dropped. */
static int64_t time_seconds(const char *t)
{
	struct tm tm = {0};
	tm.tm_year = atoi(t) - 1900;
	tm.tm_mon = atoi(t + 5) - 1;
	tm.tm_mday = atoi(t + 8);
	tm.tm_hour = atoi(t + 11);
	tm.tm_min = atoi(t + 14);
	tm.tm_sec = atoi(t + 17);
	return (int64_t)timegm(&tm);
}

/* Whether a JSON list of names (the text of people.roles or .procedures) holds name; for
 * procedures an entry ending in '*' matches every name that starts with what precedes it. */
static int list_has(const char *text, const char *name, int prefixes)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	size_t i;
	json_t *x;
	int yes = 0;
	json_array_foreach (a, i, x) {
		const char *e = json_string_value(x);
		size_t n = e ? strlen(e) : 0;
		if (!e)
			continue;
		if (!strcmp(e, name) ||
		    (prefixes && n && e[n - 1] == '*' && !strncmp(e, name, n - 1)))
			yes = 1;
	}
	json_decref(a);
	return yes;
}

/* What the store holds about a certificate and its steps. */
struct cert_state {
	int64_t id, run;
	int position;
	int workflow; /* 1 signed steps, 0 issued when numbered (or before schema 4) */
	char *replaces;
	char *procedure; /* the run's procedure name */
	unsigned have;	 /* bit per step recorded */
	char *verifier;	 /* who signed verified */
};

static void cert_state_free(struct cert_state *c)
{
	free(c->replaces);
	free(c->procedure);
	free(c->verifier);
	memset(c, 0, sizeof *c);
}

static char *col_dup(sqlite3_stmt *st, int c)
{
	const char *t = (const char *)sqlite3_column_text(st, c);
	return t && sqlite3_column_type(st, c) != SQLITE_NULL ? metro_strdup(t) : NULL;
}

static int load_cert(struct metro_store *s, const char *number, struct cert_state *c)
{
	memset(c, 0, sizeof *c);
	sqlite3_stmt *st =
		st_query(s,
			 "SELECT c.id, c.run, c.position, coalesce(c.workflow, 0), "
			 "c.replaces, p.name FROM certificates c JOIN runs r ON r.id = "
			 "c.run JOIN procedures p ON p.id = r.procedure WHERE c.number = ?",
			 "t", number);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		c->id = sqlite3_column_int64(st, 0);
		c->run = sqlite3_column_int64(st, 1);
		c->position = sqlite3_column_int(st, 2);
		c->workflow = sqlite3_column_int(st, 3);
		c->replaces = col_dup(st, 4);
		c->procedure = col_dup(st, 5);
	} else {
		err = rc == SQLITE_DONE ? st_refuse(s, METRO_E_NOTFOUND,
						    "no certificate or notice %s", number)
					: st_sqlfail(s, rc, "certificates");
	}
	sqlite3_reset(st);
	if (err)
		return err;
	st = st_query(s, "SELECT step, person FROM certificate_steps WHERE certificate = ?", "t",
		      number);
	if (!st)
		return METRO_E_IO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum metro_cert_step_kind k;
		if (!metro_cert_step_parse((const char *)sqlite3_column_text(st, 0), &k)) {
			c->have |= 1u << k;
			if (k == METRO_CERT_VERIFIED) {
				free(c->verifier);
				c->verifier = col_dup(st, 1);
			}
		}
	}
	if (rc != SQLITE_DONE)
		err = st_sqlfail(s, rc, "certificate_steps");
	sqlite3_reset(st);
	return err;
}

struct person_row {
	char *name, *roles, *qualification, *qualification_due, *procedures, *sign_pk;
	int active;
};

static void person_row_free(struct person_row *p)
{
	free(p->name);
	free(p->roles);
	free(p->qualification);
	free(p->qualification_due);
	free(p->procedures);
	free(p->sign_pk);
	memset(p, 0, sizeof *p);
}

static int load_person(struct metro_store *s, const char *id, struct person_row *p)
{
	memset(p, 0, sizeof *p);
	sqlite3_stmt *st = st_query(s,
				    "SELECT name, roles, qualification, qualification_due, "
				    "procedures, sign_pk, active FROM people WHERE person = ?",
				    "t", id);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		char **f[] = {&p->name,	      &p->roles,  &p->qualification, &p->qualification_due,
			      &p->procedures, &p->sign_pk};
		for (int i = 0; i < (int)METRO_ARRAY_SIZE(f); i++)
			*f[i] = col_dup(st, i);
		p->active = sqlite3_column_int(st, 6);
	} else {
		err = rc == SQLITE_DONE
			      ? st_refuse(s, METRO_E_NOTFOUND, "no person '%s' in the registry", id)
			      : st_sqlfail(s, rc, "people");
	}
	sqlite3_reset(st);
	return err;
}

/* The role a step is signed in: verified verifier, checked checker, approved and issued
 * approver, voided approver (or manager).  NULL when the person holds none that fits. */
static const char *step_role(enum metro_cert_step_kind k, const char *roles)
{
	static const char *const need[] = {"verifier", "checker", "approver", "approver",
					   "approver"};
	if (list_has(roles, need[k], 0))
		return need[k];
	if (k == METRO_CERT_VOIDED && list_has(roles, "manager", 0))
		return "manager";
	return NULL;
}

/* Everything that decides whether the step may be recorded, inside the transaction. */
static int step_checks(struct metro_store *s, const struct metro_cert_step *q,
		       enum metro_cert_step_kind k, const struct cert_state *c,
		       const struct person_row *p, const char *statement, const char **role,
		       char code[METRO_STORE_CODE_MAX])
{
	const char *name = q->step, *num = q->number;
	if (!p->active)
		return refuse(s, code, "forbidden", METRO_E_DENIED,
			      "%s (%s) is retired from the registry: no certificate steps",
			      q->person, p->name);
	*role = step_role(k, p->roles);
	if (!*role)
		return refuse(s, code, "forbidden", METRO_E_DENIED,
			      "%s (%s) does not hold the role a '%s' step needs (%s)", q->person,
			      p->name, name,
			      k == METRO_CERT_VERIFIED	? "verifier"
			      : k == METRO_CERT_CHECKED ? "checker"
			      : k == METRO_CERT_VOIDED	? "approver or manager"
							: "approver");
	if (c->have & (1u << METRO_CERT_VOIDED))
		return refuse(s, code, "exists", METRO_E_EXISTS,
			      "%s is voided: it takes no further step (a reissue is a new number)",
			      num);
	if (k != METRO_CERT_VOIDED) {
		if (!c->workflow)
			return refuse(
				s, code, "workflow", METRO_E_STATE,
				"%s was issued when it was numbered (no signed workflow): only "
				"a 'voided' step applies to it",
				num);
		if (c->have & (1u << k))
			return refuse(s, code, "exists", METRO_E_EXISTS,
				      "%s: the '%s' step is recorded already", num, name);
		unsigned next = 0;
		while (next < METRO_CERT_ISSUED && (c->have & (1u << next)))
			next++;
		if (next != (unsigned)k)
			return refuse(s, code, "out-of-order", METRO_E_STATE,
				      "%s: '%s' comes after '%s', which is not recorded yet", num,
				      name,
				      metro_cert_step_name((enum metro_cert_step_kind)(k - 1)));
	} else if (c->workflow && !(c->have & (1u << METRO_CERT_ISSUED))) {
		return refuse(s, code, "out-of-order", METRO_E_STATE,
			      "%s is not issued: only an issued certificate can be voided", num);
	}
	if ((k == METRO_CERT_CHECKED || k == METRO_CERT_APPROVED) && c->verifier &&
	    !strcmp(c->verifier, q->person))
		return refuse(s, code, "same-person", METRO_E_DENIED,
			      "%s: %s verified it and cannot also sign '%s' (another person must)",
			      num, q->person, name);
	struct metro_date today;
	char day[11];
	st_today(&today, day);
	if (p->qualification_due && strcmp(p->qualification_due, day) < 0)
		return refuse(s, code, "not-qualified", METRO_E_DENIED,
			      "%s (%s): qualification %s was valid until %s; today is %s",
			      q->person, p->name, p->qualification ? p->qualification : "-",
			      p->qualification_due, day);
	if (k == METRO_CERT_VERIFIED || k == METRO_CERT_CHECKED) {
		if (!p->qualification || !p->qualification_due)
			return refuse(s, code, "not-qualified", METRO_E_DENIED,
				      "%s (%s) has no qualification with a due date on record: "
				      "'%s' needs one",
				      q->person, p->name, name);
		if (!c->procedure || !list_has(p->procedures, c->procedure, 1))
			return refuse(s, code, "not-qualified", METRO_E_DENIED,
				      "%s (%s) is not entitled to procedure %s (their "
				      "procedures: %s)",
				      q->person, p->name, c->procedure ? c->procedure : "-",
				      p->procedures ? p->procedures : "[]");
	}
	if (k == METRO_CERT_VERIFIED) {
		const char *want = c->replaces,
			   *got = q->replaces && *q->replaces ? q->replaces : NULL;
		if (want && (!got || strcmp(want, got) != 0))
			return refuse(s, code, "replaces", METRO_E_INVAL,
				      "%s replaces %s: its verified step must name it (replaces "
				      "%s)",
				      num, want, got ? got : "not given");
		if (!want && got)
			return refuse(s, code, "replaces", METRO_E_INVAL,
				      "%s is not a reissue: it replaces nothing (%s given)", num,
				      got);
	}
	unsigned char pk[METRO_AUDIT_PUBKEY];
	if (!p->sign_pk || metro_audit_unhex(p->sign_pk, strlen(p->sign_pk), pk, sizeof pk) ||
	    metro_cert_verify(statement, q->signature, pk))
		return refuse(s, code, "bad-signature", METRO_E_DENIED,
			      "%s: the signature does not verify under the key of %s (%.16s…) for "
			      "the statement %s",
			      num, q->person, p->sign_pk ? p->sign_pk : "-", statement);
	return METRO_OK;
}

int metro_store_cert_step(struct metro_store *s, const struct metro_cert_step *q,
			  char code[METRO_STORE_CODE_MAX])
{
	enum metro_cert_step_kind k;
	unsigned char sig[METRO_AUDIT_SIG];
	code[0] = '\0';
	int err = need_v4(s, code);
	if (err)
		return err;
	if (st_empty(q->number) || st_empty(q->step) || st_empty(q->person) || st_empty(q->time) ||
	    st_empty(q->signature))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "a certificate step needs the number, the step, the person, the "
			      "time and the signature");
	if (metro_cert_step_parse(q->step, &k))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "'%s' is not a step (verified, checked, approved, issued, voided)",
			      q->step);
	if (k == METRO_CERT_VOIDED && st_empty(q->why))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "voiding %s needs a reason (why)", q->number);
	if (k != METRO_CERT_VERIFIED && !st_empty(q->replaces))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "only a 'verified' step names the certificate it replaces");
	if (metro_audit_unhex(q->signature, strlen(q->signature), sig, sizeof sig))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "the signature must be 128 hex digits (Ed25519)");
	char *statement = metro_cert_statement(s->station, q->number, q->step, q->person, q->time,
					       q->why, q->replaces);
	if (!statement)
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "the step of %s cannot be stated: the time must be ISO 8601 UTC "
			      "(YYYY-MM-DDTHH:MM:SS[.fraction]Z), and every value non-empty, "
			      "UTF-8 without control characters, at most 1024 bytes",
			      q->number);
	if (time_seconds(q->time) > (int64_t)time(NULL) + AHEAD_MAX_S) {
		err = refuse(s, code, "bad-time", METRO_E_INVAL,
			     "%s: the step is signed at %s, more than %d s ahead of the store's "
			     "clock",
			     q->number, q->time, AHEAD_MAX_S);
		free(statement);
		return err;
	}
	struct cert_state c;
	struct person_row p;
	memset(&c, 0, sizeof c);
	memset(&p, 0, sizeof p);
	const char *role = NULL;
	err = metro_store_tx_begin(s);
	if (err) {
		free(statement);
		return store_error(code, err);
	}
	err = load_cert(s, q->number, &c);
	if (!err)
		err = load_person(s, q->person, &p);
	if (!err)
		err = step_checks(s, q, k, &c, &p, statement, &role, code);
	if (!err) {
		char now[40], sig_lower[METRO_CERT_SIG_HEX];
		st_now_iso(now);
		metro_audit_hex(sig, sizeof sig, sig_lower);
		err = st_write_chained(
			s, "certificate_steps", METRO_AUDIT_INSERT, 0, NULL,
			"INSERT INTO certificate_steps (certificate, step, station, person, "
			"person_name, role, qualification, qualification_due, time, recorded, "
			"statement, signature, sign_pk, why, replaces, chain_seq) VALUES (?, ?, ?, "
			"?, "
			"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, :chain_seq)",
			"ttttttttttttttt", q->number, q->step, s->station, q->person, p.name, role,
			p.qualification, p.qualification_due, q->time, now, statement, sig_lower,
			p.sign_pk, st_empty(q->why) ? NULL : q->why,
			st_empty(q->replaces) ? NULL : q->replaces);
	}
	free(statement);
	cert_state_free(&c);
	person_row_free(&p);
	return store_error(code, st_tx_end(s, err));
}

int metro_store_cert_reissue(struct metro_store *s, const char *voided, const char *actor,
			     const char *why, char number[METRO_STORE_CERT_MAX],
			     char code[METRO_STORE_CODE_MAX])
{
	number[0] = '\0';
	code[0] = '\0';
	int err = need_v4(s, code);
	if (err)
		return err;
	if (st_empty(voided) || st_empty(actor) || st_empty(why))
		return refuse(s, code, "bad-request", METRO_E_INVAL,
			      "a reissue needs the voided number, who asks and why");
	err = metro_store_tx_begin(s);
	if (err)
		return store_error(code, err);
	struct cert_state c;
	char *by = NULL;
	err = load_cert(s, voided, &c);
	if (!err && !(c.have & (1u << METRO_CERT_VOIDED)))
		err = refuse(s, code, "not-voided", METRO_E_STATE,
			     "%s is not voided: only a voided certificate can be replaced", voided);
	if (!err) {
		int e = st_query_text(s, &by, "SELECT number FROM certificates WHERE replaces = ?",
				      "t", voided);
		if (!e)
			err = refuse(s, code, "exists", METRO_E_EXISTS,
				     "%s was reissued already as %s", voided, by);
		else if (e != METRO_E_NOTFOUND)
			err = e;
	}
	if (!err)
		err = st_certificate_number(s, c.run, c.position, 1, voided, number);
	if (!err) {
		char subject[METRO_STORE_CERT_MAX + 16];
		snprintf(subject, sizeof subject, "certificate/%s", number);
		json_t *o = json_pack("{ss}", "number", voided);
		json_t *n = json_pack("{ss sI si}", "number", number, "run", (json_int_t)c.run,
				      "position", c.position);
		err = st_audit_event(s, actor, "certificate.reissued", subject, o, n, why, NULL);
		json_decref(o);
		json_decref(n);
	}
	free(by);
	cert_state_free(&c);
	err = st_tx_end(s, err);
	if (err)
		number[0] = '\0';
	return store_error(code, err);
}
