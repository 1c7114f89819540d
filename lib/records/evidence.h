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

/* A typed result handed from the engine to the recorder: one of the kinds above. */
struct metro_result {
	enum metro_doc_kind kind; /* METRO_DOC_POINT or METRO_DOC_VERDICT */
	union {
		struct metro_point_result *point;
		struct metro_verdict_result *verdict;
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
