/* config_people.c — the `people` section: the person registry.  Who may run batches, answer
 * prompts and sign certificate steps, on what qualification, for which procedures, and how
 * each authenticates (an Ed25519 key that is also their CURVE key; a Unix user for ipc://).
 * docs/operations.md "People" describes the keys. */
#include "config_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "error.h"
#include "util.h"

static const char *const person_roles[METRO_PERSON_NROLES] = {"observer", "operator", "verifier",
							      "checker",  "approver", "manager"};

/* key: the person's Ed25519 public key, 64 hex digits (metroctl keygen --person writes it);
 * the CURVE form is derived from it. */
static void person_key(struct loader *L, yaml_node_t *n, const char *where, struct metro_person *p)
{
	char *hex = NULL;
	if (metro_y_str(L->f, n, where, 200, &hex))
		return;
	size_t len = 0;
	unsigned char x[32];
	if (strlen(hex) != 64 || sodium_hex2bin(p->sign_pk, 32, hex, 64, NULL, &len, NULL) ||
	    len != 32) {
		metro_y_error(L->f, n,
			      "%s: not an Ed25519 public key (64 hex digits, the `sign:` line of "
			      "the person's .pub from metroctl keygen --person)",
			      where);
	} else if (crypto_sign_ed25519_pk_to_curve25519(x, p->sign_pk) ||
		   !zmq_z85_encode(p->curve_z85, x, 32)) {
		metro_y_error(L->f, n, "%s: not a valid Ed25519 public key (not a curve point)",
			      where);
		memset(p->sign_pk, 0, sizeof p->sign_pk);
	}
	free(hex);
}

static void person_roles_of(struct loader *L, yaml_node_t *n, const char *where,
			    struct metro_person *p)
{
	int len = metro_y_seq(L->f, n, where);
	if (len == 0)
		metro_y_error(L->f, n,
			      "%s: a person needs at least one role (%s, %s, %s, %s, %s, "
			      "%s)",
			      where, person_roles[0], person_roles[1], person_roles[2],
			      person_roles[3], person_roles[4], person_roles[5]);
	for (int i = 0; i < len; i++) {
		int r;
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		if (metro_y_enum(L->f, item, metro_yindex(where, i).s, person_roles,
				 METRO_PERSON_NROLES, &r))
			continue;
		if (p->roles & (1u << r))
			metro_y_error(L->f, item, "%s: role %s given twice",
				      metro_yindex(where, i).s, person_roles[r]);
		p->roles |= 1u << r;
	}
}

static void person_procedures(struct loader *L, yaml_node_t *n, const char *where,
			      struct metro_person *p)
{
	int len = metro_y_seq(L->f, n, where);
	if (len <= 0)
		return;
	p->procedures = metro_calloc((size_t)len, sizeof *p->procedures);
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		struct metro_ypath at = metro_yindex(where, i);
		char *s = NULL;
		if (metro_y_str(L->f, item, at.s, 64, &s))
			continue;
		/* an id, or an id's beginning followed by one '*' */
		size_t k = strlen(s), star = k && s[k - 1] == '*';
		int ok = k > star;
		for (size_t j = 0; ok && j < k - star; j++)
			ok = (s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
			     (s[j] >= '0' && s[j] <= '9') || strchr("_.-", s[j]);
		if (!ok) {
			metro_y_error(L->f, item,
				      "%s: '%s' is not a procedure id or a prefix ending in '*'",
				      at.s, s);
			free(s);
			continue;
		}
		p->procedures[p->nprocedures++] = s;
	}
}

static void person(struct loader *L, yaml_node_t *n, const char *where, struct metro_person *p)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},	   {"name", 1}, {"roles", 1},	  {"qualification", 0},
		{"procedures", 0}, {"key", 0},	{"unix_user", 0},
	};
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
	p->line = metro_y_line(n);
	if (v[0])
		metro_y_ident(L->f, v[0], metro_ykey(where, "id").s, &p->id);
	if (v[1])
		metro_y_str(L->f, v[1], metro_ykey(where, "name").s, 100, &p->name);
	if (v[2])
		person_roles_of(L, v[2], metro_ykey(where, "roles").s, p);
	if (v[3]) {
		static const struct metro_yfield qf[] = {{"certificate", 1}, {"valid_until", 1}};
		yaml_node_t *q[2];
		struct metro_ypath qw = metro_ykey(where, "qualification");
		metro_y_map(L->f, v[3], qw.s, qf, 2, q);
		if (q[0])
			metro_y_str(L->f, q[0], metro_ykey(qw.s, "certificate").s, 100,
				    &p->qualification);
		if (q[1])
			metro_y_date(L->f, q[1], metro_ykey(qw.s, "valid_until").s,
				     &p->qualification_due);
	}
	unsigned verifies = METRO_PERSON_OPERATOR | METRO_PERSON_VERIFIER;
	unsigned signs = METRO_PERSON_VERIFIER | METRO_PERSON_CHECKER | METRO_PERSON_APPROVER;
	if (!v[3] && (p->roles & (verifies | signs)))
		metro_y_error(
			L->f, n,
			"%s: person %s verifies or signs (roles operator, verifier, checker, "
			"approver): a `qualification:` (certificate, valid_until) is required",
			where, p->id ? p->id : "(no id)");
	if (v[4])
		person_procedures(L, v[4], metro_ykey(where, "procedures").s, p);
	else if (p->roles & verifies)
		metro_y_error(L->f, n,
			      "%s: person %s runs batches (operator or verifier): `procedures:` "
			      "must list what they may verify",
			      where, p->id ? p->id : "(no id)");
	if (v[5])
		person_key(L, v[5], metro_ykey(where, "key").s, p);
	else if (p->roles & signs)
		metro_y_error(L->f, n,
			      "%s: person %s signs certificate steps (verifier, checker, "
			      "approver): their `key:` is required",
			      where, p->id ? p->id : "(no id)");
	if (v[6])
		metro_y_ident(L->f, v[6], metro_ykey(where, "unix_user").s, &p->unix_user);
}

