/* store.h — the record store: SQLite, one file, the system of record.
 *
 * Everything a verdict depends on is written here before anything is acknowledged or
 * published: each write function runs in a transaction that is durably committed (WAL,
 * synchronous=FULL) before it returns, or, between metro_store_tx_begin() and
 * metro_store_tx_commit(), when the commit returns.  Chained rows (audit.h lists the tables)
 * are appended to a SHA-256 hash chain in the same transaction; metro_store_checkpoint() signs
 * the chain head with the station's Ed25519 key.  docs/records.md documents the schema, the
 * chain and the recovery rules.
 *
 * Failure is closed: an I/O error, a full disk, a damaged file (anything but a constraint
 * refusal or a lock timeout) rolls the transaction back and puts the store into a failed
 * state in which every later write returns METRO_E_IO and metro_store_failed() says why.
 * The daemon then refuses new runs and raises an alarm; only a restart clears the state,
 * because after an I/O error nothing the process believes about the file can be trusted.
 *
 * Errors: every function returns 0 or a negative code from error.h; metro_store_errmsg()
 * holds a sentence about the last failure (it names the record, the standard, the state).
 * A store is used by one thread at a time.
 */
#ifndef METRO_STORE_H
#define METRO_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence.h"
#include "kinds.h"
#include "person.h"
#include "schema.h"
#include "standard.h"
#include "yfile.h"

#define METRO_STORE_CERT_MAX 96 /* bytes of a certificate number, with its NUL */

struct metro_store;

struct metro_store_opts {
	const char *path;     /* database file; created (with its directory's key pair) if absent */
	const char *station;  /* station id, 1..63 bytes: certificates, checkpoints (writable) */
	const char *key_path; /* secret key; NULL: path with its extension replaced by ".key" */
	const char *pub_path; /* public key; NULL: key_path with ".key" replaced by ".pub" */
	int readonly;	      /* inspect only (metroctl): no migration, key, recovery or write */
	int busy_timeout_ms;  /* wait for another process's lock; 0 means 5000 */
	int max_schema;	      /* tests only: migrate no further than this version (0: latest) */
	int init_store;	      /* start a new store where the state file says a history existed (the
			       * database is missing); refused if the database exists */
};

/* Open (creating and migrating as needed) a record store.  A writable open also loads or
 * creates the station key pair (secret key mode 0600; a key file readable by others is
 * refused), marks every run left `running` by a crash as `incomplete` (an audit event each),
 * and records key creation or a key change as audit events.  It keeps a state file beside the
 * key (chain head at the last checkpoint, store_state.c) and refuses, with METRO_E_STATE, a
 * database that is missing where a history existed (unless init_store) or whose chain does
 * not contain that head.  A database whose schema is
 * newer than METRO_STORE_SCHEMA is refused with METRO_E_UNSUPPORTED.  Returns 0 and *out, or
 * an error with a message in err (errcap bytes) and *out NULL. */
int metro_store_open(const struct metro_store_opts *o, struct metro_store **out, char *err,
		     size_t errcap);
/* Close and set *ps to NULL; takes NULL.  A healthy writable store first signs any records
 * made since the last checkpoint, so that a cleanly closed database is entirely signed. */
void metro_store_close(struct metro_store **ps);

/* Mark every run still `running` `incomplete` now, with its end reason and an audit event
 * (`run.incomplete`, why): the daemon does it when it stops with runs in progress, so that
 * the record says when and why, and the runs can be resumed.  *n: how many. */
int metro_store_interrupt_runs(struct metro_store *s, const char *reason, const char *why,
			       size_t *n);

/* Look at the database file the store was opened on: deleted, or replaced by another file
 * under its name, the store fails closed (METRO_E_IO).  Every commit looks first; the daemon
 * also calls it every second or two.  0 while the file is the one opened. */
int metro_store_check_file(struct metro_store *s);

