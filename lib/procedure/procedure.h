/* procedure.h — verification procedures: declarative YAML files a metrologist can review.
 *
 * A procedure names the regulation it implements, the meter and rig kinds, the verification
 * type, the nameplate fields a batch must give, parameters, influence-quantity conditions,
 * and the items to run in order: operator judgements (visual inspection, leak tightness), flow
 * points (water, gas), load points, start, creep and constant tests (electricity).  Quantities
 * are expressions over the nameplate and the parameters (expr.h), evaluated exactly.
 *
 * metro_procedure_load() validates a whole file and reports every problem at FILE:LINE:COL;
 * a loaded procedure is immutable and carries the SHA-256 of the file's bytes, which every run
 * records.  The format is documented in docs/procedures.md.
 */
#ifndef METRO_PROCEDURE_H
#define METRO_PROCEDURE_H

#include <stddef.h>

#include "decimal.h"
#include "diag.h"
#include "expr.h"

/* A creep-test item without allowed_pulses allows this many pulses in the creep time (IEC
 * 62053-21: "not more than one pulse"; JJG 596-2012 [confirm], docs/metrology.md). */
#define METRO_CREEP_ALLOWED_PULSES_DEFAULT 1

enum metro_item_kind {
	METRO_ITEM_JUDGEMENT,
	METRO_ITEM_FLOW_POINT,
	METRO_ITEM_LOAD_POINT,
	METRO_ITEM_START_TEST,
	METRO_ITEM_CREEP_TEST,
	METRO_ITEM_CONSTANT_TEST,
	/* Commissioning (verification: commissioning): the rig's position map and decoding
	 * against what each meter's own display shows (daemon/engine/commission.c). */
	METRO_ITEM_POSITION_CHECK,
	METRO_ITEM_MEASUREMENT, /* a quantity read or typed per position, judged against limits */
	METRO_ITEM_TIMING_TEST,
};

/* A measurement item takes at most this many readings (`count`), combined by their mean. */
#define METRO_MEASUREMENT_MAX_READINGS 16

enum metro_repeat {
	METRO_REPEAT_SINGLE,	       /* one measurement */
	METRO_REPEAT_WATER_RETEST,     /* JJG 162: over the MPE -> two more, all must hold */
	METRO_REPEAT_ELECTRICITY_MEAN, /* JJG 596: mean of 2, two more in the 80-120 % band */
	METRO_REPEAT_MEAN,	       /* mean of `runs` measurements (gas, configurable) */
};

enum metro_formula {
	METRO_FORMULA_NONE,
	METRO_FORMULA_VOLUMETRIC,
	METRO_FORMULA_GRAVIMETRIC,
	METRO_FORMULA_BELL,
	METRO_FORMULA_MASTER_METER,
	METRO_FORMULA_PULSE,
};

/* One nameplate field: a number within [min, max], or one of a list of words. */
struct metro_proc_field {
	char *name;
	char *unit;
	int is_text;
	char **values; /* is_text: the allowed words */
	size_t nvalues;
	struct metro_dec min, max;
	int has_min, has_max;
};

struct metro_proc_param {
	char *name;
	struct metro_dec value;
};

/* An influence quantity that must stay within [min, max] while points run (a suspender). */
struct metro_proc_condition {
	char *channel;
	char *unit;
	struct metro_dec min, max;
	/* minus: the condition is on channel - minus (e.g. bell.temp - pos[N].temp, every
	 * position's), or NULL.  A channel prefixed pos[N]. is checked for every position. */
	char *minus;
	/* when: {value: EXPR, min, max}: the condition applies only while the batch's value of
	 * EXPR (over the nameplate, one value for the batch) lies within [min, max]; NULL: always
	 */
	struct metro_expr *when;
	struct metro_dec when_min, when_max;
	int has_when_min, has_when_max;
};

struct metro_proc_item {
	char *id;
	enum metro_item_kind kind;
	char *title;
	char *prompt; /* judgement: the question to the operator */
	/* judgement: the rig channel whose reading decides it (`sensor:`), or NULL.  With one,
	 * an automated answer is taken on any rig; without, only on a simulated rig. */
	char *sensor;
	unsigned line;
	/* flow points */
	struct metro_expr *flow, *window_min, *window_max, *volume_l;
	struct metro_dec min_seconds;
	char *stab_channel;
	struct metro_dec stab_band_pct, stab_seconds;
	int has_stabilise;
	struct metro_dec steady_pct, max_temp_change; /* 0 = not checked */
	int operator_readings; /* the meter's start/end readings are typed by the operator */
	/* load points and the constant test */
	struct metro_expr *current, *voltage, *energy_kwh;
	char *pf; /* "1.0", "0.5L", "0.8C" */
	struct metro_dec settle_seconds, limit_pct;
	/* creep test: the most pulses a passing meter may give in the creep time */
	long allowed_pulses;
	enum metro_formula formula;
	enum metro_repeat repeat;
	long runs; /* METRO_REPEAT_MEAN; timing test: readings averaged */
	/* position check: how far a position's reading may be from its meter's display, % of
	 * the display's volume (plus two of the meter's scale intervals) */
	struct metro_dec tolerance_pct;
	/* measurement: a quantity in `unit` read `count` times (mean) from `channel` (a rig
	 * channel or pos[N].x), or typed by the operator (operator_readings, with `prompt`), at
	 * the flow `flow` (optional, held for settle_seconds first), judged against
	 * [limit_min, limit_max] evaluated over each meter's nameplate (either may be NULL). */
	char *unit, *channel;
	long count;
	struct metro_dec interval_s;
	struct metro_expr *limit_min, *limit_max;
	/* only: {FIELD: [WORD, ...]}: the item applies only to meters whose text nameplate field
	 * FIELD is one of the words (e.g. the function check of meters with electronics); others
	 * sit it out.  NULL: every meter. */
	char *only_field;
	char **only_values;
	size_t nonly;
	/* constant (register) test: the register read over the rig (pos[N].register) or typed by
	 * the operator; the register's resolution (kWh, an expression over the nameplate, per
	 * meter); the largest share of the limit one register step may be (resolution_ratio);
	 * limit_by_class: the limit is the class MPE at the test's load instead of limit_pct */
	int register_typed;
	struct metro_expr *resolution_kwh;
	struct metro_dec resolution_ratio;
	int limit_by_class;
	/* timing test (daily timing error of meters with a clock, nameplate `clock`): the limit
	 * on the mean (s/d) and the gate time of one reading (s) */
	struct metro_dec limit_s_per_day, gate_seconds;
};

