/* store_report.h — typed reads of a record store for reports and exports (metroctl report,
 * metroctl export, metroctl audit checkpoint): the station, every position with a verdict,
 * every recorded point, a signed checkpoint.  The SQL lives in store_report.c, beside the
 * schema it reads; programs outside lib/records see structs, never a statement.
 *
 * The walks (metro_store_each_verdict, metro_store_each_point) call fn once per row, in a
 * fixed order; the strings of a row are valid only during that call (copy what you keep).  fn
 * returns 0 to go on; anything else stops the walk, which then returns that value.  fn may
 * call other functions on the same store.  Errors are negative codes from error.h with a
 * sentence in metro_store_errmsg(s).  Works on a read-only store (metro_store_opts.readonly).
 */
#ifndef METRO_STORE_REPORT_H
#define METRO_STORE_REPORT_H

#include <stdint.h>

#include "audit.h"
#include "store.h"

/* The station's registry row.  A field is NULL when it is not recorded. */
struct metro_store_station_info {
	char *station; /* the station id */
	char *name, *institution, *authorisation, *address;
	char *phone, *postcode; /* schema 5; NULL before */
};
/* The (first) station row.  Returns 0 and *out (free with metro_store_station_info_free),
 * METRO_E_NOTFOUND with every field NULL when there is none, or METRO_E_IO. */
int metro_store_station_info(struct metro_store *s, struct metro_store_station_info *out);
void metro_store_station_info_free(struct metro_store_station_info *st);

/* A position that has a verdict: the meter there, its current verdict, its run and the
 * latest certificate number issued for it.  What the statistics table and the instrument
 * inventory count. */
struct metro_store_verdict_row {
	int64_t run;
	const char *started;	       /* the run's start, ISO 8601 UTC */
	const char *verification_type; /* initial, sampling-new, complaint, ... */
	int simulated;		       /* the run was on a simulated rig */
	const char *rig_kind; /* the rig's kind as registered ("bell-prover"); NULL if unknown */
	const char *client;   /* the submitting organisation, NULL */
	int position;
	const char *verdict; /* the current verdict: pass, conditional, fail, aborted, error */
	int64_t chain_seq;   /* the chain record of that verdict (0 when none is linked) */
	const char *serial;
	const char *model, *manufacturer, *accuracy_class; /* NULL when not recorded */
	const char *nameplate;				   /* the nameplate as JSON text, NULL */
	const char *certificate; /* the latest certificate or notice number, NULL */
};
typedef int (*metro_store_verdict_fn)(void *arg, const struct metro_store_verdict_row *row);
/* Every position with a verdict, by run and position. */
int metro_store_each_verdict(struct metro_store *s, metro_store_verdict_fn fn, void *arg);

/* One recorded test-point result with its run, position and meter. */
struct metro_store_point_row {
	int64_t run;
	const char *started; /* the run's start, ISO 8601 UTC */
	const char *rig;
	const char *rig_kind; /* as registered, NULL if the rig is unknown */
	const char *verification_type;
	int simulated;
	int position;
	const char *serial;
	const char *model, *manufacturer, *accuracy_class; /* NULL when not recorded */
	const char *test_point;
	int attempt;
	const char *error, *rounded, *mpe; /* exact decimal text (%), NULL */
	const char *verdict;		   /* the point's verdict, NULL */
	const char *meter_verdict;	   /* the position's current verdict, NULL before one */
	const char *certificate;	   /* the latest certificate or notice number, NULL */
	const char *recorded;		   /* when the point was recorded, ISO 8601 UTC */
	int64_t chain_seq;		   /* the point's chain record */
};
typedef int (*metro_store_point_fn)(void *arg, const struct metro_store_point_row *row);
/* Every recorded point, by run, position and the order of recording. */
int metro_store_each_point(struct metro_store *s, metro_store_point_fn fn, void *arg);

/* ---- certificates and their steps (schema 4, #17) ---- */

/* One signed step of a certificate's workflow, as recorded (copies of the person's name, role
 * and qualification as they were then).  A field is NULL when not recorded. */
struct metro_store_cert_step_row {
	char *step;				 /* verified, checked, approved, issued, voided */
	char *person, *person_name, *role;	 /* the person's id, name and the role acted in */
	char *qualification, *qualification_due; /* their qualification then */
	char *time;				 /* when they signed (ISO 8601 UTC) */
	char *recorded;				 /* when the store recorded it */
	char *why, *replaces;
	char *statement, *signature, *sign_pk; /* what was signed, the signature, the key */
	int64_t chain_seq;
};

/* A certificate or notice and where it stands. */
struct metro_store_cert_status {
	char *number, *kind; /* kind: certificate or notice */
	int64_t run;
	int position;
	int64_t verdict; /* the verdicts row it certifies */
	char *numbered;	 /* when the number was given (certificates.issued) */
	/* 1: issued through the signed steps; 0: issued when numbered; -1: recorded before
	 * schema 4 (issued when numbered) */
	int workflow;
	/* "numbered" (no step yet), "verified", "checked", "approved", "issued" or "voided":
	 * the last step recorded; a certificate issued when numbered is "issued" until voided */
	const char *state;
	int issued; /* printable: issued and not voided is issued && !voided */
	int voided;
	char *replaces;	   /* the voided number this one replaces, NULL */
	char *replaced_by; /* the reissue that replaces this one (when voided), NULL */
	struct metro_store_cert_step_row *steps; /* in the order they were recorded */
	size_t nsteps;
};
/* Read certificate `number` with its steps.  Returns 0 and *out (free with
 * metro_store_cert_status_free), METRO_E_NOTFOUND (no such number) or METRO_E_IO.  On a file
 * before schema 4, steps are none and workflow -1. */
int metro_store_cert_status(struct metro_store *s, const char *number,
			    struct metro_store_cert_status *out);
void metro_store_cert_status_free(struct metro_store_cert_status *c);

/* Checkpoint `epoch` (the latest when epoch is 0).  Returns 0 and *cp, METRO_E_NOTFOUND (no
 * such checkpoint), METRO_E_CORRUPT (a column of the wrong shape) or METRO_E_IO. */
int metro_store_checkpoint_get(struct metro_store *s, int64_t epoch,
			       struct metro_audit_checkpoint *cp);

#endif