/* NULL while the store is healthy; otherwise why it failed closed (stays until reopened). */
const char *metro_store_failed(const struct metro_store *s);
/* The last error's explanation ("" when none).  Valid until the next call on s. */
const char *metro_store_errmsg(const struct metro_store *s);
/* Runs that metro_store_open() found `running` and marked `incomplete`. */
size_t metro_store_recovered(const struct metro_store *s, const int64_t **runs);
/* The station's public key in hex (64 digits and a NUL); "" for a read-only store. */
const char *metro_store_pubkey(const struct metro_store *s);

/* Group several writes into one transaction (for a result and the document describing it).
 * Nesting is allowed; only the outermost commit commits.  After a failed write inside the
 * group, later writes are refused with the same error and commit rolls everything back and
 * returns it: nothing half-written survives.  commit returns METRO_E_STATE without a begin. */
int metro_store_tx_begin(struct metro_store *s);
int metro_store_tx_commit(struct metro_store *s);
void metro_store_tx_rollback(struct metro_store *s);

/* ---- registry ------------------------------------------------------------------------------ */

struct metro_store_station {
	const char *id; /* required */
	const char *name, *institution, *authorisation, *address;
	const char *phone, *postcode; /* optional (schema 5) */
};

/* Insert or update the station's row.  A change is an audit event (old and new values of the
 * changed fields) by actor for reason why. */
int metro_store_station(struct metro_store *s, const struct metro_store_station *st,
			const char *actor, const char *why);
/* A rig as the registry knows it. */
struct metro_store_rig {
	const char *id;
	enum metro_rig_kind kind;
	const char *driver;
	long positions;
	char *const *standards; /* ids */
	size_t nstandards;
	int simulated;
};
/* Everything a configuration says about the station, its standards and its rigs. */
struct metro_store_registry {
	struct metro_store_station station;
	const struct metro_standard_conf *standards;
	size_t nstandards;
	const struct metro_store_rig *rigs;
	size_t nrigs;
};
/* Bring the registry in line with a loaded configuration, in one transaction: the station,
 * the reference standards (metro_store_sync_standards) and the rigs.  Each difference from
 * what is stored is an audit event with actor "config" and reason "configuration load". */
int metro_store_sync_registry(struct metro_store *s, const struct metro_store_registry *r);
/* Sync the standards registry with the configured standards: new ones are added, changed
 * fields are updated, standards no longer configured are retired (kept, inactive).  Every
 * change is an audit event (old and new values) plus one standard_changes row per field. */
int metro_store_sync_standards(struct metro_store *s, const struct metro_standard_conf *std,
			       size_t n);
/* A manager's change of one standard (added if unknown): the fields of std replace the
 * stored ones.  actor and why are required (METRO_E_INVAL otherwise).  A change that changes
 * nothing is not recorded. */
int metro_store_standard_change(struct metro_store *s, const struct metro_standard_conf *std,
				const char *actor, const char *why);
/* Insert or update a rig's row (an audit event when it changes). */
int metro_store_rig(struct metro_store *s, const struct metro_store_rig *r, const char *actor,
		    const char *why);
/* Register a procedure's exact content.  sha256 (hex) may be NULL; when given it must be the
 * digest of content (METRO_E_CORRUPT otherwise).  The same content registered twice gives
 * the same id.  Returns 0 and *id. */
int metro_store_procedure(struct metro_store *s, const char *name, const char *content, size_t len,
			  const char *sha256, int64_t *id);
/* Register a rig profile's exact content (schema 3): name (the file's name), path (as the
 * rig's configuration resolved it), the bytes read and their SHA-256 (hex; may be NULL, when
 * given it must be the digest of content: METRO_E_CORRUPT otherwise, naming both).  The same
 * content at the same path registered twice gives the same id.  Returns 0 and *id. */
int metro_store_profile(struct metro_store *s, const char *name, const char *path,
			const char *content, size_t len, const char *sha256, int64_t *id);

