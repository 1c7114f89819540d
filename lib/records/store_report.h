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

/* Checkpoint `epoch` (the latest when epoch is 0).  Returns 0 and *cp, METRO_E_NOTFOUND (no
 * such checkpoint), METRO_E_CORRUPT (a column of the wrong shape) or METRO_E_IO. */
int metro_store_checkpoint_get(struct metro_store *s, int64_t epoch,
			       struct metro_audit_checkpoint *cp);

#endif
