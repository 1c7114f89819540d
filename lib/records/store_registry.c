/* store_registry.c — the registry in the record store: station, reference standards, rigs,
 * procedures and rig profiles, each change an audit event (store.h, docs/records.md). */
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

/* ---- registry: generic audited upsert ------------------------------------------------------ */

/* A column value as JSON (what the audit event shows as old/new). */
json_t *st_col_json(sqlite3_stmt *st, int c)
{
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, c));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, c));
	case SQLITE_TEXT: {
		const char *t = (const char *)sqlite3_column_text(st, c);
		json_t *j = json_stringn(t, (size_t)sqlite3_column_bytes(st, c));
		return j ? j : json_null();
	}
	case SQLITE_NULL:
		return json_null();
	default: {
		char *hex = metro_malloc(2 * (size_t)sqlite3_column_bytes(st, c) + 1);
		metro_audit_hex(sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c),
				hex);
		json_t *j = json_string(hex);
		free(hex);
		return j;
	}
	}
}

struct upsert {
	const char *table;  /* a mutable chained table */
	const char *keycol; /* its natural key column */
	const char *key;
	const char *const *fields;
	size_t nf;
	json_t **vals;	  /* new values, nf of them (borrowed) */
	const char *kind; /* "standard": action names and subject */
	const char *actor, *why;
	const char *changes;			/* NULL, or the table of one row per changed field
						 * (standard_changes, person_changes) */
	const char *changes_key;		/* its column naming the row (std_id, person) */
	const char *add_action, *change_action; /* NULL: "<kind>.add", "<kind>.change" */
};

/* Insert the row or update the fields that differ, with an audit event naming the old and
 * new values of each changed field.  *changed (may be NULL) tells whether anything changed. */
