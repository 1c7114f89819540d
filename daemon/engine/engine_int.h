/* engine_int.h — what the files of the procedure engine share (engine.c: the run and its
 * commands; common.c: helpers; judge.c: judgement items; flow.c: flow points; electricity.c);
 * not for use outside daemon/engine. */
#ifndef METRO_ENGINE_INT_H
#define METRO_ENGINE_INT_H

#include <jansson.h>
#include <stddef.h>

#include "engine.h"
#include "metrology.h"

#define MAX_POS 256
#define RERUN 1 /* internal: the point was interrupted (suspender); run it again */
#define MAX_RERUNS 5
#define NO_ANSWER 2 /* internal: a prompt timed out */

struct pos {
	const struct metro_batch_meter *m;
	enum metro_verdict verdict;
	int active;	/* still taking part: not failed, not in error */
	int unrecorded; /* the recorder refused its evidence: no more points are emitted for it */
	json_t *failed_items;
	char reason[512];
	/* per-item scratch */
	struct metro_dec runs[METRO_MX_MAX_RUNS];
	size_t nruns, nextra;
	int done_item;
	long long n_pulses;
	struct metro_dec constant;
};

struct metro_engine {
	struct metro_batch *b;
	struct metro_engine_io io;
	enum metro_run_state state;
	struct pos pos[MAX_POS];
	size_t npos;
	int pause_req, stop_req, abort_req, halt_req;
	int store_failed; /* the recorder failed: the run ends at once, in error (fault says why) */
	const char *end_state;
	/* the open prompt: its id, what it asks (a pass/fail judgement or typed meter readings)
	 * and of which positions */
	char prompt_id[64];
	int prompt_readings;
	int prompt_pos[MAX_POS];
	size_t nprompt_pos;
	const struct metro_proc_item *prompt_item;
	/* the open prompt as published (a copy, to publish it again after a partial answer) */
	struct metro_prompt_event *prompt_ev;
	/* judgement: the positions decided so far, each {"answer": "pass"|"fail", "operator",
	 * and for an automated answer "by": "automated", "client", "sensor"}; and how many of
	 * the prompt's positions are still open (0: the prompt closes) */
	json_t *decided;
	size_t prompt_left;
	/* readings: the accepted answer and who gave it ("automated" for an automated one) */
	json_t *answer;
	char answer_operator[100];
	unsigned prompts;
	char fault[640];
};

/* Helpers shared by the files of this module. */
double eng_dd(struct metro_dec d);
/* The run's number in the record store. */
int64_t eng_run(const struct metro_engine *e);
/* Announce a run event (io->emit_result; takes ev). */
void eng_emit_run(struct metro_engine *e, struct metro_run_event *ev);
void eng_set_state(struct metro_engine *e, enum metro_run_state s, const char *why);
int eng_fault(struct metro_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int eng_wait_real(struct metro_engine *e, double s);
double eng_rig_seconds(const struct metro_engine *e, uint64_t t0);
/* Rig seconds from t0 to t1 (metro_now_ns() times). */
double eng_rig_between(const struct metro_engine *e, uint64_t t0, uint64_t t1);
double eng_real_seconds(uint64_t t0);
double eng_held(const struct metro_engine *e, uint64_t *since, int now_true);
const struct metro_channel *eng_chan(struct metro_engine *e, const char *name);
int eng_rd(struct metro_engine *e, const char *name, double *v);
int eng_wr(struct metro_engine *e, const char *name, double v);
int eng_rd_pos(struct metro_engine *e, const char *base, struct pos **ps, size_t n, double *out);
int eng_wr_pos(struct metro_engine *e, const char *base, const struct pos *p, double v);
int eng_stim(struct metro_engine *e, const struct metro_expr *x, struct metro_dec *out);
size_t eng_active(struct metro_engine *e, struct pos **out);
int eng_conditions_violated(struct metro_engine *e, char *why, size_t whylen, int *rc);
int eng_wait_recovery(struct metro_engine *e, const char *why);
/* A point result handed up typed (its details stolen); the position's verdict so far and its
 * failed items follow v.  j: the judgement that decided it, or NULL. */
void eng_point_doc(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		   json_t *details, const struct metro_mx_judgement *j, int attempt,
		   enum metro_verdict v);
/* An intermediate run of a point that needs more runs: handed up without a verdict. */
void eng_point_pending(struct metro_engine *e, const struct pos *p,
		       const struct metro_proc_item *it, json_t *details, int attempt);
/* A new point result of position p for item it (details stolen), not yet handed up. */
struct metro_point_result *eng_point_result(struct metro_engine *e, const struct pos *p,
					    const struct metro_proc_item *it, json_t *details,
					    int attempt);
void eng_pos_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
struct metro_mx_limits eng_limits_of(struct metro_engine *e);
json_t *eng_runs_json(const struct metro_dec *runs, size_t n);
int eng_ask(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps, size_t n,
	    int readings, const char *question, json_t *extra);
int eng_judgement(struct metro_engine *e, const struct metro_proc_item *it);
/* Typed readings (meter displays, dials, registers, measured values) of the positions ps[i]
 * not yet skipped, at one readings prompt asking `question` in `unit` for `phase` (extra: more
 * prompt fields, taken; may be NULL); each answer parsed into out[i]; a position without one
 * is put in error and skipped from then on.  by (may be NULL): who typed them. */
int eng_typed_readings(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
		       size_t n, const char *phase, const char *unit, const char *question,
		       json_t *extra, struct metro_dec *out, int *skip, char by[100]);
struct metro_dec eng_rounded(double v, int places);
struct metro_dec eng_litres(double v);
struct metro_dec eng_carry(struct metro_dec err);
int eng_flow_point(struct metro_engine *e, const struct metro_proc_item *it);
int eng_load_point(struct metro_engine *e, const struct metro_proc_item *it);
int eng_start_or_creep(struct metro_engine *e, const struct metro_proc_item *it);
int eng_constant_test(struct metro_engine *e, const struct metro_proc_item *it);
/* A commissioning procedure's position check (commission.c). */
int eng_position_check(struct metro_engine *e, const struct metro_proc_item *it);
/* A measurement item (measure.c): a quantity per position, read or typed, judged by limits. */
int eng_measurement(struct metro_engine *e, const struct metro_proc_item *it);
/* Whether the rig has channel name (pos[N].x: for every position of the batch). */
int eng_has_channel(struct metro_engine *e, const char *name);
/* Whether item it applies to position p (its `only:` guard over a text nameplate field). */
int eng_item_applies(const struct metro_engine *e, const struct pos *p,
		     const struct metro_proc_item *it);
/* The daily timing error of meters with a clock (electricity.c). */
int eng_timing_test(struct metro_engine *e, const struct metro_proc_item *it);

/* The plausibility gate (plausible.c).  The reference volume of a flow point against the
 * integral of the measured flow over a collection that lasted between seconds_min and
 * seconds_max: 0, or a rig fault (every position in error). */
int eng_plausible_reference(struct metro_engine *e, const struct metro_proc_item *it,
			    struct metro_dec ref_l, double flow_m3h, double seconds_min,
			    double seconds_max);
/* One position's result: nothing indicated against a reference (indicated may be NULL: not
 * checked), or an error beyond plausibility_factor x the MPE: the position is put in error
 * (eng_pos_error) and 1 is returned; else 0. */
int eng_plausible_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
			const struct metro_dec *indicated, struct metro_dec reference,
			struct metro_dec error_pct, struct metro_dec mpe_pct);

#endif