/* ---- runs ---------------------------------------------------------------------------------- */

/* A rig's newest commissioning run (verification type `commissioning`, ended): its number,
 * end state and time, who ran it, the SHA-256 of the profile it drove, and whether it proved
 * the rig (ended `done` with every position passed).  METRO_E_NOTFOUND: never commissioned. */
struct metro_store_commissioned {
	int64_t run;
	char state[16];
	char ended[40];
	char operator_id[128];
	char profile_sha256[65];
	int passed;
};
int metro_store_commissioning(struct metro_store *s, const char *rig,
			      struct metro_store_commissioned *out);
/* Whether run is a commissioning run (no certificate, not counted in the statistics). */
int metro_store_run_is_commissioning(struct metro_store *s, int64_t run, int *yes);

struct metro_store_meter {
	int position;	    /* 1-based position on the rig */
	const char *serial; /* required */
	const char *model, *manufacturer, *pattern_approval, *accuracy_class; /* may be NULL */
	const json_t *nameplate; /* Q3, R, Ib, Imax, constants...; may be NULL (borrowed) */
};

struct metro_store_run {
	const char *rig;
	int64_t procedure; /* from metro_store_procedure() */
	int64_t profile;   /* the rig's profile, from metro_store_profile(); 0: not recorded */
	const char *software_version, *software_sha256; /* METRO_VERSION, executable digest */
	const char *verification_type; /* initial, subsequent, in-service, sampling-new,
					* sampling-in-use, complaint */
	const char *operator_id;
	const char *client; /* submitting organisation; may be NULL */
	int simulated;
	const json_t *environment, *parameters; /* may be NULL (borrowed) */
	const char *const *standards;		/* registry ids of the standards the run uses */
	size_t nstandards;
	const struct metro_store_meter *meters;
	size_t nmeters;
	int64_t resumed_from; /* 0, or the incomplete run this one resumes */
};

/* Start a run: records the run (state `running`), a copy of each standard's certificate
 * fields as they are today (run_standards: later registry edits cannot change history), the
 * software, the meters and their positions.  When the run names a profile whose SHA-256
 * differs from the profile of the rig's latest earlier run that recorded one, an audit event
 * `profile.changed` (subject rig/<id>, old and new digest, path and run) is recorded in the
 * same transaction.  Refused with METRO_E_DENIED, naming the
 * standard and the date, when a standard or its assessment certificate is past due today;
 * METRO_E_NOTFOUND when a standard is not in the registry (or retired) or the procedure or
 * resumed run does not exist; METRO_E_STATE when the resumed run is not `incomplete`;
 * METRO_E_EXISTS when it was resumed already.  Returns 0 and *run. */
int metro_store_run_begin(struct metro_store *s, const struct metro_store_run *r, int64_t *run);

struct metro_store_point {
	int64_t run;
	int position;
	const char *test_point; /* the procedure's test point id ("Q3", "Ib-PF1") */
	int attempt;		/* 1-based repeat number */
	const json_t *readings; /* required: raw readings with their times (borrowed) */
	const json_t *intermediates, *environment; /* may be NULL (borrowed) */
	const char *error, *rounded, *mpe;	   /* exact decimals (%), may be NULL */
	const char *verdict; /* pass, conditional, fail, aborted, error; may be NULL */
	const char *rule;    /* the rule that decided it, may be NULL */
};
/* Record one test-point result of a running run (METRO_E_STATE otherwise).  Returns 0 and *id
 * (id may be NULL). */
int metro_store_point(struct metro_store *s, const struct metro_store_point *p, int64_t *id);
/* Record a point result as the engine produced it (evidence.h): the error, its rounding and
 * the limit stored as exact decimal text (metro_evidence_text), the verdict and rule by name,
 * readings (borrowed: the published document's values) as given.  A value that cannot be
 * written exactly is refused (METRO_E_INVAL naming it), never stored approximately. */