static int upsert_audited(struct metro_store *s, const struct upsert *u, int *changed)
{
	char *sql;
	size_t nf = u->nf;
	json_t **old = metro_calloc(nf, sizeof(json_t *));
	int64_t row_id = 0;
	int exists = 0, err = METRO_OK;
	if (changed)
		*changed = 0;

	/* SELECT id, f1, f2 ... FROM table WHERE keycol = ? */
	size_t len = 64 + strlen(u->table) + strlen(u->keycol);
	for (size_t i = 0; i < nf; i++)
		len += strlen(u->fields[i]) + 2;
	sql = metro_malloc(len);
	int n = snprintf(sql, len, "SELECT id");
	for (size_t i = 0; i < nf; i++)
		n += snprintf(sql + n, len - (size_t)n, ", %s", u->fields[i]);
	snprintf(sql + n, len - (size_t)n, " FROM %s WHERE %s = ?", u->table, u->keycol);
	sqlite3_stmt *st = st_query(s, sql, "t", u->key);
	free(sql);
	if (!st) {
		free(old);
		return METRO_E_IO;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		exists = 1;
		row_id = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < nf; i++)
			old[i] = st_col_json(st, (int)i + 1);
	} else if (rc != SQLITE_DONE) {
		err = st_sqlfail(s, rc, u->table);
	}
	sqlite3_reset(st);

	json_t *jo = json_object(), *jn = json_object();
	size_t ndiff = 0;
	for (size_t i = 0; !err && i < nf; i++) {
		json_t *nv = u->vals[i] ? u->vals[i] : json_null();
		json_t *ov = old[i] ? old[i] : json_null();
		if (exists && json_equal(ov, nv))
			continue;
		if (!exists && json_is_null(nv))
			continue;
		json_object_set(jo, u->fields[i], ov);
		json_object_set(jn, u->fields[i], nv);
		ndiff++;
	}
	if (!err && (ndiff || !exists)) {
		char now[40];
		st_now_iso(now);
		/* INSERT INTO t (keycol, f..., updated, chain_seq) VALUES (?, ?..., ?, :chain_seq)
		 * UPDATE t SET f = ?, ..., updated = ?, chain_seq = :chain_seq WHERE id = ? */
		len = 128 + strlen(u->table) + strlen(u->keycol);
		for (size_t i = 0; i < nf; i++)
			len += strlen(u->fields[i]) + 8;
		sql = metro_malloc(len);
		if (exists) {
			n = snprintf(sql, len, "UPDATE %s SET ", u->table);
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, "%s = ?, ", u->fields[i]);
			snprintf(sql + n, len - (size_t)n,
				 "updated = ?, chain_seq = :chain_seq WHERE id = ?");
		} else {
			n = snprintf(sql, len, "INSERT INTO %s (%s", u->table, u->keycol);
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, ", %s", u->fields[i]);
			n += snprintf(sql + n, len - (size_t)n, ", updated, chain_seq) VALUES (?");
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, ", ?");
			snprintf(sql + n, len - (size_t)n, ", ?, :chain_seq)");
		}
		st = st_prep(s, sql);
		free(sql);
		if (!st) {
			err = METRO_E_IO;
		} else {
			int idx = 1;
			if (!exists)
				sqlite3_bind_text(st, idx++, u->key, -1, SQLITE_TRANSIENT);
			for (size_t i = 0; i < nf; i++)
				st_bind_value(st, idx++, u->vals[i]);
			sqlite3_bind_text(st, idx++, now, -1, SQLITE_TRANSIENT);
			int cs = sqlite3_bind_parameter_index(st, ":chain_seq");
			int64_t seq = s->head_seq + 1;
			sqlite3_bind_int64(st, cs, seq);
			if (exists)
				sqlite3_bind_int64(st, cs + 1, row_id);
			err = st_finish_chained(s, st, u->table,
						exists ? METRO_AUDIT_UPDATE : METRO_AUDIT_INSERT,
						row_id, seq, NULL);
		}
		int64_t ev = 0;
		const char *named = exists ? u->change_action : u->add_action;
		char *action = named ? metro_strdup(named)
				     : metro_asprintf("%s.%s", u->kind, exists ? "change" : "add");
		char *subject = metro_asprintf("%s/%s", u->kind, u->key);
		if (!err)
			err = st_audit_event(s, u->actor, action, subject, exists ? jo : NULL, jn,
					     u->why, &ev);
		free(action);
		free(subject);
		char *csql = u->changes ? metro_asprintf("INSERT INTO %s (%s, field, old, new, "
							 "audit_event, chain_seq) VALUES (?, ?, "
							 "?, ?, ?, :chain_seq)",
							 u->changes, u->changes_key)
					: NULL;
		for (size_t i = 0; !err && csql && i < nf; i++) {
			json_t *nv = json_object_get(jn, u->fields[i]);
			if (!nv)
				continue;
			json_t *ov = json_object_get(jo, u->fields[i]);
			err = st_write_chained(s, u->changes, METRO_AUDIT_INSERT, 0, NULL, csql,
					       "ttjjl", u->key, u->fields[i],
					       exists && !json_is_null(ov) ? ov : NULL,
					       json_is_null(nv) ? NULL : nv, ev);
		}
		free(csql);
		if (!err && changed)
			*changed = 1;
	}
	json_decref(jo);
	json_decref(jn);
	for (size_t i = 0; i < nf; i++)
		json_decref(old[i]);
	free(old);
	return err;
}

static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static json_t *jdate(const struct metro_date *d)
{
	if (!d->year)
		return json_null();
	char buf[16];
	snprintf(buf, sizeof buf, "%04d-%02d-%02d", d->year % 10000, d->month % 100, d->day % 100);
	return json_string(buf);
}

static const char *const std_fields[] = {
	"description",	   "serial",
	"certificate",	   "issuer",
	"calibrated",	   "due",
	"uncertainty_pct", "k",
	"accuracy_class",  "assessment_certificate",
	"assessment_due",  "active",
	"measuring_range",
};
#define NSTD (sizeof std_fields / sizeof std_fields[0])

static void std_values(const struct metro_standard_conf *c, json_t *v[NSTD], int active)
{
	int cls = c->accuracy_class != NULL;
	v[0] = jstr(c->description);
	v[1] = jstr(c->serial);
	v[2] = jstr(c->certificate);
	v[3] = jstr(c->issuer);
	v[4] = jdate(&c->calibrated);
	v[5] = jdate(&c->due);
	v[6] = cls ? json_null() : json_real(c->uncertainty_pct);
	v[7] = cls || c->k == 0 ? json_null() : json_real(c->k);
	v[8] = jstr(c->accuracy_class);
	v[9] = jstr(c->assessment_certificate);
	v[10] = jdate(&c->assessment_due);
	v[11] = json_integer(active);
	v[12] = jstr(c->measuring_range);
}

