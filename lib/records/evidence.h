/* evidence.h — the typed evidence path: what the procedure engine produces, the record store
 * records and the publisher encodes, as C values rather than JSON (docs/architecture.md).
 *
 * A legal value (an error, its rounding, the limit, the verdict) travels from the engine to the
 * store as the exact number the metrology module computed and is written to the database as
 * exact decimal text; the published document is encoded from the same struct after the commit.
 * Nothing reads a legal value back out of a JSON document.
 *
 * Also the one name table of verdicts and of document kinds.
 */
#ifndef METRO_EVIDENCE_H
#define METRO_EVIDENCE_H

#include <jansson.h>
#include <stdint.h>

#include "decimal.h"
#include "metrology.h"

/* Verdicts, ordered: pass < conditional < fail < aborted < error. */
enum metro_verdict {
	METRO_VERDICT_PASS,
	METRO_VERDICT_CONDITIONAL,
	METRO_VERDICT_FAIL,
	METRO_VERDICT_ABORTED,
	METRO_VERDICT_ERROR,
	METRO_VERDICTS
};
extern const char *const metro_verdict_names[METRO_VERDICTS];
/* The name of v, or "?". */
const char *metro_verdict_name(enum metro_verdict v);

/* Significant digits of a real number in a published document, and so in its stored copy
 * (documents table): the copy replayed is the document that was published. */
#define METRO_DOC_REAL_PRECISION 12

/* The kinds of document metrod publishes (topic "<kind>.<rig>" or "<kind>"; docs/protocol.md). */
enum metro_doc_kind {
	METRO_DOC_READING,
	METRO_DOC_HEALTH,
	METRO_DOC_ALARM,
	METRO_DOC_RUN,
	METRO_DOC_POINT,
	METRO_DOC_VERDICT,
	METRO_DOC_PROMPT,
	METRO_DOC_AUDIT,
	METRO_DOC_KINDS
};
extern const char *const metro_doc_kind_names[METRO_DOC_KINDS];
/* The kind named by the len bytes at name: 0 and *out, or -1. */
int metro_doc_kind_parse(const char *name, size_t len, enum metro_doc_kind *out);

/* One test point's result for one position, as the engine produced it. */
struct metro_point_result {
	int64_t run; /* the run's number in the record store */
	int position;
	char *serial;
	char *item;	       /* the procedure's test point id ("Q3", "Ib-PF1") */
	char *title;	       /* may be NULL */
	const char *item_kind; /* static: metro_item_kind_name() */
	int attempt;	       /* 1-based repeat number */
	int pending;	       /* an intermediate run that asks for more runs: no verdict yet */
	enum metro_verdict verdict;
	int judged; /* judgement holds the decision (error, rounding, limit, rule) */
	struct metro_mx_judgement judgement;
	json_t *values; /* readings and intermediate values, owned; the judgement is not in it */
};

/* A new result owning copies of the strings and the reference to values (stolen). */
struct metro_point_result *metro_point_result_new(int64_t run, int position, const char *serial,
						  const char *item, const char *title,
						  const char *item_kind, json_t *values);
void metro_point_result_free(struct metro_point_result **pr);

/* The body of the published `point` document ("position", "serial", "item", "kind",
 * "verdict", "values" with "judgement" when judged, "title"), before the publisher stamps it.
 * The caller adds "run".  Returns a new reference. */
json_t *metro_point_result_doc(const struct metro_point_result *r);

/* A meter's final verdict in a run, as the engine decided it. */
struct metro_verdict_result {
	int64_t run;
	int position;
	char *serial;
	enum metro_verdict verdict;
	json_t *failed_items; /* the test point ids it failed (array), owned */
	char *reason;	      /* why it is error or aborted, or NULL */
};
struct metro_verdict_result *metro_verdict_result_new(int64_t run, int position, const char *serial,
						      enum metro_verdict v, json_t *failed_items,
						      const char *reason);
void metro_verdict_result_free(struct metro_verdict_result **pr);
/* The body of the published `verdict` document ("position", "serial", "verdict",
 * "failed_items", "reason"), before the publisher adds the run, the certificate number and
 * its stamp.  New reference. */
json_t *metro_verdict_result_doc(const struct metro_verdict_result *r);

/* The states of a run, in `run` documents.  SAFE follows DONE: the rig actor has put the rig
 * in its safe state and read it back. */