/* The first person before index i with the same value of a field, or -1. */
static int same_as(const struct metro_person *ps, int i, int field)
{
	for (int j = 0; j < i; j++) {
		const struct metro_person *a = &ps[j], *b = &ps[i];
		int same = field == 0	? a->id && b->id && !strcmp(a->id, b->id)
			   : field == 1 ? a->curve_z85[0] && !strcmp(a->curve_z85, b->curve_z85)
					: a->unix_user && b->unix_user &&
						  !strcmp(a->unix_user, b->unix_user);
		if (same)
			return j;
	}
	return -1;
}

void cfg_people(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "people");
	if (len < 0)
		return;
	struct metro_config *c = L->c;
	c->people = metro_calloc((size_t)len, sizeof *c->people);
	c->npeople = (size_t)len;
	static const char *const what[] = {"id", "key", "unix_user"};
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		person(L, item, metro_yindex("people", i).s, &c->people[i]);
		for (int field = 0; field < 3; field++) {
			int j = same_as(c->people, i, field);
			if (j >= 0)
				metro_y_error(L->f, item,
					      "people[%d].%s: the same as person %s's (line %u): "
					      "each person has their own",
					      i, what[field],
					      c->people[j].id ? c->people[j].id : "?",
					      c->people[j].line);
		}
		/* A person's key must not also admit a program client: one key, one identity. */
		for (size_t k = 0; c->people[i].curve_z85[0] && k < c->control_curve.nclients; k++)
			if (!strcmp(c->control_curve.clients[k].public_z85, c->people[i].curve_z85))
				metro_y_error(L->f, item,
					      "people[%d].key: also the key of client %s in the "
					      "control allowlist: one key, one identity",
					      i, c->control_curve.clients[k].name);
	}
}

static void person_entry(struct loader *L, yaml_node_t *n, const char *where, void *out)
{
	person(L, n, where, out);
}

int metro_person_conf_parse(const char *name, const char *text, size_t len, const char *where,
			    struct metro_diag *diag, struct metro_person *out)
{
	memset(out, 0, sizeof *out);
	int rc = cfg_parse_entry(name, text, len, where, diag, person_entry, out);
	if (rc)
		metro_person_free(out);
	return rc;
}

const struct metro_person *metro_person_by_id(const struct metro_config *c, const char *id)
{
	for (size_t i = 0; id && i < c->npeople; i++)
		if (!strcmp(c->people[i].id, id))
			return &c->people[i];
	return NULL;
}

const struct metro_person *metro_person_by_curve(const struct metro_config *c, const char *z85)
{
	for (size_t i = 0; z85 && i < c->npeople; i++)
		if (c->people[i].curve_z85[0] && !strcmp(c->people[i].curve_z85, z85))
			return &c->people[i];
	return NULL;
}

const struct metro_person *metro_person_by_unix_user(const struct metro_config *c, const char *user)
{
	for (size_t i = 0; user && i < c->npeople; i++)
		if (c->people[i].unix_user && !strcmp(c->people[i].unix_user, user))
			return &c->people[i];
	return NULL;
}

enum metro_role metro_person_command_role(const struct metro_person *p)
{
	if (p->roles & METRO_PERSON_MANAGER)
		return METRO_ROLE_MANAGER;
	if (p->roles & (METRO_PERSON_OPERATOR | METRO_PERSON_VERIFIER))
		return METRO_ROLE_OPERATOR;
	return METRO_ROLE_OBSERVER;
}

/* The qualification valid today, else the reason. */
static int qualified(const struct metro_person *p, char *why, size_t whylen)
{
	struct metro_date today = metro_date_today();
	if (!p->qualification) {
		snprintf(why, whylen, "person %s holds no qualification", p->id);
		return METRO_E_DENIED;
	}
	if (metro_date_cmp(&p->qualification_due, &today) < 0) {
		snprintf(why, whylen,
			 "person %s: qualification %s lapsed on %04d-%02d-%02d (renew it, then a "
			 "manager updates the registry)",
			 p->id, p->qualification, p->qualification_due.year % 10000,
			 p->qualification_due.month % 100, p->qualification_due.day % 100);
		return METRO_E_DENIED;
	}
	return METRO_OK;
}

int metro_person_may_answer(const struct metro_person *p, char *why, size_t whylen)
{
	if (!(p->roles & (METRO_PERSON_OPERATOR | METRO_PERSON_VERIFIER))) {
		snprintf(why, whylen, "person %s is not an operator or verifier", p->id);
		return METRO_E_DENIED;
	}
	return qualified(p, why, whylen);
}

int metro_person_may_verify(const struct metro_person *p, const char *proc_id, char *why,
			    size_t whylen)
{
	int rc = metro_person_may_answer(p, why, whylen);
	if (rc)
		return rc;
	for (size_t i = 0; i < p->nprocedures; i++) {
		const char *pat = p->procedures[i];
		size_t k = strlen(pat);
		if (pat[k - 1] == '*' ? !strncmp(pat, proc_id, k - 1) : !strcmp(pat, proc_id))
			return METRO_OK;
	}
	snprintf(why, whylen, "person %s is not authorised to verify with procedure %s", p->id,
		 proc_id);
	return METRO_E_DENIED;
}
