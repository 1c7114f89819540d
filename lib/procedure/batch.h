/* batch.h — a batch of meters to verify on one rig with one procedure.
 *
 * A batch arrives as JSON (the control API's `start`; metroctl turns a batch YAML file into it)
 * and is validated here against the procedure and the rig before anything moves: positions
 * within the rig, unique positions and serial numbers, every nameplate field the procedure asks
 * for and nothing else, numbers exact and within the procedure's range, words from its list.
 * One stimulus serves the whole batch, so every nameplate value a stimulus expression uses (Q3
 * in `flow: q3 * 0.95`, Ib in `current: 0.1 * ib`) must be the same for all meters.
 *
 * Numbers should be given as strings ("2.5") so that they stay exact; JSON numbers are
 * accepted and converted through their shortest decimal form.
 */
#ifndef METRO_BATCH_H
#define METRO_BATCH_H

#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

#include "decimal.h"
#include "kinds.h"
#include "procedure.h"

struct metro_batch_meter {
	int position;
	char *serial, *model, *manufacturer, *approval;
	struct metro_dec *values; /* [proc->nnames]: numeric fields (parameters filled in too) */
	char **text;		  /* [proc->nfields]: text fields' words (NULL for numeric) */
	json_t *nameplate;	  /* as given, for records */
};

struct metro_batch {
	char *run_id;
	char *rig;
	char *operator_name;
	char *submitter;
	/* The purpose the records count it under (statistics): the request's verification_type,
	 * or NULL for the procedure's own. */
	char *verification_type;
	/* A resume-run: the incomplete run this batch continues (0 for a new batch) and, by
	 * position ("3") and item id, the verdicts already committed there ("pass", "fail"):
	 * those points are not run again.  done is owned (may be NULL). */
	int64_t resumed_from;
	json_t *done;
	struct metro_procedure *proc;	  /* owned */
	struct metro_batch_meter *meters; /* sorted by position */
	size_t nmeters;
	int positions;		    /* of the rig */
	struct metro_dec *stimulus; /* [proc->nnames]: values for stimulus expressions */
	int simulated;
	double time_scale;
};

/* What a batch needs to know of the rig it runs on (the daemon fills it from its configuration). */
struct metro_batch_rig {
	const char *id;
	enum metro_rig_kind kind;
	long positions;
	int simulated;	   /* a metrosim instance */
	double time_scale; /* simulated seconds per real second (1 for a real rig) */
};

/* Validate a start request against a loaded procedure (ownership of proc passes to the batch,
 * also on failure) and a rig.  Returns 0 and *out, or METRO_E_INVAL with a message naming the
 * JSON path in err ("meters[2].nameplate.q3: '2.5x' is not a number"). */
int metro_batch_from_json(json_t *req, struct metro_procedure *proc,
			  const struct metro_batch_rig *rig, struct metro_batch **out, char *err,
			  size_t errlen);
void metro_batch_destroy(struct metro_batch **pb);

/* A text nameplate field of a meter ("class"), or NULL. */
const char *metro_batch_text(const struct metro_batch *b, const struct metro_batch_meter *m,
			     const char *field);
/* A numeric nameplate field or parameter of a meter, or the invalid value. */
struct metro_dec metro_batch_value(const struct metro_batch *b, const struct metro_batch_meter *m,
				   const char *name);

/* A double as an exact decimal through its shortest round-trip text (at most 17 digits). */
struct metro_dec metro_dec_from_double(double v);

#endif