/* One condition of a certificate validity rule (certificate.validity[i].when): a nameplate
 * field within [min, max] (numbers, either bound optional) or one of values (words). */
struct metro_cert_cond {
	char *field;
	int is_text;
	char **values;
	size_t nvalues;
	struct metro_dec min, max;
	int has_min, has_max;
};

/* A certificate validity rule: the first rule whose conditions all hold for a meter's
 * nameplate decides what the certificate of a pass says — a valid-until date (periodic
 * verification, valid_months) or a service life (initial verification only,
 * service_life_years); exactly one of the two is set.  note (optional) replaces the
 * certificate's note. */
struct metro_cert_rule {
	struct metro_cert_cond *conds;
	size_t nconds;
	long valid_months;
	long service_life_years;
	char *note;
	unsigned line;
};

struct metro_procedure {
	char *path;
	char sha256[65];
	char *id, *title, *regulation, *edition;
	char *meter;	    /* water | electricity | gas */
	char *rig;	    /* flow-bench | electricity-bench | bell-prover */
	char *verification; /* initial | subsequent | in-service | supervision-new |
			     * supervision-in-use | complaint | commissioning (not a
			     * verification: it proves a rig's position map, no certificate) */
	char *limits;	    /* verification | in-service: which MPE set judges */
	/* certificate: what the verification certificate says (reports); all optional. */
	char *cert_instrument;	/* instrument name ("水表 / Water meter") */
	long cert_valid_months; /* 0: no valid-until date; else months from the verification */
	char *cert_note;	/* service-life note ("限期使用，到期更换") */
	/* certificate.validity: rules over the nameplate (NULL: valid_months, if any, for all) */
	struct metro_cert_rule *cert_rules;
	size_t ncert_rules;
	struct metro_proc_field *fields;
	size_t nfields;
	struct metro_proc_param *params;
	size_t nparams;
	struct metro_proc_condition *conditions;
	size_t nconditions;
	struct metro_proc_item *items;
	size_t nitems;
	/* Names usable in expressions: numeric nameplate fields, then parameters.  names[i] is
	 * the slot i of metro_expr_eval(). */
	const char **names;
	size_t nnames;
};

/* Load and validate a procedure.  Returns 0 and *out, or METRO_E_INVAL with every problem
 * in diag. */
int metro_procedure_load(const char *path, struct metro_diag *diag, struct metro_procedure **out);
/* Same from memory (a procedure's stored content, for reports); name is used in messages and
 * as the path, sha256 is the digest of buf. */
int metro_procedure_load_buffer(const char *name, const char *buf, size_t len,
				struct metro_diag *diag, struct metro_procedure **out);
void metro_procedure_destroy(struct metro_procedure **pp);

const struct metro_proc_field *metro_procedure_field(const struct metro_procedure *p,
						     const char *name);
/* A parameter's value, or dflt when the procedure does not set it. */
struct metro_dec metro_procedure_param(const struct metro_procedure *p, const char *name,
				       struct metro_dec dflt);

const char *metro_item_kind_name(enum metro_item_kind k);
/* A commissioning procedure (verification: commissioning): no certificates, not counted. */
int metro_procedure_is_commissioning(const struct metro_procedure *p);
/* Whether item it applies to a meter whose text field it->only_field has the word `value`
 * (NULL: the meter does not give it).  An item without `only` applies to every meter. */
int metro_item_applies(const struct metro_proc_item *it, const char *value);

/* The certificate validity rule a meter falls under.  value(field, arg) gives a nameplate
 * field's text as recorded ("2.5", "natural-gas"), or NULL.  Returns the first matching rule,
 * or NULL when the procedure has rules and none matches (the meter must be refused: no
 * certificate without its validity) — or when it has none (check p->ncert_rules). */
const struct metro_cert_rule *
metro_procedure_cert_rule(const struct metro_procedure *p,
			  const char *(*value)(const char *field, void *arg), void *arg);

#endif