static int apply_standard(struct metro_store *s, const struct metro_standard_conf *c,
			  const char *actor, const char *why)
{
	if (st_empty(c->id))
		return st_refuse(s, METRO_E_INVAL, "a standard needs an id");
	if (!c->due.year)
		return st_refuse(s, METRO_E_INVAL, "standard %s has no due date", c->id);
	json_t *v[NSTD];
	std_values(c, v, 1);
	/* measuring_range, the last field, from schema 5 on (a store opened at an older version
	 * for a migration test has no such column) */
	size_t nf = s->schema >= 5 ? NSTD : NSTD - 1;
	struct upsert u = {"standards", "std_id",   c->id, std_fields, nf,
			   v,		"standard", actor, why,	       "standard_changes",
			   "std_id",	NULL,	    NULL};
	int err = upsert_audited(s, &u, NULL);
	for (size_t i = 0; i < NSTD; i++)
		json_decref(v[i]);
	return err;
}

/* Retire the active standards whose ids are not in keep[0..n). */
static int retire_standards(struct metro_store *s, const struct metro_standard_conf *keep, size_t n,
			    const char *actor, const char *why)
{
	sqlite3_stmt *st =
		st_query(s, "SELECT std_id FROM standards WHERE active = 1 ORDER BY id", "");
	if (!st)
		return METRO_E_IO;
	char **gone = NULL;
	size_t ngone = 0;
	int rc, err = METRO_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		size_t i = 0;
		while (i < n && (!keep[i].id || strcmp(keep[i].id, id) != 0))
			i++;
		if (i == n) {
			gone = metro_realloc(gone, (ngone + 1) * sizeof *gone);
			gone[ngone++] = metro_strdup(id);
		}
	}
	if (rc != SQLITE_DONE)
		err = st_sqlfail(s, rc, "standards");
	sqlite3_reset(st);
	for (size_t i = 0; i < ngone; i++) {
		static const char *const f[] = {"active"};
		json_t *v = json_integer(0);
		struct upsert u = {"standards", "std_id",   gone[i], f,	  1,
				   &v,		"standard", actor,   why, "standard_changes",
				   "std_id",	NULL,	    NULL};
		if (!err)
			err = upsert_audited(s, &u, NULL);
		json_decref(v);
		free(gone[i]);
	}
	free(gone);
	return err;
}

int metro_store_sync_standards(struct metro_store *s, const struct metro_standard_conf *std,
			       size_t n)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++)
		err = apply_standard(s, &std[i], "config", "configuration load");
	if (!err)
		err = retire_standards(s, std, n, "config", "configuration load");
	return st_tx_end(s, err);
}

int metro_store_standard_change(struct metro_store *s, const struct metro_standard_conf *std,
				const char *actor, const char *why)
{
	if (st_empty(actor) || st_empty(why))
		return st_refuse(s, METRO_E_INVAL, "a change of a standard needs who and why");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, apply_standard(s, std, actor, why));
}

static int apply_station(struct metro_store *s, const struct metro_store_station *st,
			 const char *actor, const char *why)
{
	static const char *const f[] = {"name",	   "institution", "authorisation",
					"address", "phone",	  "postcode"};
	if (st_empty(st->id))
		return st_refuse(s, METRO_E_INVAL, "a station needs an id");
	json_t *v[6] = {jstr(st->name),	   jstr(st->institution), jstr(st->authorisation),
			jstr(st->address), jstr(st->phone),	  jstr(st->postcode)};
	/* phone and postcode from schema 5 on */
	struct upsert u = {"stations", "station", st->id, f,   s->schema >= 5 ? 6 : 4,
			   v,	       "station", actor,  why, NULL,
			   NULL,       NULL,	  NULL};
	int err = upsert_audited(s, &u, NULL);
	for (int i = 0; i < 6; i++)
		json_decref(v[i]);
	return err;
}

