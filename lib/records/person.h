/* person.h — a person as the registry knows them: who they are, what they may do, the
 * qualification that entitles them, and how they authenticate.  The configuration's `people:`
 * fill it (daemon/config_people.c), a manager's person-set changes it, the store keeps every
 * version (docs/operations.md "People", docs/records.md).
 *
 * One key per person: an Ed25519 key pair (libsodium crypto_sign).  Its public half signs the
 * person's certificate steps; the same key converted to X25519
 * (crypto_sign_ed25519_pk_to_curve25519) is the person's CURVE key on the control endpoint. */
#ifndef METRO_PERSON_H
#define METRO_PERSON_H

#include "yfile.h"

/* What a person may do; a person holds any set of these. */
enum metro_person_role {
	METRO_PERSON_OBSERVER = 1u << 0, /* reads */
	METRO_PERSON_OPERATOR = 1u << 1, /* runs batches, answers prompts */
	METRO_PERSON_VERIFIER = 1u << 2, /* 检定员: verifies, signs the `verified` step */
	METRO_PERSON_CHECKER = 1u << 3,	 /* 核验员: signs `checked` */
	METRO_PERSON_APPROVER = 1u << 4, /* 批准人: signs `approved` and `issued` */
	METRO_PERSON_MANAGER = 1u << 5,	 /* changes the registry */
};
#define METRO_PERSON_NROLES 6

struct metro_person {
	char *id;   /* short, stable: [a-z0-9._-], what records name */
	char *name; /* as printed on certificates */
	unsigned roles;
	char *qualification; /* the person's qualification certificate number (检定员证号) */
	struct metro_date qualification_due; /* valid until (inclusive) */
	char **procedures; /* procedure ids the person may verify; an entry may end in '*' */
	size_t nprocedures;
	unsigned char sign_pk[32]; /* Ed25519 public key */
	char curve_z85[41];	   /* the same key as X25519, Z85: their CURVE client key */
	char *unix_user;	   /* NULL, or the Unix user an ipc:// peer maps to */
	unsigned line;		   /* where it was defined, for messages */
};

/* The name of one role ("observer", "operator", "verifier", "checker", "approver", "manager":
 * the bit order above), or NULL for anything but a single known bit.  These names are what
 * the store keeps in people.roles and certificate_steps.role (person.c). */
const char *metro_person_role_name(enum metro_person_role r);
/* The role named name (exactly one of the names above).  Returns 0 and *out, or
 * METRO_E_INVAL. */
int metro_person_role_parse(const char *name, enum metro_person_role *out);
/* Free what p owns (id, name, qualification, procedures, unix_user) and zero it; takes NULL. */
void metro_person_free(struct metro_person *p);

#endif
