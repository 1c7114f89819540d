/* engine.h — the procedure engine: runs one batch on one rig, inside the rig's actor thread.
 *
 * The engine is sequential code (a verifier can follow it against the regulation): items in
 * order, and for each measuring item the same shape — set the stimulus, wait until it is
 * stable and inside its window, measure, compute every position's error with the metrology
 * module, apply the repeat rule, judge.  Waiting goes through the actor (io->wait), which keeps
 * sampling, answers commands and tells the engine when to stop; so the engine never blocks the
 * rig beyond one device transaction.
 *
 * Verdicts are ordered pass < conditional < fail < aborted < error.  A meter that fails a point
 * drops out of later points; a rig fault (device lost, stimulus out of range, no result in
 * time) makes the affected positions `error`, never `fail`.  Influence quantities outside the
 * procedure's conditions suspend the run; when they recover the interrupted point is re-run
 * from its start.  Every ending, normal or not, leaves the rig in its safe state (the actor
 * does that, and reads it back).
 *
 * Everything the engine says goes out typed (evidence.h) through io->emit_result: run events
 * (start with the whole context, every state change, end), point results (one test point's
 * result for one position, with inputs and intermediate values), verdicts (a meter's final
 * verdict) and prompts (a question to the operator, and its closing).
 */
#ifndef METRO_ENGINE_H
#define METRO_ENGINE_H

#include <jansson.h>

#include "batch.h"
#include "device.h"
#include "evidence.h"

struct metro_engine_io {
	void *ctx;
	struct metro_device *dev;
	const struct metro_profile *profile;
	/* Let `seconds` of real time pass while the actor samples and serves commands.  Returns
	 * 0, or METRO_E_STATE when the run must end at once (abort, halt, daemon shutdown). */
	int (*wait)(void *ctx, double seconds);
	/* Hand a result up, typed (evidence.h: a run's state, a prompt, a point or a verdict);
	 * takes ownership of what it points to.  A result is never dropped. */
	void (*emit_result)(void *ctx, struct metro_result r);
	/* Real seconds between polls while waiting for the rig (the sampling period). */
	double poll_s;
};

struct metro_engine;

/* Create an engine for a validated batch (the batch stays owned by the caller and must live
 * until metro_engine_destroy). */
struct metro_engine *metro_engine_new(struct metro_batch *b, const struct metro_engine_io *io);
void metro_engine_destroy(struct metro_engine **pe);

/* Run the batch to its end.  Returns the run's final state name ("done", "stopped",
 * "aborted", "error"), a static string. */
const char *metro_engine_run(struct metro_engine *e);

/* Commands from the control API, delivered by the actor (also while the engine waits):
 * "pause", "resume", "stop", "abort", "halt", "input" (doc: {"prompt", "operator", "answer",
 * and for an automated answer "automated": true and "client"}).  An input is checked with
 * metro_engine_check_answer; a judgement prompt stays open until every position is decided
 * (it is published again, with "open" and "decided", after each answer that leaves some
 * open).  Returns 0, METRO_E_STATE (not allowed now, reason in err), METRO_E_DENIED (an
 * automated answer refused) or METRO_E_INVAL. */
int metro_engine_command(struct metro_engine *e, const char *verb, json_t *doc, char *err,
			 size_t errlen);
/* Nonzero when the run must end at once (abort or halt requested). */
int metro_engine_must_end(const struct metro_engine *e);

/* Typed meter readings (readings: operator).  One reading: decimal text or a JSON number, 0 to
 * 1e9 (m3 on the dial); returns 0 and *out, or METRO_E_INVAL.  A whole answer: an object
 * whose keys are among positions[0..n) and whose values are readings; returns 0, or
 * METRO_E_INVAL with the first problem in err.  A key is a position's number as the prompt
 * lists it ("3"; "03" names no position). */
int metro_engine_reading(json_t *v, struct metro_dec *out);
int metro_engine_check_readings(const int *positions, size_t n, json_t *ans, char *err,
				size_t errlen);
/* The answer to a judgement prompt: "pass" or "fail" (every position still open), or an
 * object {"3": "fail", "5": "pass"} deciding exactly the positions it names, each among
 * positions[0..n) and not yet decided (a key of `decided`, which may be NULL: none is).
 * Returns 0 and, when decides is not NULL, *decides (new reference): the object of the
 * positions this answer decides, e.g. {"1": "pass", "2": "pass"}; or METRO_E_INVAL with the
 * first problem in err, deciding nothing. */
int metro_engine_check_judgements(const int *positions, size_t n, json_t *decided, json_t *ans,
				  json_t **decides, char *err, size_t errlen);

/* An open prompt as the control API (from its prompt document) and the engine (from its own
 * state) both see it, so that an answer is refused before it is recorded exactly when the
 * engine would refuse it. */
struct metro_engine_prompt {
	const char *item;     /* the procedure item that asks */
	int readings;	      /* typed meter readings; else a pass/fail judgement */
	const int *positions; /* the positions it asks about */
	size_t npositions;
	json_t *decided;    /* judgement: the positions decided so far (keys "3"), or NULL */
	int simulated;	    /* the run is on a simulated rig */
	const char *sensor; /* the channel that decides the item (sensor:), or NULL */
};
/* Check an answer to prompt p.  automated: the answer comes from a program, not from a person
 * (`"automated": true`); it is taken on a simulated rig, or for an item a sensor decides, and
 * refused otherwise.  Returns 0 and, when decides is not NULL, *decides (new reference): what
 * the answer decides (judgements: positions and "pass"/"fail"; readings: the readings as
 * given); METRO_E_DENIED for an automated answer the prompt may not take, or METRO_E_INVAL for
 * a bad answer, with the reason in err.  Checks only: nothing changes. */
int metro_engine_check_answer(const struct metro_engine_prompt *p, json_t *ans, int automated,
			      json_t **decides, char *err, size_t errlen);
enum metro_run_state metro_engine_state(const struct metro_engine *e);

#endif