int metro_store_station(struct metro_store *s, const struct metro_store_station *st,
			const char *actor, const char *why)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, apply_station(s, st, actor, why));
}

static int apply_rig(struct metro_store *s, const struct metro_store_rig *r, const char *actor,
		     const char *why)
{
	static const char *const f[] = {"kind", "driver", "positions", "standards", "simulated"};
	if (st_empty(r->id))
		return st_refuse(s, METRO_E_INVAL, "a rig needs an id");
	json_t *ids = json_array();
	for (size_t i = 0; i < r->nstandards; i++)
		json_array_append_new(ids, jstr(r->standards[i]));
	char *text = st_dump_json(ids);
	json_decref(ids);
	json_t *v[5] = {json_string(metro_rig_kind_name(r->kind)), jstr(r->driver),
			json_integer(r->positions), json_string(text),
			json_integer(!!r->simulated)};
	free(text);
	struct upsert u = {"rigs", "rig", r->id, f,    5,    v,	  "rig",
			   actor,  why,	  NULL,	 NULL, NULL, NULL};
	int err = upsert_audited(s, &u, NULL);
	for (int i = 0; i < 5; i++)
		json_decref(v[i]);
	return err;
}

int metro_store_rig(struct metro_store *s, const struct metro_store_rig *r, const char *actor,
		    const char *why)
{
	if (st_empty(actor) || st_empty(why))
		return st_refuse(s, METRO_E_INVAL, "a rig change needs who and why");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, apply_rig(s, r, actor, why));
}

int metro_store_sync_registry(struct metro_store *s, const struct metro_store_registry *c)
{
	static const char actor[] = "config", why[] = "configuration load";
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = apply_station(s, &c->station, actor, why);
	for (size_t i = 0; !err && i < c->nstandards; i++)
		err = apply_standard(s, &c->standards[i], actor, why);
	if (!err)
		err = retire_standards(s, c->standards, c->nstandards, actor, why);
	for (size_t i = 0; !err && i < c->nrigs; i++)
		err = apply_rig(s, &c->rigs[i], actor, why);
	return st_tx_end(s, err);
}

/* A stored text (a procedure, a rig profile): no NUL byte, and its digest into hex, which
 * must be the one it was loaded with (sha256, unless NULL). */
static int content_digest(struct metro_store *s, const char *what, const char *label,
			  const char *content, size_t len, const char *sha256,
			  char hex[METRO_SHA256_HEX])
{
	if (memchr(content, '\0', len))
		return st_refuse(s, METRO_E_INVAL, "%s %s: content contains a NUL byte", what,
				 label);
	metro_sha256_hex(content, len, hex);
	if (sha256 && strcasecmp(sha256, hex) != 0)
		return st_refuse(s, METRO_E_CORRUPT,
				 "%s %s: content has SHA-256 %s, not the %s it was loaded with",
				 what, label, hex, sha256);
	return METRO_OK;
}

int metro_store_procedure(struct metro_store *s, const char *name, const char *content, size_t len,
			  const char *sha256, int64_t *id)
{
	char hex[METRO_SHA256_HEX], now[40];
	if (st_empty(name) || !content)
		return st_refuse(s, METRO_E_INVAL, "a procedure needs a name and its content");
	int err = content_digest(s, "procedure", name, content, len, sha256, hex);
	if (!err)
		err = metro_store_tx_begin(s);
	if (err)
		return err;
	int64_t found;
	err = st_query_int(s, &found, "SELECT id FROM procedures WHERE sha256 = ?", "t", hex);
	if (!err) {
		*id = found;
		return st_tx_end(s, METRO_OK);
	}
	if (err != METRO_E_NOTFOUND)
		return st_tx_end(s, err);
	st_now_iso(now);
	char *text = metro_strndup(content, len);
	err = st_write_chained(
		s, "procedures", METRO_AUDIT_INSERT, 0, id,
		"INSERT INTO procedures (name, sha256, content, registered, chain_seq) "
		"VALUES (?, ?, ?, ?, :chain_seq)",
		"tttt", name, hex, text, now);
	free(text);
	return st_tx_end(s, err);
}