int metro_store_point_result(struct metro_store *s, const struct metro_point_result *r,
			     const json_t *readings, int64_t *id);

struct metro_store_verdict {
	int64_t run;
	int position;
	const char *verdict;	    /* pass, conditional, fail, aborted, error */
	const json_t *failed_items; /* may be NULL (borrowed) */
	const char *rule;
	int64_t corrects;  /* 0, or the id of the current verdict this one corrects */
	const char *actor; /* required */
	const char *why;   /* required for a correction */
};
/* Record a position's verdict.  Verdict rows are immutable (the schema refuses UPDATE and
 * DELETE); a correction is a new row that names the verdict it replaces and becomes the
 * position's current verdict (plus an audit event).  A first verdict needs a running run and
 * no current verdict (METRO_E_STATE / METRO_E_EXISTS); a correction must name the current
 * verdict.  Returns 0 and *id (id may be NULL). */
int metro_store_verdict(struct metro_store *s, const struct metro_store_verdict *v, int64_t *id);

struct metro_store_input {
	int64_t run;
	int position;	    /* 0 when the prompt is about the whole batch */
	const char *prompt; /* the procedure's prompt id or text */
	const char *answer;
	const char *operator_id;
};
int metro_store_input(struct metro_store *s, const struct metro_store_input *in, int64_t *id);

/* End a running run with state done, stopped, aborted or error (METRO_E_INVAL otherwise;
 * METRO_E_STATE when the run is not running).  reason may be NULL. */
int metro_store_run_end(struct metro_store *s, int64_t run, const char *state, const char *reason);
/* The committed test-point results of a run and of the runs it resumes, as a JSON array of
 * {run, position, test_point, attempt, verdict, error, rounded}: what a resume-run must not
 * repeat.  Returns 0 and *out (new reference). */
int metro_store_committed_points(struct metro_store *s, int64_t run, json_t **out);

/* ---- audit events, certificates, documents, checkpoints ----------------------------------- */

/* Record an audit event: who (actor), what (action, subject), old and new values (JSON,
 * borrowed, may be NULL) and why (required).  Returns 0 and *id (id may be NULL). */
int metro_store_audit(struct metro_store *s, const char *actor, const char *action,
		      const char *subject, const json_t *old_value, const json_t *new_value,
		      const char *why, int64_t *id);

/* Issue the next certificate number for a position's current verdict:
 * "<station>-<year>-<6 digits>", from a per-station, per-year sequence that only rises, so a
 * number is never issued twice, even if rows were deleted.  A pass gets a verification
 * certificate, anything else a notice of nonconformity.  METRO_E_STATE when the position has
 * no verdict. */
int metro_store_certificate(struct metro_store *s, int64_t run, int position,
			    char number[METRO_STORE_CERT_MAX]);

/* The next `seq` for a published document.  Monotonic across restarts: seqs are reserved in
 * durable blocks, so a restart may skip some but never repeats one. */
int metro_store_next_seq(struct metro_store *s, int64_t *seq);
/* Store a published document for replay: assigns the next seq, sets doc["seq"] to it and
 * stores the compact JSON under topic.  Call inside the transaction of the result the
 * document describes.  Returns 0 and *seq (may be NULL). */
int metro_store_document(struct metro_store *s, const char *topic, json_t *doc, int64_t *seq);
/* Stored documents with seq >= from, oldest first, at most limit (0: 1000), as an array of
 * {seq, topic, doc}.  Returns 0 and *out (new reference). */
int metro_store_replay(struct metro_store *s, int64_t from, size_t limit, json_t **out);

/* Sign the chain head: a new checkpoint (epoch one above the last) stored as a chained row
 * and as a document on topic "audit".  Returns 0 and *doc (new reference, with seq), or 0 and
 * *doc NULL when nothing was recorded since the last checkpoint. */
int metro_store_checkpoint(struct metro_store *s, json_t **doc);

/* ---- people and the certificate workflow (schema 4, #17) ----------------------------------- */

