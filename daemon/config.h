/* config.h — the daemon configuration: what it holds and how it is loaded.
 *
 * metro_config_load() reads and validates a whole file and either returns a complete
 * configuration or none at all (with every problem in the diagnostics): the daemon never runs
 * on a half-checked configuration, and SIGHUP swaps configurations whole.  Relative paths in the
 * file are resolved against the file's own directory, so a configuration and the profiles next
 * to it can be moved together.  Every key is documented in docs/configuration.md.
 */
#ifndef METRO_CONFIG_H
#define METRO_CONFIG_H

#include <stddef.h>

#include "diag.h"
#include "kinds.h"
#include "driver.h"
#include "procedure.h"
#include "profile.h"
#include "standard.h"
#include "person.h"
#include "yfile.h"

struct metro_rig_conf {
	char *id;
	enum metro_rig_kind kind;
	char *driver;
	struct metro_connection_conf conn;
	char *profile;			    /* resolved path */
	struct metro_profile *profile_data; /* loaded and validated; shared, see profile.h */
	long positions;
	char **standards; /* ids, validated against the standards list */
	size_t nstandards;
	double sample_hz;
	int simulated;	   /* the rig is a metrosim instance: records are marked simulated */
	double time_scale; /* simulated seconds per real second (1 for a real rig) */
};

/* CURVE security of one endpoint (docs/protocol.md): the server's key pair and the allowed
 * clients with their roles.  enabled is 0 when the endpoint has no `curve:` section. */
enum metro_role { METRO_ROLE_OBSERVER, METRO_ROLE_OPERATOR, METRO_ROLE_MANAGER, METRO_ROLE_NONE };
const char *metro_role_name(enum metro_role r);

struct metro_curve_client {
	char *name; /* the key file's name without .pub */
	char public_z85[41];
	enum metro_role role;
};

struct metro_curve_conf {
	int enabled;
	char public_z85[41], secret_z85[41];
	struct metro_curve_client *clients;
	size_t nclients;
};

/* The allowlist entry with a public key (Z85), or NULL: the key is not admitted. */
const struct metro_curve_client *metro_curve_client_by_key(const struct metro_curve_conf *cc,
							   const char *key);
/* Whether a socket bound with a must be bound again to serve b: CURVE switched on or off, or
 * another server key pair; with clients, also a key of a's allowlist that b no longer has (a
 * socket that cannot check each message against the allowlist, such as PUB, must drop the
 * sessions of keys no longer allowed).  Added keys, names and roles never need a new socket:
 * the ZAP handler and the control socket look them up as they are now. */
int metro_curve_differs(const struct metro_curve_conf *a, const struct metro_curve_conf *b,
			int clients);

struct metro_config {
	char *path; /* the file it came from */
	char *dir;  /* its directory, for relative paths */
	struct {
		char *id, *name, *institution, *authorisation, *address;
		char *phone, *postcode; /* optional: printed on certificates */
	} station;
	char *control_endpoint;
	char *publish_endpoint;
	struct metro_curve_conf control_curve, publish_curve;
	/* The role of a request without an authenticated identity (no CURVE key, an ipc:// peer
	 * whose Unix user maps to no person): a metro_role, or METRO_ROLE_NONE (refused).
	 * `control.unauthenticated`, default manager. */
	int unauthenticated_role;
	struct metro_person *people; /* the person registry (`people:`) */
	size_t npeople;
	char *store_path;      /* resolved */
	long store_reserve_mb; /* free space below which no run starts (default 64) */
	char **procedure_dirs; /* resolved */
	size_t nprocedure_dirs;
	struct metro_procedure **procedures; /* the library, loaded and validated */
	size_t nprocedures;
	char **driver_plugins; /* resolved paths of loaded plugin shared objects */
	size_t ndriver_plugins;
	struct metro_standard_conf *standards;
	size_t nstandards;
	struct metro_rig_conf *rigs;
	size_t nrigs;
	long due_warning_days;
	int log_level;
};

/* Load and validate FILE.  Returns 0 and *out, or METRO_E_INVAL (diagnostics in diag, *out
 * NULL).  Every problem in the file is reported. */
int metro_config_load(const char *path, struct metro_diag *diag, struct metro_config **out);
/* Same from memory (name used in messages and as the base for relative paths). */
int metro_config_load_buffer(const char *name, const unsigned char *buf, size_t len,
			     struct metro_diag *diag, struct metro_config **out);
void metro_config_destroy(struct metro_config **pc);

const struct metro_rig_conf *metro_config_rig(const struct metro_config *c, const char *id);
/* One reference standard written as the configuration writes it (a YAML or JSON mapping in
 * text[0..len)), with the configuration's rules; name and where ("standard") appear in the
 * messages.  Returns 0 and *out (free with metro_standard_conf_free), or METRO_E_INVAL with
 * every problem in diag and *out empty. */
int metro_standard_conf_parse(const char *name, const char *text, size_t len, const char *where,
			      struct metro_diag *diag, struct metro_standard_conf *out);
void metro_standard_conf_free(struct metro_standard_conf *s);
const struct metro_standard_conf *metro_config_standard(const struct metro_config *c,
							const char *id);
const struct metro_procedure *metro_config_procedure(const struct metro_config *c, const char *id);

/* The person registry (config_people.c).  Lookups return NULL when nobody matches. */
const struct metro_person *metro_person_by_id(const struct metro_config *c, const char *id);
const struct metro_person *metro_person_by_curve(const struct metro_config *c, const char *z85);
const struct metro_person *metro_person_by_unix_user(const struct metro_config *c,
						     const char *user);
/* The command role a person's roles give: manager, operator (operator or verifier), else
 * observer. */
enum metro_role metro_person_command_role(const struct metro_person *p);
/* Whether p may run (verify) procedure proc_id today: the operator or verifier role, a
 * qualification valid today, and the procedure among theirs.  0, or METRO_E_DENIED with the
 * reason in why. */
int metro_person_may_verify(const struct metro_person *p, const char *proc_id, char *why,
			    size_t whylen);
/* Whether p may answer prompts today: the operator or verifier role and a valid
 * qualification.  0, or METRO_E_DENIED with the reason in why. */
int metro_person_may_answer(const struct metro_person *p, char *why, size_t whylen);
/* One person written as the configuration writes them (a YAML or JSON mapping in
 * text[0..len)), with the configuration's rules (person-set).  Returns 0 and *out (free with
 * metro_person_free, person.h), or METRO_E_INVAL with every problem in diag and *out empty. */
int metro_person_conf_parse(const char *name, const char *text, size_t len, const char *where,
			    struct metro_diag *diag, struct metro_person *out);

/* Bring the record store's registry (station, standards, rigs) in line with c. */
struct metro_store;
int metro_config_sync_store(const struct metro_config *c, struct metro_store *s);

/* Nonzero when two rig configurations differ in anything that needs the rig restarted. */
int metro_rig_conf_differs(const struct metro_rig_conf *a, const struct metro_rig_conf *b);

/* Check the shape of a ZeroMQ endpoint we will bind: tcp://HOST:PORT or ipc://PATH.
 * Returns 0 or METRO_E_INVAL with a reason in why. */
int metro_endpoint_check(const char *ep, const char **why);

/* Deep copy of one rig's configuration (rig actors own their copy, so a configuration swap on
 * SIGHUP never pulls memory from under a running thread). */
struct metro_rig_conf *metro_rig_conf_dup(const struct metro_rig_conf *r);
void metro_rig_conf_free(struct metro_rig_conf **pr);

#endif