int metro_store_profile(struct metro_store *s, const char *name, const char *path,
			const char *content, size_t len, const char *sha256, int64_t *id)
{
	char hex[METRO_SHA256_HEX], now[40];
	if (st_empty(name) || st_empty(path) || !content)
		return st_refuse(s, METRO_E_INVAL,
				 "a rig profile needs a name, its path and its content");
	if (s->schema < 3)
		return st_refuse(s, METRO_E_UNSUPPORTED,
				 "schema version %d has no profiles table (version 3 has)",
				 s->schema);
	int err = content_digest(s, "profile", path, content, len, sha256, hex);
	if (!err)
		err = metro_store_tx_begin(s);
	if (err)
		return err;
	int64_t found;
	err = st_query_int(s, &found, "SELECT id FROM profiles WHERE path = ? AND sha256 = ?", "tt",
			   path, hex);
	if (!err) {
		*id = found;
		return st_tx_end(s, METRO_OK);
	}
	if (err != METRO_E_NOTFOUND)
		return st_tx_end(s, err);
	st_now_iso(now);
	char *text = metro_strndup(content, len);
	err = st_write_chained(s, "profiles", METRO_AUDIT_INSERT, 0, id,
			       "INSERT INTO profiles (name, path, sha256, content, registered, "
			       "chain_seq) VALUES (?, ?, ?, ?, ?, :chain_seq)",
			       "ttttt", name, path, hex, text, now);
	free(text);
	return st_tx_end(s, err);
}

/* ---- people (schema 4) --------------------------------------------------------------------- */

static const char *const person_fields[] = {
	"name",	      "roles",	 "qualification", "qualification_due",
	"procedures", "sign_pk", "unix_user",	  "active",
};
#define NPERSON (sizeof person_fields / sizeof person_fields[0])

/* The JSON text of a list of names (what people.roles and people.procedures hold). */
static json_t *name_list(const char *const *names, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstr(names[i]));
	char *text = st_dump_json(a);
	json_decref(a);
	json_t *j = json_string(text);
	free(text);
	return j;
}