/* The person registry (table people; docs/records.md "People").  A person is stored with the
 * names of their roles (metro_person_role_name), qualification and its due date, the
 * procedures they may verify, their Ed25519 public key (hex) and Unix user, and active 1.
 * Every difference from the stored row is one audit event (`person.added` or
 * `person.changed`, subject person/<id>, old and new values of the changed fields) plus one
 * person_changes row per field; a person equal to the stored one records nothing.  A person
 * is never deleted: retired, active becomes 0 (person.changed), and listed again, 1. */

/* Bring the registry in line with the configuration's `people:` at start and on every reload,
 * in one transaction, actor "config", reason "configuration load": new people added, changed
 * fields updated, everyone active who is not in people[0..n) retired.  Call it after
 * metro_store_sync_registry() (both may sit in one metro_store_tx_begin/commit group).  A bad
 * entry (id not [a-z0-9._-]{1,63}, no name, unknown role bits, a key that is not an Ed25519
 * point, an id given twice) is METRO_E_INVAL naming the person, and nothing is changed. */
int metro_store_sync_people(struct metro_store *s, const struct metro_person *people, size_t n);
/* A manager's change of one person (added if unknown, made active): the fields of p replace
 * the stored ones.  actor (who asked) and why are required (METRO_E_INVAL). */
int metro_store_person_change(struct metro_store *s, const struct metro_person *p,
			      const char *actor, const char *why);
/* A manager retires a person (active 0).  METRO_E_NOTFOUND when the id is unknown; nothing is
 * recorded when they are retired already. */
int metro_store_person_retire(struct metro_store *s, const char *id, const char *actor,
			      const char *why);

/* Number a certificate or notice for a position's current verdict that is issued only
 * through the signed workflow (certificates.workflow 1): it is a draft until its steps
 * verified, checked, approved and issued are recorded (metro_store_cert_step), and only then
 * printable.  Same numbering and refusals as metro_store_certificate(), which numbers a
 * certificate issued at once (workflow 0, the rule before #17). */
int metro_store_certificate_draft(struct metro_store *s, int64_t run, int position,
				  char number[METRO_STORE_CERT_MAX]);

/* One step of a certificate's workflow, as the person signed it. */
struct metro_cert_step {
	const char *number;    /* the certificate or notice */
	const char *step;      /* "verified", "checked", "approved", "issued" or "voided" */
	const char *person;    /* the person's id (people.person) */
	const char *time;      /* when they signed: ISO 8601 UTC, as in the statement */
	const char *why;       /* required for voided; may be NULL otherwise */
	const char *replaces;  /* the verified step of a reissue: the voided number; else NULL */
	const char *signature; /* 128 hex digits: the person's Ed25519 signature of
				* metro_cert_statement(station, number, step, person, time, why,
				* replaces), station being the store's station id */
};
#define METRO_STORE_CODE_MAX 32 /* bytes of a refusal code, with its NUL */

/* Record one signed step (table certificate_steps, chained, immutable), with copies of the
 * person's name, the role they acted in, their qualification and its due date as they are
 * now, the statement, the signature and the key it verifies under.  Returns 0, or an error
 * with a stable refusal code in code (the daemon answers `refused (CODE): MESSAGE`, MESSAGE
 * being metro_store_errmsg(s)) and nothing recorded:
 *   bad-request    a field missing or malformed (step name, time, signature shape, a
 *                  control character), voided without why, replaces on another step
 *                  (METRO_E_INVAL)
 *   not-found      no such certificate or person (METRO_E_NOTFOUND)
 *   forbidden      the person is retired or lacks the role: verified needs verifier, checked
 *                  checker, approved and issued approver, voided approver or manager
 *                  (METRO_E_DENIED)
 *   not-qualified  verified and checked need a qualification valid today and the run's
 *                  procedure among the person's procedures (an entry may end in '*'); any
 *                  step is refused past the person's qualification due date (METRO_E_DENIED)
 *   workflow       a step other than voided on a certificate issued when numbered
 *                  (workflow 0 or recorded before schema 4) (METRO_E_STATE)
 *   out-of-order   not the next step: verified, checked, approved, issued, in that order;
 *                  voided only after issued (METRO_E_STATE)
 *   exists         that step is recorded already, or the certificate is voided
 *                  (METRO_E_EXISTS)
 *   same-person    checked or approved by the person who verified (METRO_E_DENIED)
 *   replaces       the verified step of a reissue does not name the voided certificate the
 *                  reissue replaces, or names one where there is none (METRO_E_INVAL)
 *   bad-time       the signed time is more than 300 s ahead of the store's clock
 *                  (METRO_E_INVAL)
 *   bad-signature  the signature does not verify under the person's key (METRO_E_DENIED)
 *   store          the store failed (METRO_E_IO and the others of "Failing closed") */