enum metro_run_state {
	METRO_RUN_IDLE,
	METRO_RUN_STARTING,
	METRO_RUN_RUNNING,
	METRO_RUN_PAUSING,
	METRO_RUN_PAUSED,
	METRO_RUN_SUSPENDED,
	METRO_RUN_STOPPING,
	METRO_RUN_ABORTING,
	METRO_RUN_DONE,
	METRO_RUN_SAFE,
	METRO_RUN_STATES
};
extern const char *const metro_run_state_names[METRO_RUN_STATES];
/* The name of s, or "?". */
const char *metro_run_state_name(enum metro_run_state s);

/* How a run ended (the runs table's state and the `done` document's "result"). */
enum metro_run_end {
	METRO_END_DONE,	   /* every test point ran */
	METRO_END_STOPPED, /* an operator stopped it at a test-point boundary */
	METRO_END_ABORTED, /* abort or halt */
	METRO_END_ERROR,   /* a rig fault or an engine error */
	METRO_RUN_ENDS
};
extern const char *const metro_run_end_names[METRO_RUN_ENDS];
const char *metro_run_end_name(enum metro_run_end e);

/* A run's change of state, as the engine (or, for SAFE, the rig actor) announced it. */
struct metro_run_event {
	int64_t run;
	enum metro_run_state state;
	char *reason;		/* why it changed (pause, suspension, abort), or NULL */
	enum metro_run_end end; /* DONE: how the run ended; the run's record is closed with it */
	char *fault;		/* DONE: the rig fault that ended it, or NULL */
	int safe_verified;	/* SAFE: the safe state was read back */
	json_t *context; /* STARTING: procedure, operator, meters, items (owned), else NULL */
};
/* A new event owning a copy of reason (NULL or empty: none). */
struct metro_run_event *metro_run_event_new(int64_t run, enum metro_run_state state,
					    const char *reason);
void metro_run_event_free(struct metro_run_event **pe);
/* The body of the published `run` document ("state", and "reason", "result", "fault",
 * "safe_state_verified" or the starting context), before the publisher adds "run" and its
 * stamp.  New reference. */
json_t *metro_run_event_doc(const struct metro_run_event *e);

/* A question put to the operator (and, with closed, its closing), as the engine asked it. */
struct metro_prompt_event {
	int64_t run;
	char *id; /* "<item>-<n>" */
	char *item;
	char *question;
	int *positions; /* the positions it concerns */
	size_t npositions;
	double timeout_s;
	int closed;	     /* the prompt is over */
	int answered;	     /* closed: an answer came (else it timed out or the run ended) */
	char *operator_name; /* answered: who answered */
	json_t *extra;	     /* what the question needs shown ("kind", "phase", "unit"), or NULL */
};
/* A new open prompt owning copies of the strings and positions, and extra (stolen). */
struct metro_prompt_event *metro_prompt_event_new(int64_t run, const char *id, const char *item,
						  const char *question, const int *positions,
						  size_t npositions, double timeout_s,
						  json_t *extra);
/* A copy of p, closed: answered by operator_name (NULL: not answered). */
struct metro_prompt_event *metro_prompt_event_closed(const struct metro_prompt_event *p,
						     const char *operator_name);
void metro_prompt_event_free(struct metro_prompt_event **pp);
/* The body of the published `prompt` document.  New reference. */
json_t *metro_prompt_event_doc(const struct metro_prompt_event *p);

/* A typed result handed from the engine to the recorder: one of the kinds above. */
struct metro_result {
	enum metro_doc_kind kind; /* METRO_DOC_POINT, _VERDICT, _RUN or _PROMPT */
	union {
		struct metro_point_result *point;
		struct metro_verdict_result *verdict;
		struct metro_run_event *run;
		struct metro_prompt_event *prompt;
	} u;
};
void metro_result_free(struct metro_result *r);

/* A judgement as JSON: error, mpe, judged, rule, and rounded and interval for the rounding
 * rule; numbers from the exact values (15 significant digits).  New reference. */
json_t *metro_mx_judgement_json(const struct metro_mx_judgement *j);
/* An exact number as a JSON number written from its decimal text (15 significant digits);
 * null for the invalid value.  New reference. */
json_t *metro_dec_json(struct metro_dec d);

/* The exact decimal text stored for a legal value: up to METRO_EVIDENCE_DIGITS significant
 * digits, no exponent (an exact value with no more digits is written exactly).  0, or
 * METRO_E_INVAL for the invalid value. */
#define METRO_EVIDENCE_DIGITS 20
int metro_evidence_text(struct metro_dec d, char *buf, size_t cap);

#endif