static int person_valid(struct metro_store *s, const struct metro_person *p)
{
	static const char idchars[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
	const char *id = p->id ? p->id : "";
	size_t n = strlen(id);
	if (n == 0 || n > 63 || strspn(id, idchars) != n)
		return st_refuse(s, METRO_E_INVAL,
				 "a person needs an id of 1..63 characters [a-z0-9._-] (got '%s')",
				 id);
	if (st_empty(p->name))
		return st_refuse(s, METRO_E_INVAL, "person %s has no name", p->id);
	if (p->roles & ~((1u << METRO_PERSON_NROLES) - 1))
		return st_refuse(s, METRO_E_INVAL, "person %s: unknown role bits 0x%x", p->id,
				 p->roles);
	if (p->qualification_due.year && !p->qualification)
		return st_refuse(s, METRO_E_INVAL,
				 "person %s has a qualification due date but no qualification",
				 p->id);
	for (size_t i = 0; i < p->nprocedures; i++)
		if (st_empty(p->procedures[i]))
			return st_refuse(s, METRO_E_INVAL, "person %s: an empty procedure id",
					 p->id);
	if (!crypto_core_ed25519_is_valid_point(p->sign_pk))
		return st_refuse(s, METRO_E_INVAL,
				 "person %s: sign_pk is not an Ed25519 public key", p->id);
	return METRO_OK;
}

static int apply_person(struct metro_store *s, const struct metro_person *p, const char *actor,
			const char *why, int *changed)
{
	if (s->schema < 4)
		return st_refuse(s, METRO_E_UNSUPPORTED,
				 "schema version %d has no people table (version 4 has)",
				 s->schema);
	int err = person_valid(s, p);
	if (err)
		return err;
	const char *roles[METRO_PERSON_NROLES];
	size_t nr = 0;
	for (unsigned i = 0; i < METRO_PERSON_NROLES; i++)
		if (p->roles & (1u << i))
			roles[nr++] = metro_person_role_name((enum metro_person_role)(1u << i));
	char pk[2 * METRO_AUDIT_PUBKEY + 1];
	metro_audit_hex(p->sign_pk, METRO_AUDIT_PUBKEY, pk);
	json_t *v[NPERSON] = {
		jstr(p->name),
		name_list(roles, nr),
		jstr(p->qualification),
		jdate(&p->qualification_due),
		name_list((const char *const *)p->procedures, p->nprocedures),
		json_string(pk),
		jstr(p->unix_user),
		json_integer(1),
	};
	struct upsert u = {
		"people", "person",	  p->id,	   person_fields, NPERSON,
		v,	  "person",	  actor,	   why,		  "person_changes",
		"person", "person.added", "person.changed"};
	err = upsert_audited(s, &u, changed);
	for (size_t i = 0; i < NPERSON; i++)
		json_decref(v[i]);
	return err;
}

int metro_store_person_change(struct metro_store *s, const struct metro_person *p,
			      const char *actor, const char *why)
{
	if (st_empty(actor) || st_empty(why))
		return st_refuse(s, METRO_E_INVAL, "a change of a person needs who and why");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return st_tx_end(s, apply_person(s, p, actor, why, NULL));
}

/* Set active = 0 on person id (a person.changed event); nothing when already inactive. */
static int retire_person(struct metro_store *s, const char *id, const char *actor, const char *why)
{
	static const char *const f[] = {"active"};
	json_t *v = json_integer(0);
	struct upsert u = {"people",
			   "person",
			   id,
			   f,
			   1,
			   &v,
			   "person",
			   actor,
			   why,
			   "person_changes",
			   "person",
			   "person.added",
			   "person.changed"};
	int err = upsert_audited(s, &u, NULL);
	json_decref(v);
	return err;
}

int metro_store_person_retire(struct metro_store *s, const char *id, const char *actor,
			      const char *why)
{
	if (st_empty(actor) || st_empty(why))
		return st_refuse(s, METRO_E_INVAL, "retiring a person needs who and why");
	if (s->schema < 4)
		return st_refuse(s, METRO_E_UNSUPPORTED,
				 "schema version %d has no people table (version 4 has)",
				 s->schema);
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	int64_t found;
	err = st_query_int(s, &found, "SELECT id FROM people WHERE person = ?", "t", id);
	if (err == METRO_E_NOTFOUND)
		err = st_refuse(s, err, "no person '%s' in the registry", id ? id : "");
	if (!err)
		err = retire_person(s, id, actor, why);
	return st_tx_end(s, err);
}

int metro_store_sync_people(struct metro_store *s, const struct metro_person *people, size_t n)
{
	static const char actor[] = "config", why[] = "configuration load";
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++) {
		for (size_t j = 0; !err && j < i; j++)
			if (people[i].id && people[j].id && !strcmp(people[i].id, people[j].id))
				err = st_refuse(s, METRO_E_INVAL,
						"person %s is configured twice (lines %u and %u)",
						people[i].id, people[j].line, people[i].line);
		if (!err)
			err = apply_person(s, &people[i], actor, why, NULL);
	}
	/* Everyone active and no longer configured: retired, never deleted. */
	sqlite3_stmt *st =
		err ? NULL
		    : st_query(s, "SELECT person FROM people WHERE active = 1 ORDER BY id", "");
	if (!err && !st)
		err = METRO_E_IO;
	char **gone = NULL;
	size_t ngone = 0;
	int rc = SQLITE_DONE;
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		size_t i = 0;
		while (i < n && (!people[i].id || strcmp(people[i].id, id) != 0))
			i++;
		if (i == n) {
			gone = metro_realloc(gone, (ngone + 1) * sizeof *gone);
			gone[ngone++] = metro_strdup(id);
		}
	}
	if (st) {
		if (rc != SQLITE_DONE)
			err = st_sqlfail(s, rc, "people");
		sqlite3_reset(st);
	}
	for (size_t i = 0; i < ngone; i++) {
		if (!err)
			err = retire_person(s, gone[i], actor, why);
		free(gone[i]);
	}
	free(gone);
	return st_tx_end(s, err);
}