int metro_store_cert_step(struct metro_store *s, const struct metro_cert_step *step,
			  char code[METRO_STORE_CODE_MAX]);

/* Reissue a voided certificate: a new number from the sequence for the same run and position,
 * certifying the position's current verdict (the voided one's, unless it was corrected since;
 * the kind follows the verdict), with certificates.replaces naming the voided number and
 * workflow 1: its first step, verified, must name the voided number in `replaces`.  An audit
 * event `certificate.reissued` (subject certificate/<new>, old {number: voided}, by actor for
 * why; both required) goes with it.  Refusals as above: not-found, bad-request, `not-voided`
 * (a certificate not voided cannot be replaced; METRO_E_STATE), exists (it was reissued
 * already, as the returned message says).  Returns 0 and the new number. */
int metro_store_cert_reissue(struct metro_store *s, const char *voided, const char *actor,
			     const char *why, char number[METRO_STORE_CERT_MAX],
			     char code[METRO_STORE_CODE_MAX]);

/* ---- wall time ----------------------------------------------------------------------------- */

/* The newest wall time the store holds, in microseconds since 1970 UTC (0: nothing recorded):
 * the latest of the runs' start and end times, of the newest audit event, checkpoint, point,
 * verdict, input and certificate, and of every chained record written since the store was
 * opened.  Records made before the last `clock.accepted` audit event do not count.  The
 * daemon refuses runs while its clock is behind it (docs/records.md "Wall time"). */
int metro_store_newest_time(struct metro_store *s, int64_t *us);
/* A manager accepts the clock as it is although records carry later times (they were stamped
 * by a clock that ran ahead): the audit event `clock.accepted` (subject "clock", old
 * {newest_record}, new {clock}, by actor, why required) is recorded and the newest time
 * becomes now.  The records keep the times they have. */
int metro_store_clock_accept(struct metro_store *s, const char *actor, const char *why);

/* ---- queries (JSON, new references) -------------------------------------------------------- */

/* The latest runs, newest first (limit 0: 100). */
int metro_store_runs(struct metro_store *s, size_t limit, json_t **out);
/* One run: the run, procedure, software, standards as of the run, positions with meters and
 * verdicts, points, inputs, certificates.  METRO_E_NOTFOUND when there is no such run. */
int metro_store_run(struct metro_store *s, int64_t run, json_t **out);
/* The evidence behind a certificate number or every result of a meter serial: for each
 * (run, position) the run, standards and certificates as of the run, procedure and its hash
 * (and whether the stored content still has it), software, operator, meter, raw readings and
 * intermediate values of every point (those of resumed runs too), verdicts with
 * corrections, inputs, certificates and the first checkpoint that signs it all.
 * METRO_E_NOTFOUND when nothing matches. */
int metro_store_trace(struct metro_store *s, const char *cert_or_serial, json_t **out);
/* The standards registry with days left until each due date as of today (and until the
 * assessment certificate's due date). */
int metro_store_standards(struct metro_store *s, const struct metro_date *today, json_t **out);

#endif
